"""risk_score indexed in the worklist's order: score descending, then MBID

The worklist is ordered by score, then MBID (`analysis.curation.FLAGGED_ORDER`:
the tie-break keeps its pages stable).  With an index on score alone, the
planner read every release of the top scores and sorted them, in parallel
workers that spilled to disk: the default `flagged` took 94-142 ms median on
the 1M-release benchmark (p95 up to 157 ms, against a target of 100 ms).
Indexed in that very order, the first page is 50 index entries: about 1 ms.
The partial index of one curation state gets the same order.

Revision ID: 0013
Revises: 0012
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0013'
down_revision: Union[str, None] = '0012'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.execute("DROP INDEX ix_risk_score_score")
    op.execute("CREATE INDEX ix_risk_score_rank ON risk_score (score DESC, release_mbid)")
    op.execute("DROP INDEX ix_risk_score_curation")
    op.execute("CREATE INDEX ix_risk_score_curation ON risk_score (curation, score DESC, release_mbid) "
               "WHERE curation IS NOT NULL")


def downgrade() -> None:
    op.execute("DROP INDEX ix_risk_score_curation")
    op.execute("CREATE INDEX ix_risk_score_curation ON risk_score (curation, score) WHERE curation IS NOT NULL")
    op.execute("DROP INDEX ix_risk_score_rank")
    op.execute("CREATE INDEX ix_risk_score_score ON risk_score (score)")
