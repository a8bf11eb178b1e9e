"""release.barcode_gtin: whether the barcode reads as a UPC or EAN, computed once

`barcode_invalid` (policy 2026.12-2) computed the check digit in SQL at
every scoring, a subquery per release with a barcode: 4-5 s per million
releases, an eighth of a full score.  The mapping now computes it once
when a release is stored (`mapping.values.gtin_ok`); this fills it in for
the releases already stored, with the same rule in SQL (a one-time pass
over the releases that have a barcode).  NULL: no barcode to judge.

Revision ID: 0012
Revises: 0011
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: Union[str, None] = '0011'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

#: mapping.values.gtin_ok as of this revision (bench/bench_score.py generates with it too): 8, 12, 13 or 14 digits with a
#: right check digit (1, 3, 1, 3... from the right, the sum ends in 0), or 11
#: digits (a UPC without its check digit, as MusicBrainz's release editor reads it)
GTIN_SQL = """barcode ~ '^[0-9]{11}$' OR (barcode ~ '^([0-9]{8}|[0-9]{12,14})$' AND
           (SELECT sum(CAST(substr(reverse(barcode), i, 1) AS int) * CASE WHEN i % 2 = 0 THEN 3 ELSE 1 END)
            FROM generate_series(1, length(barcode)) AS i) % 10 = 0)"""


def upgrade() -> None:
    op.add_column('release', sa.Column('barcode_gtin', sa.Boolean(), nullable=True))
    op.execute(f"UPDATE release SET barcode_gtin = ({GTIN_SQL}) WHERE barcode <> ''")


def downgrade() -> None:
    op.drop_column('release', 'barcode_gtin')
