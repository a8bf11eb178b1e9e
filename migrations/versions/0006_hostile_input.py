"""quarantine bytes and import states (issue 10)

`quarantine.raw` holds the input byte for byte (bytea), so a line that is
not UTF-8 or holds a NUL is kept exactly as read.  An over-long dump line is
kept by reference: its first KB in `raw`, and where it is (`raw_offset`, the
byte offset of the line in the dump file or archive member named by
`source`) and how long it is (`raw_length`).

Revision ID: 0006
Revises: 0005
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: Union[str, None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# back to text: UTF-8 as it is; anything else (NUL, invalid bytes) in
# PostgreSQL's escape format, so no row is lost and none fails the downgrade
_BYTES_AS_TEXT = """
CREATE FUNCTION pg_temp.mbindex_bytes_text(b bytea) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RETURN convert_from(b, 'UTF8');
EXCEPTION WHEN others THEN
    RETURN encode(b, 'escape');
END $$
"""


def upgrade() -> None:
    op.alter_column('quarantine', 'raw', type_=sa.LargeBinary(), existing_nullable=True,
                    postgresql_using="convert_to(raw, 'UTF8')")
    op.add_column('quarantine', sa.Column('raw_offset', sa.BigInteger(), nullable=True))
    op.add_column('quarantine', sa.Column('raw_length', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column('quarantine', 'raw_length')
    op.drop_column('quarantine', 'raw_offset')
    op.execute(_BYTES_AS_TEXT)
    op.alter_column('quarantine', 'raw', type_=sa.String(), existing_nullable=True,
                    postgresql_using="pg_temp.mbindex_bytes_text(raw)")
