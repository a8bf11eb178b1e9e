"""Scores say only what is known, and keep their policy (issue 20)

- `risk_policy`: the full text of every scoring policy a score was computed
  with, keyed by version, with its sha256 and when it was first used: each
  score is explained by the policy that produced it.
- `release.fields`: which document fields scoring reads the stored document
  carried (a search hit lacks some); filled from each release's current
  document (a release without one gets none: its field signals are not
  assessed until it is fetched again).
- `risk_score.not_assessed`: the policy's signals that could not be assessed
  for the release (an input missing); empty for scores computed before.

Self-contained: it names no other revision's objects beyond the tables it alters.

Revision ID: 0008
Revises: 0007
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0008'
down_revision: Union[str, None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# mapping.DOCUMENT_FIELDS as of this revision (a migration does not import the code it migrates)
_FIELDS = ("barcode", "status", "quality", "cover-art-archive")


def upgrade() -> None:
    op.create_table(
        'risk_policy',
        sa.Column('version', sa.Text(), nullable=False),
        sa.Column('sha256', sa.Text(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('first_used', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('version'),
    )
    op.add_column('release', sa.Column('fields', postgresql.ARRAY(sa.Text()), server_default='{}', nullable=False))
    op.add_column('risk_score', sa.Column('not_assessed', postgresql.ARRAY(sa.Text()), server_default='{}',
                                          nullable=False))
    op.execute(sa.text(
        "UPDATE release r SET fields = ARRAY(SELECT k FROM unnest(CAST(:fields AS text[])) k "
        "WHERE json_typeof(v.doc) = 'object' AND (v.doc -> k) IS NOT NULL) "
        "FROM document d JOIN document_revision v ON v.id = d.revision_id "
        "WHERE d.entity_type = 'release' AND d.mbid = r.mbid").bindparams(fields=list(_FIELDS)))


def downgrade() -> None:
    op.drop_column('risk_score', 'not_assessed')
    op.drop_column('release', 'fields')
    op.drop_table('risk_policy')
