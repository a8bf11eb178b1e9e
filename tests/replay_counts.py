"""The tests' replay server's answers for what `enrich` asks (replay_server.py): pure functions over its state.

* a release-group search ``rgid:(a OR b ...)``: one hit per group given a
  count with ``ReplayServer.set_count("release", "release-group", ...)``, with
  ``count`` (left out when the count was set to None, as a broken answer would);
* ListenBrainz ``POST /1/popularity/release-group``: one item per asked id,
  in order (``null`` counts for a group never set); 400 like ListenBrainz for
  a body that is not a list of MBIDs, or for more than 1,000 of them.
"""

from __future__ import annotations

import json
import re

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
MAX_IDS = 1000


def group_count_hits(counts: dict, q: str) -> list[dict]:
    """Search hits of ``rgid:(a OR b ...)``, in the order asked; [] for any other query."""
    match = re.fullmatch(r"rgid:\((.*)\)", q.strip())
    if not match:
        return []
    hits = []
    for rgid in (x.strip().lower() for x in match.group(1).split(" OR ")):
        key = ("release", "release-group", rgid)
        if key in counts:
            hit = {"id": rgid, "score": 100, "title": "", **counts.get(("hit", "release-group", rgid), {})}
            if counts[key] is not None:
                hit["count"] = counts[key]
            hits.append(hit)
    return hits


def popularity_answer(popular: dict, body: bytes) -> tuple[int, object]:
    """(status, JSON body) of ListenBrainz's release-group popularity for a request body."""
    try:
        ids = json.loads(body)["release_group_mbids"]
        if not isinstance(ids, list) or not all(_UUID.match(str(x)) for x in ids):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        return 400, {"code": 400, "error": "release_group_mbids must be a list of MBIDs"}
    if len(ids) > MAX_IDS:
        return 400, {"code": 400, "error": f"too many release_group_mbids (at most {MAX_IDS})"}
    return 200, [popular.get(x.lower(), {"release_group_mbid": x.lower(), "total_listen_count": None,
                                         "total_user_count": None}) for x in ids]
