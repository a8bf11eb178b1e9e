"""upstream facts for scoring (issue 13: enrich)

`upstream_fact` keeps the numbers the risk score needs from outside the
mirror (editions of a release group, an artist's release groups,
ListenBrainz listens and listeners), each with its source and fetch time.
`release.cover_art_darkened` keeps the Cover Art Archive's `darkened` flag.

Revision ID: 0005
Revises: 0004
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0005'
down_revision: Union[str, None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'upstream_fact',
        sa.Column('subject_type', sa.Text(), nullable=False),
        sa.Column('subject_mbid', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('fact', sa.Text(), nullable=False),
        sa.Column('value', sa.BigInteger(), nullable=True),
        sa.Column('source', sa.Text(), nullable=False),
        sa.Column('fetched_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('sync_run_id', sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint('subject_type', 'subject_mbid', 'fact', name=op.f('pk_upstream_fact')),
    )
    op.create_index(op.f('ix_upstream_fact_fetched_at'), 'upstream_fact', ['fetched_at'], unique=False)
    op.add_column('release', sa.Column('cover_art_darkened', sa.Boolean(), nullable=True))


def downgrade() -> None:
    op.drop_column('release', 'cover_art_darkened')
    op.drop_index(op.f('ix_upstream_fact_fetched_at'), table_name='upstream_fact')
    op.drop_table('upstream_fact')
