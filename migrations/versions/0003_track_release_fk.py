"""track.release_mbid without a foreign key of its own (the medium's covers it)

Revision ID: 0003
Revises: 0002
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0003'
down_revision: Union[str, None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.drop_constraint('fk_track_release_mbid_release', 'track', type_='foreignkey')


def downgrade() -> None:
    op.create_foreign_key('fk_track_release_mbid_release', 'track', 'release', ['release_mbid'], ['mbid'],
                          ondelete='CASCADE')
