"""release-browse documents dropped; sync_run counts fallback lookups and skipped search hits (issue 11)

Scope walks now store each browse item as the release's own document (the
browse asks for the lookup's includes), so the "release-browse" documents,
kept before only to tell whether a lookup was needed, carry nothing the
release's revisions lack.  They are dropped, not converted: made without
relationships, tags or annotation, they would be false revisions of the
release.  A downgrade cannot bring them back; a mirror downgraded to 0003
simply looks each release up once on its next walk.

Revision ID: 0004
Revises: 0003
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: Union[str, None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.execute("DELETE FROM document WHERE entity_type = 'release-browse'")
    op.execute("DELETE FROM document_revision WHERE entity_type = 'release-browse'")
    op.add_column('sync_run', sa.Column('fallback_lookups', sa.Integer(), server_default=sa.text('0'),
                                        nullable=False))
    op.add_column('sync_run', sa.Column('skipped', sa.Integer(), server_default=sa.text('0'), nullable=False))


def downgrade() -> None:
    op.drop_column('sync_run', 'skipped')
    op.drop_column('sync_run', 'fallback_lookups')
