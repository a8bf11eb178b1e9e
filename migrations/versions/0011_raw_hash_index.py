"""document.raw_hash indexed, pages half full; rule 1 moves only document.last_seen (issue 21)

A refresh finds the MBID of an unchanged dump line by its raw hash
(`store.raw_lines`): one index probe a line, and no search of the line's
bytes for its id.  Partial: documents stored from a lookup have none.

`document` gets fillfactor 50: a refresh updates `last_seen` of every
document, a whole page's rows in one transaction, and only with room for
their new versions on the same page are those HOT updates (no index entry
written, the table does not grow).  It applies to pages written from now
on; `VACUUM FULL document` applies it to an existing mirror at once.

The same release changes rule 1 (`store.revisions`): a document seen again
moves only `document.last_seen`.  Nothing to migrate for that: a current
revision's last sighting is read as the later of its own and its
document's (`REVISION_LAST_SEEN`), and entity rows' `last_seen` keep the
time they were last written.

Revision ID: 0011
Revises: 0010
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0011'
down_revision: Union[str, None] = '0010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_document_raw_hash ON document (raw_hash) WHERE raw_hash IS NOT NULL")
    op.execute("ALTER TABLE document SET (fillfactor = 50)")


def downgrade() -> None:
    op.execute("ALTER TABLE document RESET (fillfactor)")
    op.execute("DROP INDEX ix_document_raw_hash")
