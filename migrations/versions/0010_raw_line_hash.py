"""document.raw_hash: the raw dump line of the current revision (issue 21)

16 bytes of the SHA-256 of the dump line that set the document's current
revision (`mapping.values.raw_hash`), NULL when it came from a ws/2 lookup.
A refresh from the next dump skips a line with the same bytes before parsing
it (`store.raw_lines`).  A nullable column without a default: adding it does
not rewrite the table; the first refresh after the upgrade fills it (every
line goes the full path once).

Revision ID: 0010
Revises: 0009
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: Union[str, None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('document', sa.Column('raw_hash', sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.drop_column('document', 'raw_hash')
