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

import importlib

#: what the package offers, and the module each comes from: imported on first
#: use (PEP 562), so that `store.raw_lines` (the dump reader's probe) can be
#: imported without SQLAlchemy and the models, which `release` needs: the
#: reader of a refresh starts before the library is loaded (`sync.dump_batches`)
_EXPORTS = {
    "SaveResult": "release",
    "UnstorableDocument": "release",
    "record_redirect_in": "release",
    "resolve_mbid_in": "release",
    "save_release": "release",
    "save_release_in": "release",
    "tombstone": "release",
    "INSERTED": "revisions",
    "UNCHANGED": "revisions",
    "UPDATED": "revisions",
    "store_document_in": "revisions",
    "tombstone_in": "revisions",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
