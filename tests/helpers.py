"""Helpers shared by the test modules (fixtures live in conftest.py).

Test modules import from here, never from each other or from conftest.
"""

from __future__ import annotations

import copy
import io
import json
import tarfile
import zlib
from pathlib import Path

from sqlalchemy import text

from indexer.analysis import risk
from indexer.mapping import map_release
from indexer.sources.includes import missing_includes
from indexer.sources.ws2 import BROWSE_INCLUDES
from indexer.store import save_release_in

FIXTURES = Path(__file__).parent / "fixtures"
WS2 = FIXTURES / "ws2"

#: the rich real release lookups of the fixtures, by short id
RICH = {
    "c9d52105": "c9d52105-5c20-3216-bc1b-e54918f8f688",
    "b84ee12a": "b84ee12a-09ef-421b-82de-0441a926375b",
    "12195c41": "12195c41-6136-4dfd-acf1-9923dadc73e2",
    "94ad3a58": "94ad3a58-a1cc-46a3-acf4-9cb6c1d6f032",
}

#: every recorded release lookup of the fixtures, by MBID
CORPUS = sorted(p.stem for p in (WS2 / "release").glob("*.json"))


def load_doc(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_absolute():
        path = WS2 / path
    return json.loads(path.read_text(encoding="utf-8"))


def release_doc(mbid: str) -> dict:
    return load_doc(WS2 / "release" / f"{mbid}.json")


def store(db, doc, includes=None):
    """Save one release document in its own transaction."""
    with db.session() as s, s.begin():
        save_release_in(s, map_release(doc, includes=includes), doc)


def score_all(db, policy=None, changed=False):
    with db.session() as s, s.begin():
        return risk.score_in(s, policy or risk.load_policy(), changed_only=changed)


#: the TIMESTAMP of the test archives: a real dump's, in the past
DUMP_TIMESTAMP = "2025-11-22 00:00:00.000000+00"


def dump_line(doc) -> str:
    """A document as one line of a JSON dump."""
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def write_archive(path: Path, lines: list[str], entity="release", timestamp=DUMP_TIMESTAMP) -> Path:
    """An archive laid out like the official `<entity>.tar.xz`."""
    with tarfile.open(path, "w:xz") as tar:
        for name, data in (("COPYING", b"CC0\n"), ("TIMESTAMP", (timestamp + "\n").encode()),
                           ("JSON_DUMPS_SCHEMA_NUMBER", b"1\n"),
                           (f"mbdump/{entity}", "".join(x + "\n" for x in lines).encode("utf-8"))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


#: what ws/2 puts in a release document for an include when the release has
#: none of that data (an empty list, or null for the annotation)
_EMPTY_INCLUDE = {
    "labels": ("label-info", []), "tags": ("tags", []), "genres": ("genres", []), "aliases": ("aliases", []),
    "annotation": ("annotation", None), "url-rels": ("relations", []),
}


def as_answered(doc: dict, includes) -> dict:
    """A copy of a recorded release document as ws/2 would answer it for
    `includes` if the release had none of the data that the recording did
    not ask for: each missing include that can be empty gets its empty value
    (recorded with fewer includes, a real document lacks the keys, and a sync
    would rightly look it up again).  Tracks, release groups and credits are
    never invented: a document lacking them stays lacking."""
    out = copy.deepcopy(doc)
    for inc in includes:
        key, empty = _EMPTY_INCLUDE.get(inc, (None, None))
        if key is not None:
            out.setdefault(key, copy.deepcopy(empty))
        elif inc == "release-group-level-rels" and isinstance(out.get("release-group"), dict):
            out["release-group"].setdefault("relations", [])
        elif inc == "isrcs":
            for medium in out.get("media") or []:
                for track in medium.get("tracks") or []:
                    if isinstance(track.get("recording"), dict):
                        track["recording"].setdefault("isrcs", [])
    return out


def full_doc(mbid: str) -> dict:
    """A recorded release lookup as ws/2 answers it for today's includes
    (`as_answered`: includes it was not recorded with, empty)."""
    return as_answered(release_doc(mbid), BROWSE_INCLUDES)


#: the recorded releases that, so completed, carry every include a browse asks
#: for (the others lack tracks, a release group or credits)
FULL = [mbid for mbid in CORPUS if not missing_includes(full_doc(mbid), BROWSE_INCLUDES)]


def snapshot(db) -> dict:
    """Every stored row that does not depend on when or how it was stored."""
    queries = {
        "release": "SELECT mbid, title, artist_credit, release_group_mbid, status, quality, date, year, country, "
                   "barcode, packaging, language, script, disambiguation, asin, annotation, cover_art_front, "
                   "cover_art_count, medium_count, track_count, formats, includes, deleted_at IS NULL "
                   "FROM release ORDER BY mbid",
        "medium": "SELECT release_mbid, position, mbid, format, title, track_count FROM medium ORDER BY 1, 2",
        "track": "SELECT t.release_mbid, m.position, t.sort_key, t.mbid, t.kind, t.position, t.number, t.title, "
                 "t.length_ms, t.recording_mbid, t.artist_credit FROM track t JOIN medium m ON m.id = t.medium_id "
                 "ORDER BY 1, 2, 3",
        "release_label": "SELECT release_mbid, position, label_mbid, label_name, catalog_number FROM release_label "
                         "ORDER BY 1, 2",
        "artist": "SELECT mbid, name, sort_name, type, country, disambiguation FROM artist ORDER BY 1",
        "label": "SELECT mbid, name, sort_name, type, label_code, country, disambiguation FROM label ORDER BY 1",
        "recording": "SELECT mbid, title, length_ms, video, artist_credit, disambiguation, first_release_date "
                     "FROM recording ORDER BY 1",
        "release_group": "SELECT mbid, title, primary_type, secondary_types, first_release_date, artist_credit, "
                         "disambiguation FROM release_group ORDER BY 1",
        "artist_credit": "SELECT entity_type, entity_mbid, position, artist_mbid, name, joinphrase "
                         "FROM artist_credit ORDER BY 1, 2, 3",
        "url_relation": 'SELECT entity_type, entity_mbid, position, url, url_mbid, type, type_id, direction, begin, '
                        '"end", ended FROM url_relation ORDER BY 1, 2, 3',
        "tag": "SELECT entity_type, entity_mbid, name, count FROM tag ORDER BY 1, 2, 3",
        "document": "SELECT entity_type, mbid, hash, revision_count, deleted_at IS NULL FROM document ORDER BY 1, 2",
        "document_revision": "SELECT entity_type, mbid, hash, doc FROM document_revision ORDER BY 1, 2, 3",
    }
    with db.session() as s:
        return {name: [tuple(r) for r in s.execute(text(q)).all()] for name, q in queries.items()}


def xz_with_dictionary(xz: bytes, code: int) -> bytes:
    """The .xz file `xz` (one LZMA2 filter, no sizes in its first block
    header: what Python's `lzma` writes) with that block asking for the
    dictionary `code` (40: 4 GB, 28: 64 MB, xz -9's), its header checksum
    made right: a hostile header on a real stream."""
    x = bytearray(xz)
    size = (x[12] + 1) * 4  # the first block header, after the 12-byte stream header
    assert x[13] == 0 and x[14:16] == b"\x21\x01", x[12:12 + size].hex()  # one filter, LZMA2, one property byte
    x[16] = code
    x[12 + size - 4:12 + size] = zlib.crc32(bytes(x[12:12 + size - 4])).to_bytes(4, "little")
    return bytes(x)
