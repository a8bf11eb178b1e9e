"""The tests' ws/2 replay server: `mbindex demo`'s server
(`indexer.demo.server.ReplayServer`, lookups of recorded documents) plus
everything only the tests and benchmarks need.  A test helper like
`helpers.py` (the `replay` fixture in conftest.py is one of these).

Shapes checked against responses recorded from musicbrainz.org and against
musicbrainz-server's own web-service tests.  Besides lookups it serves:

* browses ``/ws/2/<entity>?<scope>=<mbid>&limit=&offset=&inc=``:
  ``{"<entity>-count": total, "<entity>-offset": offset, "<entities>": [...]}``;
  limit defaults to 25 and is capped at 100; with ``inc=recordings`` a page
  stops before the release that would take it past 500 tracks (at least one
  release is always returned), so clients must page by items returned;
  a scope id nobody knows gives 404 like ws/2 does;
* searches ``/ws/2/<entity>?query=Q``: ``{"created", "count", "offset",
  "<entities>": [... each with "score"]}``; the query is matched exactly
  (after URL decoding); an unknown query has count 0;
* collection contents ``/ws/2/collection/<mbid>/releases`` (what
  ``musicbrainzngs.get_releases_in_collection`` asks for): the collection
  object with ``release-count`` and ``releases`` (the ``releases`` key is left
  out of an empty page, as ws/2 does), no ``release-offset``;
* lookups that were deleted (404) or redirected (``redirect``);
* counts for ``enrich`` (``set_count``, ``set_popularity``): browse pages
  with only ``<entity>-count``, ``rgid:(a OR b)`` release-group search hits
  with ``count``, ListenBrainz ``POST /1/popularity/release-group`` (see
  replay_counts.py).

Faults (``inject``) are applied to the next matching requests in the order
they were queued; each log entry says which fault, if any, it got.
"""

from __future__ import annotations

import json
import socket
import struct
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import SplitResult, urlsplit

from indexer.demo import server as demo
from indexer.demo.server import (
    HELP,
    INVALID_MBID,
    JSON_TYPE,
    NOT_FOUND,
    WS2_ENTITIES,
    Answer,
    Handler,
    is_mbid,
    json_answer,
)
from replay_counts import group_count_hits, popularity_answer

FAULT_KINDS = ("status", "reset", "slow", "truncated", "malformed", "html", "wrong_type")
#: the ListenBrainz route the same server answers (POST, JSON body)
LB_POPULARITY_PATH = "/1/popularity/release-group"
_UNSET = object()
#: the 503 body musicbrainz.org sends when a client exceeds the rate limit
RATE_LIMITED = {
    "error": "Your requests are exceeding the allowable rate limit. "
    "Please see http://wiki.musicbrainz.org/XMLWebService for more information."
}

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
MAX_BROWSE_TRACKS = 500
# query parameters that are not a browse scope
_NOT_SCOPES = {"fmt", "limit", "offset", "inc", "type", "status", "query", "version", "client", "dismax"}

