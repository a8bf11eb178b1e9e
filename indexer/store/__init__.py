"""Writes to the mirror, under one set of revision rules.

Three paths write releases: `store.release` (one release version per
transaction, a lookup), `store.scope.touch_unchanged` (a browse page's
unchanged releases at once) and `store.bulk` (whole batches of dump lines with
COPY and set-based merges).  The rules below are kept by one module,
`store.revisions`, whose SQL all three run (rule 3's flattened rows are
written by `store.release` and `store.bulk` each in its own way), and a test
compares the rows the three paths store for the same documents:

1. Every distinct raw document of an entity is kept in `document_revision`,
   identified by the SHA-256 of its canonical JSON (`mapping.doc_hash`); key
   order and spacing never make a new revision.  A version seen again only
   moves its document's `last_seen` (while current, a revision's last
   sighting is its document's; it keeps it when the document moves on); an
   older version coming back keeps its `first_seen`.
2. `document` points at the current revision with `revision_count`; a
   tombstoned document seen again is live again.
3. The flattened rows of the entity (`release`, `medium`, `track`,
   `release_label`, `url_relation`, `tag`, its artist credits) reflect exactly
   the latest version: children are replaced wholesale.  Entities named
   inside a document (artists, labels, recordings, release groups) are
   sparse: a NULL never erases what an earlier document told us.
4. Nothing is deleted: upstream deletions set `deleted_at` (a tombstone),
   merges add a `redirect` row.  A changed release is marked `needs_score`.
"""

from .release import (
    SaveResult,
    UnstorableDocument,
    record_redirect_in,
    resolve_mbid_in,
    save_release,
    save_release_in,
    tombstone,
)
from .revisions import INSERTED, UNCHANGED, UPDATED, store_document_in, tombstone_in

__all__ = [
    "INSERTED",
    "UNCHANGED",
    "UPDATED",
    "SaveResult",
    "UnstorableDocument",
    "record_redirect_in",
    "resolve_mbid_in",
    "save_release",
    "save_release_in",
    "store_document_in",
    "tombstone",
    "tombstone_in",
]
