"""Helpers shared by the test modules (fixtures live in conftest.py).

Test modules import from here, never from each other or from conftest.
"""

from __future__ import annotations

import json
from pathlib import Path

from indexer.analysis import risk
from indexer.mapping import map_release
from indexer.store import save_release

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
        save_release(s, map_release(doc, includes=includes), doc)


def score_all(db, policy=None, changed=False):
    with db.session() as s, s.begin():
        return risk.score(s, policy or risk.load_policy(), changed_only=changed)
