"""Quarantine for the ws/2 path: a document we could not use, kept byte for
byte (`quarantine.raw` is bytea) so nothing upstream sent is lost.

The dump loader (`store.bulk`) quarantines its lines inside its own batch
transaction; this is the per-document write of a sync, in a transaction of
its own, after the release's transaction rolled back whole.
"""

from __future__ import annotations

from ..db import Database
from ..db import models as m

#: an error message is kept to this many characters (a mapping error can quote a long value)
MAX_ERROR = 2000


def quarantine_document(db: Database, source: str, raw: bytes, error: str, run_id: int | None, *,
                        length: int | None = None) -> int:
    """Keep one unusable document; returns the quarantine row's id.

    `source` is the URL it came from; `raw` the body exactly as received.
    `length`, when `raw` holds only the head of a body too big to keep,
    is the size the server announced (or what was read before stopping).
    """
    with db.session() as s, s.begin():
        row = m.Quarantine(source=source, error=error[:MAX_ERROR], raw=raw, raw_length=length,
                           sync_run_id=run_id)
        s.add(row)
        s.flush()
        return row.id