_REASONS = {
    400: "Bad Request",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


def plural(entity: str) -> str:
    """The list key of an entity in ws/2 JSON (``releases``, ``release-groups``, ``series``)."""
    return entity if entity == "series" else entity + "s"


def track_count(release: dict) -> int:
    """Tracks of a release document as ws/2 counts them for the browse cap."""
    n = 0
    for medium in release.get("media") or []:
        tracks = medium.get("tracks")
        if isinstance(tracks, list):
            n += len(tracks) + len(medium.get("data-tracks") or []) + (1 if medium.get("pregap") else 0)
        else:
            n += int(medium.get("track-count") or 0)
    return n


@dataclass
class RequestRecord(demo.RequestRecord):
    fault: str | None = None  # the injected fault kind applied, if any


@dataclass
class _Fault:
    kind: str
    remaining: int
    path_contains: str | None
    kw: dict = field(default_factory=dict)


def _limit_offset(query: dict[str, str]) -> tuple[int, int]:
    try:
        limit = int(query.get("limit", DEFAULT_LIMIT))
    except ValueError:
        limit = DEFAULT_LIMIT
    try:
        offset = int(query.get("offset", 0))
    except ValueError:
        offset = 0
    return max(1, min(MAX_LIMIT, limit)), max(0, offset)


def _incs(query: dict[str, str]) -> set[str]:
    return set(query.get("inc", "").replace("+", " ").split())


# --- faults: what the handler does instead of answering --------------------------


def _reset(h: Handler, kw: dict, record: RequestRecord, path: str) -> None:
    record.status = 0
    h.close_connection = True
    try:
        # SO_LINGER on, timeout 0: close() sends a TCP RST instead of a FIN
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        h.connection.close()
    except OSError:
        pass


def _status(h: Handler, kw: dict, record: RequestRecord, path: str) -> None:
    status = int(kw.get("status", 503))
    if "body" in kw:
        body = kw["body"]
        answer = Answer(status, body.encode("utf-8") if isinstance(body, str) else body)
    elif status == 503:
        answer = json_answer(503, RATE_LIMITED)
    else:
        answer = json_answer(status, {"error": _REASONS.get(status, "Error"), "help": HELP})
    if kw.get("retry_after") is not None:
        answer.headers["Retry-After"] = str(kw["retry_after"])
    answer.headers.update(kw.get("headers") or {})
    h.close_connection = True
    h.send(answer, record)


def _truncated(h: Handler, kw: dict, record: RequestRecord, path: str) -> None:
    real = h.server.replay._route(path, urlsplit(h.path).query, record.query, h.headers.get("Host"))
    body = real.body or json.dumps({"id": "0" * 36, "title": "x" * 64}).encode()
    record.status = real.status
    h.close_connection = True
    h.send_response(real.status)
    h.send_header("Content-Type", real.content_type or JSON_TYPE)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body[: len(body) // 2])
    h.wfile.flush()
    try:
        h.connection.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _malformed(h: Handler, kw: dict, record: RequestRecord, path: str) -> None:
    h.send(Answer(int(kw.get("status", 200)), kw.get("body", '{"id": "abc", ').encode()), record)


def _html(h: Handler, kw: dict, record: RequestRecord, path: str) -> None:
    status = int(kw.get("status", 502))
    reason = _REASONS.get(status, "Error")
    page = (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    )
    h.close_connection = True
    h.send(Answer(status, page.encode(), "text/html"), record)


def _wrong_type(h: Handler, kw: dict, record: RequestRecord, path: str) -> None:
    ident = path.rstrip("/").rsplit("/", 1)[-1]
    ident = ident if is_mbid(ident) else "00000000-0000-0000-0000-000000000000"
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<metadata xmlns="http://musicbrainz.org/ns/mmd-2.0#">'
        f'<release id="{ident}"><title>XML instead of JSON</title></release></metadata>'
    )
    h.send(Answer(int(kw.get("status", 200)), xml.encode(), "text/xml; charset=utf-8"), record)


#: every fault but "slow" (which only delays the normal answer)
_APPLY = {"reset": _reset, "status": _status, "truncated": _truncated, "malformed": _malformed, "html": _html,
          "wrong_type": _wrong_type}


class ReplayServer(demo.ReplayServer):
    """The demo's ws/2 look-alike with browses, searches, counts, the
    ListenBrainz route, redirects, deletions and fault injection."""

    record_type = RequestRecord

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        super().__init__(host, port)
        self._browse: dict[tuple[str, str, str], list[dict]] = {}
        self._search: dict[tuple[str, str], list[dict]] = {}
        self._redirects: dict[tuple[str, str], tuple[str, int]] = {}
        self._deleted: set[tuple[str, str]] = set()
        self._counts: dict[tuple[str, str, str], int] = {}
        self._popular: dict[str, dict] = {}
        self._faults: list[_Fault] = []

    # --- content -----------------------------------------------------------

    def add_document(self, entity: str, doc: dict, *, mbid: str | None = None) -> None:
        """Serve ``doc`` for lookups of ``entity`` ``mbid`` (default ``doc["id"]``).

        Clears an earlier ``delete``/``redirect`` of that id."""
        super().add_document(entity, doc, mbid=mbid)
        key = (entity, (mbid or doc["id"]).lower())
        with self._lock:
            self._deleted.discard(key)
            self._redirects.pop(key, None)

    def set_browse(self, entity: str, scope: str, scope_id: str, docs: list[dict]) -> None:
        """Serve ``docs`` (in order) for ``/ws/2/<entity>?<scope>=<scope_id>``.

        ``scope`` is artist, label, release-group, recording, collection, ...;
        a ``collection`` scope also answers ``/ws/2/collection/<id>/<entities>``."""
        with self._lock:
            self._browse[(entity, scope, scope_id.lower())] = list(docs)

    def set_search(self, entity: str, query: str, docs: list[dict]) -> None:
        """Serve ``docs`` for ``/ws/2/<entity>?query=<query>`` (exact match after decoding)."""
        with self._lock:
            self._search[(entity, query)] = list(docs)

    def set_count(self, entity: str, scope: str, scope_id: str, count: int | None, hit: dict | None = None) -> None:
        """Counts without documents: the browse ``/ws/2/<entity>?<scope>=<id>`` answers
        ``<entity>-count`` = ``count`` (an empty page), and for ``release`` by
        ``release-group`` the release-group search ``rgid:(a OR b ...)`` answers
        a hit for the group with ``count`` (``hit``: more fields of it; a
        ``count`` of None leaves the field out, as a broken answer would)."""
        with self._lock:
            self._counts[(entity, scope, scope_id.lower())] = count
            if hit is not None:
                self._counts[("hit", scope, scope_id.lower())] = hit

    def set_popularity(self, release_group: str, listens: int | None, listeners: int | None) -> None:
        """ListenBrainz ``POST /1/popularity/release-group`` answers these counts
        for the group (None: ``null``, no data); groups never set answer ``null`` too."""
        with self._lock:
            self._popular[release_group.lower()] = {"release_group_mbid": release_group.lower(),
                                                    "total_listen_count": listens, "total_user_count": listeners}

    def redirect(self, entity: str, old_mbid: str, new_mbid: str, *, status: int = 301) -> None:
        """Lookups of ``old_mbid`` answer ``status`` with ``Location`` = same URL, new id.

        ``status=200`` serves the new id's document under the old URL instead,
        which is what musicbrainz.org itself does for merged entities (the
        corpus has a label lookup recorded before and after a merge)."""
        key = (entity, old_mbid.lower())
        with self._lock:
            self._redirects[key] = (new_mbid.lower(), status)
            self._deleted.discard(key)

    def delete(self, entity: str, mbid: str) -> None:
        """Lookups of ``mbid`` answer 404 Not Found from now on."""
        key = (entity, mbid.lower())
        with self._lock:
            self._deleted.add(key)
            self._redirects.pop(key, None)

    # --- faults ------------------------------------------------------------

    def inject(self, kind: str, count: int = 1, *, path_contains: str | None = None, **kw) -> None:
        """Apply fault ``kind`` to the next ``count`` requests whose path+query contains ``path_contains``.

        kinds: ``status`` (status=503|500|502|..., retry_after=None|int, body=...),
        ``reset`` (TCP RST, no response), ``slow`` (delay=seconds, then a normal
        answer), ``truncated`` (Content-Length of the whole body, half of it
        sent), ``malformed`` (200, not JSON), ``html`` (status=502|200,
        text/html error page), ``wrong_type`` (200, text/xml)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join(FAULT_KINDS)}")
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._faults.append(_Fault(kind, count, path_contains, dict(kw)))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, raw_path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path_contains is None or fault.path_contains in raw_path:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _intercept(self, handler: Handler, record: RequestRecord) -> bool:
        """Apply the next matching fault: "slow" waits (woken by stop) and lets the request be answered."""
        fault = self._take_fault(handler.path)
        if fault is None:
            return False
        record.fault = fault.kind
        if fault.kind == "slow":
            self._stopping.wait(float(fault.kw.get("delay", 1.0)))
            return False
        _APPLY[fault.kind](handler, fault.kw, record, record.path)
        return True

    # --- routing -----------------------------------------------------------

    def _answer(self, method: str, split: SplitResult, query: dict[str, str], body: bytes,
                host: str | None) -> Answer:
        if method == "POST" and split.path == LB_POPULARITY_PATH:
            with self._lock:
                status, obj = popularity_answer(self._popular, body)
            return json_answer(status, obj)
        return super()._answer(method, split, query, body, host)

    def _route(self, path: str, raw_query: str, query: dict[str, str], host: str | None) -> Answer:
        parts = [p for p in path.split("/") if p]
        if len(parts) == 3 and parts[:2] == ["ws", "2"]:
            return self._list(parts[2], query)
        if len(parts) == 5 and parts[:3] == ["ws", "2", "collection"]:
            return self._collection_contents(parts[3], parts[4], query)
        return super()._route(path, raw_query, query, host)

    def _lookup(self, entity: str, mbid: str, raw_query: str, host: str | None) -> Answer:
        key = (entity, mbid.lower())
        with self._lock:
            deleted = key in self._deleted
            target = self._redirects.get(key)
        if entity not in WS2_ENTITIES or not is_mbid(mbid) or (not deleted and target is None):
            return super()._lookup(entity, mbid, raw_query, host)
        if deleted:
            return json_answer(404, NOT_FOUND)
        new_mbid, status = target
        if status == 200:
            return super()._lookup(entity, new_mbid, "", host)
        location = f"http://{host or self.hostport}/ws/2/{entity}/{new_mbid}"
        if raw_query:
            location += "?" + raw_query
        return Answer(status, b"", None, {"Location": location})

    def _list(self, entity: str, query: dict[str, str]) -> Answer:
        if entity not in WS2_ENTITIES:
            return json_answer(404, NOT_FOUND)
        limit, offset = _limit_offset(query)
        if "query" in query:
            return self._search_page(entity, query["query"], limit, offset)
        scopes = [k for k in query if k not in _NOT_SCOPES]
        if not scopes:
            return json_answer(400, {"error": f"{entity}: a search needs query=, a browse needs one linked entity",
                                     "help": HELP})
        if len(scopes) > 1:
            return json_answer(400, {"error": "Too many linked entities.", "help": HELP})
        scope = scopes[0]
        scope_id = query[scope]
        if not is_mbid(scope_id):
            return json_answer(400, INVALID_MBID)
        with self._lock:
            counted = self._counts.get((entity, scope, scope_id.lower()), _UNSET)
        if counted is not _UNSET:
            body = {f"{entity}-offset": offset, plural(entity): []}
            if counted is not None:
                body[f"{entity}-count"] = counted
            return json_answer(200, body)
        items = self._browse_items(entity, scope, scope_id)
        if items is None:
            return json_answer(404, NOT_FOUND)
        page = self._page(items, limit, offset, "recordings" in _incs(query))
        return json_answer(200, {f"{entity}-count": len(items), f"{entity}-offset": offset, plural(entity): page})

    def _search_page(self, entity: str, q: str, limit: int, offset: int) -> Answer:
        with self._lock:
            hits = list(self._search.get((entity, q), []))
            if not hits and entity == "release-group":
                hits = group_count_hits(self._counts, q)
        page = [dict({"score": 100}, **hit) if "score" not in hit else hit for hit in hits[offset : offset + limit]]
        now = datetime.now(timezone.utc)
        created = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
        return json_answer(200, {"created": created, "count": len(hits), "offset": offset, plural(entity): page})

    def _browse_items(self, entity: str, scope: str, scope_id: str) -> list[dict] | None:
        """The browse list, [] for a known scope entity with nothing set, None if unknown (404)."""
        scope_entity = "artist" if scope == "track_artist" else scope
        with self._lock:
            items = self._browse.get((entity, scope, scope_id.lower()))
            if items is None and scope == "track_artist":
                items = self._browse.get((entity, "artist", scope_id.lower()))
            if items is not None:
                return list(items)
            if (scope_entity, scope_id.lower()) in self._docs:
                return []
        return None

    @staticmethod
    def _page(items: list[dict], limit: int, offset: int, capped: bool) -> list[dict]:
        page = items[offset : offset + limit]
        if not capped:
            return page
        out: list[dict] = []
        tracks = 0
        for doc in page:
            n = track_count(doc)
            if out and tracks + n > MAX_BROWSE_TRACKS:
                break
            out.append(doc)
            tracks += n
        return out

    def _collection_contents(self, mbid: str, what: str, query: dict[str, str]) -> Answer:
        if not is_mbid(mbid):
            return json_answer(400, INVALID_MBID)
        entity = what[:-1] if what.endswith("s") else what
        if what != plural(entity):
            return json_answer(404, NOT_FOUND)
        with self._lock:
            coll = self._docs.get(("collection", mbid.lower()))
            items = self._browse.get((entity, "collection", mbid.lower()))
        if coll is None and items is None:
            return json_answer(404, NOT_FOUND)
        items = list(items or [])
        limit, offset = _limit_offset(query)
        body = {
            "id": mbid.lower(),
            "name": "",
            "editor": "",
            "type": entity.replace("-", " ").capitalize(),
            "entity-type": entity.replace("-", "_"),
        }
        if coll is not None:
            body.update({k: v for k, v in coll.items() if k not in (plural(entity),)})
        body[f"{entity}-count"] = len(items)
        page = items[offset : offset + limit]
        if page:
            body[plural(entity)] = page
        return json_answer(200, body)
