"""A real local HTTP server that answers like MusicBrainz ws/2 (JSON).

Used by the tests and by ``mbindex demo``: clients talk to it exactly as to
musicbrainz.org (``http://127.0.0.1:PORT/ws/2/<entity>/<mbid>?inc=...&fmt=json``,
musicbrainzngs with ``set_hostname(server.hostport, use_https=False)``).

What it serves (shapes checked against responses recorded from musicbrainz.org
and against musicbrainz-server's own web-service tests):

* lookups ``/ws/2/<entity>/<mbid>``: the stored document, 200
  ``application/json; charset=utf-8``; an id that is not a UUID gives 400
  ``{"error": "Invalid mbid.", "help": ...}``, an unknown id 404
  ``{"error": "Not Found", "help": ...}``;
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
  out of an empty page, as ws/2 does), no ``release-offset``.

* counts for ``enrich`` (``set_count``, ``set_popularity``): browse pages
  with only ``<entity>-count``, ``rgid:(a OR b)`` release-group search hits
  with ``count``, ListenBrainz ``POST /1/popularity/release-group`` (see replay_counts.py).

Faults (``inject``) are applied to the next matching requests in the order
they were queued. Every request, faulted or not, is logged in ``requests``
with its arrival time (``time.monotonic()``) and User-Agent.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from .replay_counts import group_count_hits, popularity_answer

__all__ = ["ReplayServer", "RequestRecord", "ENTITIES", "FAULT_KINDS", "NOT_FOUND", "INVALID_MBID", "RATE_LIMITED"]

#: entity directories understood by ``load_dir``
ENTITIES = ("release", "artist", "label", "release-group", "recording", "collection")
#: every ws/2 resource that has lookups
WS2_ENTITIES = ENTITIES + ("area", "event", "genre", "instrument", "place", "series", "url", "work")
FAULT_KINDS = ("status", "reset", "slow", "truncated", "malformed", "html", "wrong_type")

HELP = "For usage, please see: https://musicbrainz.org/development/mmd"
#: the ListenBrainz route the same server answers (POST, JSON body)
LB_POPULARITY_PATH = "/1/popularity/release-group"
_UNSET = object()
#: the bodies musicbrainz.org really sends (recorded in the corpus, musicbrainzws2-java)
NOT_FOUND = {"error": "Not Found", "help": HELP}
INVALID_MBID = {"error": "Invalid mbid.", "help": HELP}
#: the 503 body musicbrainz.org sends when a client exceeds the rate limit
RATE_LIMITED = {
    "error": "Your requests are exceeding the allowable rate limit. "
    "Please see http://wiki.musicbrainz.org/XMLWebService for more information."
}

JSON_TYPE = "application/json; charset=utf-8"
DEFAULT_LIMIT = 25
MAX_LIMIT = 100
MAX_BROWSE_TRACKS = 500
# query parameters that are not a browse scope
_NOT_SCOPES = {"fmt", "limit", "offset", "inc", "type", "status", "query", "version", "client", "dismax"}
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


def is_mbid(value: str) -> bool:
    return bool(_UUID.match(value or ""))


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
class RequestRecord:
    t: float  # time.monotonic() when the request line arrived
    method: str
    path: str  # without the query string
    query: dict[str, str]  # decoded (``+`` is a space); the last value wins
    user_agent: str | None
    status: int  # 0 for a reset connection (no response at all)
    fault: str | None = None  # the injected fault kind applied, if any


@dataclass
class _Fault:
    kind: str
    remaining: int
    path_contains: str | None
    kw: dict = field(default_factory=dict)


@dataclass
class _Answer:
    status: int
    body: bytes = b""
    content_type: str | None = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, obj) -> _Answer:
    try:
        return _Answer(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate travels as its \u escape, which JSON allows
        return _Answer(status, json.dumps(obj).encode("ascii"))


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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mbindex-replay"
    sys_version = ""
    timeout = 30  # an idle keep-alive connection is dropped after this

    # quiet
    def log_message(self, format, *args):  # noqa: A002 - signature from BaseHTTPRequestHandler
        pass

    def setup(self):
        super().setup()
        self.server.replay._track(self.connection, add=True)

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        self.server.replay._track(self.connection, add=False)

    def do_GET(self):
        self._serve("GET")

    def do_HEAD(self):
        self._serve("HEAD")

    def do_POST(self):
        self._serve("POST")

    def do_PUT(self):
        self._serve("PUT")

    def do_DELETE(self):
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        replay: ReplayServer = self.server.replay
        arrived = time.monotonic()
        split = urlsplit(self.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        record = RequestRecord(arrived, method, split.path, query, self.headers.get("User-Agent"), 0)
        replay._log(record)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""

        fault = replay._take_fault(self.path)
        if fault is not None:
            record.fault = fault.kind
            if fault.kind == "slow":
                replay._stopping.wait(float(fault.kw.get("delay", 1.0)))
            else:
                self._apply_fault(fault, record, split.path)
                return

        if method == "POST" and split.path == LB_POPULARITY_PATH:
            answer = replay._popularity(body)
        elif method not in ("GET", "HEAD"):
            answer = _json(405, {"error": f"{method} is not supported by the replay server", "help": HELP})
        else:
            try:
                answer = replay._route(split.path, split.query, query, self.headers.get("Host"))
            except Exception as exc:  # a bug here must not look like a network fault
                answer = _json(500, {"error": f"replay server error: {type(exc).__name__}: {exc}", "help": HELP})
        self._send(answer, record, head=(method == "HEAD"))

    def _send(self, answer: _Answer, record: RequestRecord, *, head: bool = False) -> None:
        record.status = answer.status
        self.send_response(answer.status)
        if answer.content_type:
            self.send_header("Content-Type", answer.content_type)
        for k, v in answer.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if not head and answer.body:
            self.wfile.write(answer.body)

    def _apply_fault(self, fault: _Fault, record: RequestRecord, path: str) -> None:
        kw = fault.kw
        if fault.kind == "reset":
            record.status = 0
            self.close_connection = True
            try:
                # SO_LINGER on, timeout 0: close() sends a TCP RST instead of a FIN
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            except OSError:
                pass
            return
        if fault.kind == "status":
            status = int(kw.get("status", 503))
            if "body" in kw:
                body = kw["body"]
                answer = _Answer(status, body.encode("utf-8") if isinstance(body, str) else body)
            elif status == 503:
                answer = _json(503, RATE_LIMITED)
            else:
                answer = _json(status, {"error": _REASONS.get(status, "Error"), "help": HELP})
            if kw.get("retry_after") is not None:
                answer.headers["Retry-After"] = str(kw["retry_after"])
            answer.headers.update(kw.get("headers") or {})
            self.close_connection = True
            self._send(answer, record)
            return
        if fault.kind == "truncated":
            real = self.server.replay._route(path, urlsplit(self.path).query, record.query, self.headers.get("Host"))
            body = real.body or json.dumps({"id": "0" * 36, "title": "x" * 64}).encode()
            record.status = real.status
            self.close_connection = True
            self.send_response(real.status)
            self.send_header("Content-Type", real.content_type or JSON_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            try:
                self.connection.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            return
        if fault.kind == "malformed":
            self._send(_Answer(int(kw.get("status", 200)), kw.get("body", '{"id": "abc", ').encode()), record)
            return
        if fault.kind == "html":
            status = int(kw.get("status", 502))
            reason = _REASONS.get(status, "Error")
            page = (
                f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
                f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
                "</body>\r\n</html>\r\n"
            )
            self.close_connection = True
            self._send(_Answer(status, page.encode(), "text/html"), record)
            return
        if fault.kind == "wrong_type":
            ident = path.rstrip("/").rsplit("/", 1)[-1]
            ident = ident if is_mbid(ident) else "00000000-0000-0000-0000-000000000000"
            xml = (
                '<?xml version="1.0" encoding="UTF-8"?>'
                '<metadata xmlns="http://musicbrainz.org/ns/mmd-2.0#">'
                f'<release id="{ident}"><title>XML instead of JSON</title></release></metadata>'
            )
            self._send(_Answer(int(kw.get("status", 200)), xml.encode(), "text/xml; charset=utf-8"), record)
            return
        raise AssertionError(fault.kind)  # pragma: no cover - inject() validates kinds


_REASONS = {
    400: "Bad Request",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # a client that went away (or a connection we reset/shut down on stop) is not news
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class ReplayServer:
    """A ws/2 look-alike on ``host:port`` (port 0: any free port)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host = host
        self.port = port
        self._lock = threading.RLock()
        self._docs: dict[tuple[str, str], dict] = {}
        self._browse: dict[tuple[str, str, str], list[dict]] = {}
        self._search: dict[tuple[str, str], list[dict]] = {}
        self._redirects: dict[tuple[str, str], tuple[str, int]] = {}
        self._deleted: set[tuple[str, str]] = set()
        self._counts: dict[tuple[str, str, str], int] = {}
        self._popular: dict[str, dict] = {}
        self._faults: list[_Fault] = []
        self._conns: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self.requests: list[RequestRecord] = []

    # --- lifecycle ---------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.hostport}"

    @property
    def hostport(self) -> str:
        if self._httpd is None:
            raise RuntimeError("ReplayServer is not started")
        host, port = self._httpd.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> "ReplayServer":
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _Server((self.host, self.port), _Handler)
        self._httpd.replay = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="ws2-replay", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._stopping.set()  # wakes "slow" faults
        httpd.shutdown()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:  # idle keep-alive connections would hold their threads
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> "ReplayServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- content -----------------------------------------------------------

    def load_dir(self, path) -> int:
        """Load ``<path>/<entity>/<mbid>.json`` lookup recordings; other files are ignored.

        The file name is the MBID the document answers to (a recording of a
        merged entity holds the merge target's id under the old MBID)."""
        root = Path(path)
        count = 0
        for entity in ENTITIES:
            folder = root / entity
            if not folder.is_dir():
                continue
            for file in sorted(folder.glob("*.json")):
                if not is_mbid(file.stem):
                    continue
                doc = json.loads(file.read_text(encoding="utf-8"))
                if not isinstance(doc, dict):
                    continue
                self.add_document(entity, doc, mbid=file.stem)
                count += 1
        return count

    def add_document(self, entity: str, doc: dict, *, mbid: str | None = None) -> None:
        """Serve ``doc`` for lookups of ``entity`` ``mbid`` (default ``doc["id"]``).

        Clears an earlier ``delete``/``redirect`` of that id."""
        _check_entity(entity)
        key = (entity, (mbid or doc["id"]).lower())
        with self._lock:
            self._docs[key] = doc
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

    # --- log ---------------------------------------------------------------

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()

    def _log(self, record: RequestRecord) -> None:
        with self._lock:
            self.requests.append(record)

    def _track(self, conn, *, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    # --- routing -----------------------------------------------------------

    def _route(self, path: str, raw_query: str, query: dict[str, str], host: str | None) -> _Answer:
        parts = [p for p in path.split("/") if p]
        if len(parts) < 3 or parts[:2] != ["ws", "2"]:
            return _json(404, NOT_FOUND)
        rest = parts[2:]
        entity = rest[0]
        if len(rest) == 1:
            return self._list(entity, query)
        if len(rest) == 2:
            return self._lookup(entity, rest[1], raw_query, host)
        if len(rest) == 3 and entity == "collection":
            return self._collection_contents(rest[1], rest[2], query)
        return _json(404, NOT_FOUND)

    def _lookup(self, entity: str, mbid: str, raw_query: str, host: str | None) -> _Answer:
        if entity not in WS2_ENTITIES:
            return _json(404, NOT_FOUND)
        if not is_mbid(mbid):
            return _json(400, INVALID_MBID)
        key = (entity, mbid.lower())
        with self._lock:
            if key in self._deleted:
                return _json(404, NOT_FOUND)
            target = self._redirects.get(key)
            if target is not None:
                new_mbid, status = target
                if status == 200:
                    doc = self._docs.get((entity, new_mbid))
                    return _json(200, doc) if doc is not None else _json(404, NOT_FOUND)
                location = f"http://{host or self.hostport}/ws/2/{entity}/{new_mbid}"
                if raw_query:
                    location += "?" + raw_query
                return _Answer(status, b"", None, {"Location": location})
            doc = self._docs.get(key)
        if doc is None:
            return _json(404, NOT_FOUND)
        return _json(200, doc)

    def _list(self, entity: str, query: dict[str, str]) -> _Answer:
        if entity not in WS2_ENTITIES:
            return _json(404, NOT_FOUND)
        limit, offset = _limit_offset(query)
        if "query" in query:
            with self._lock:
                hits = list(self._search.get((entity, query["query"]), []))
            if not hits and entity == "release-group":
                hits = self._group_count_hits(query["query"])
            page = [dict({"score": 100}, **hit) if "score" not in hit else hit for hit in hits[offset : offset + limit]]
            now = datetime.now(timezone.utc)
            created = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
            return _json(200, {"created": created, "count": len(hits), "offset": offset, plural(entity): page})

        scopes = [k for k in query if k not in _NOT_SCOPES]
        if not scopes:
            return _json(400, {"error": f"{entity}: a search needs query=, a browse needs one linked entity", "help": HELP})
        if len(scopes) > 1:
            return _json(400, {"error": "Too many linked entities.", "help": HELP})
        scope = scopes[0]
        scope_id = query[scope]
        if not is_mbid(scope_id):
            return _json(400, INVALID_MBID)
        with self._lock:
            counted = self._counts.get((entity, scope, scope_id.lower()), _UNSET)
        if counted is not _UNSET:
            body = {f"{entity}-offset": offset, plural(entity): []}
            if counted is not None:
                body[f"{entity}-count"] = counted
            return _json(200, body)
        items = self._browse_items(entity, scope, scope_id)
        if items is None:
            return _json(404, NOT_FOUND)
        page = self._page(items, limit, offset, "recordings" in _incs(query))
        return _json(200, {f"{entity}-count": len(items), f"{entity}-offset": offset, plural(entity): page})

    def _group_count_hits(self, q: str) -> list[dict]:
        with self._lock:
            return group_count_hits(self._counts, q)

    def _popularity(self, body: bytes) -> _Answer:
        with self._lock:
            status, obj = popularity_answer(self._popular, body)
        return _json(status, obj)

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

    def _collection_contents(self, mbid: str, what: str, query: dict[str, str]) -> _Answer:
        if not is_mbid(mbid):
            return _json(400, INVALID_MBID)
        entity = what[:-1] if what.endswith("s") else what
        if what != plural(entity):
            return _json(404, NOT_FOUND)
        with self._lock:
            coll = self._docs.get(("collection", mbid.lower()))
            items = self._browse.get((entity, "collection", mbid.lower()))
        if coll is None and items is None:
            return _json(404, NOT_FOUND)
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
        return _json(200, body)


def _check_entity(entity: str) -> None:
    if entity not in WS2_ENTITIES:
        raise ValueError(f"unknown ws/2 entity {entity!r}")
