"""A real local HTTP server that answers ws/2 lookups (JSON) with recorded documents.

What ``mbindex demo`` runs: clients talk to it exactly as to musicbrainz.org
(``http://127.0.0.1:PORT/ws/2/<entity>/<mbid>?inc=...&fmt=json``,
musicbrainzngs with ``set_hostname(server.hostport, use_https=False)``).

It answers lookups ``/ws/2/<entity>/<mbid>`` with the stored document, 200
``application/json; charset=utf-8``; an id that is not a UUID gives 400
``{"error": "Invalid mbid.", "help": ...}``, an unknown id or any other path
404 ``{"error": "Not Found", "help": ...}`` (the bodies musicbrainz.org
sends), a method other than GET or HEAD 405.  Every request is logged in
``requests`` with its arrival time (``time.monotonic()``) and User-Agent.

The tests' server (``tests/replay_server.py``) is a subclass that adds
browses, searches, counts, the ListenBrainz route, redirects, deletions and
fault injection.  It overrides the hooks this class calls per request, in
order: ``_intercept`` (may answer the request itself, e.g. with a fault),
``_answer`` (a whole request), ``_route`` (a GET path) and ``_lookup`` (one
id); ``record_type`` is the class of the log entries.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import SplitResult, parse_qsl, urlsplit

__all__ = ["ReplayServer", "RequestRecord", "Answer", "Handler", "json_answer", "is_mbid", "ENTITIES",
           "WS2_ENTITIES", "HELP", "NOT_FOUND", "INVALID_MBID", "JSON_TYPE"]

#: entity directories understood by ``load_dir``
ENTITIES = ("release", "artist", "label", "release-group", "recording", "collection")
#: every ws/2 resource that has lookups
WS2_ENTITIES = ENTITIES + ("area", "event", "genre", "instrument", "place", "series", "url", "work")

HELP = "For usage, please see: https://musicbrainz.org/development/mmd"
#: the bodies musicbrainz.org really sends (recorded in the corpus, musicbrainzws2-java)
NOT_FOUND = {"error": "Not Found", "help": HELP}
INVALID_MBID = {"error": "Invalid mbid.", "help": HELP}

JSON_TYPE = "application/json; charset=utf-8"
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


def is_mbid(value: str) -> bool:
    return bool(_UUID.match(value or ""))


@dataclass
class RequestRecord:
    t: float  # time.monotonic() when the request line arrived
    method: str
    path: str  # without the query string
    query: dict[str, str]  # decoded (``+`` is a space); the last value wins
    user_agent: str | None
    status: int  # 0 for a connection closed without a response


@dataclass
class Answer:
    status: int
    body: bytes = b""
    content_type: str | None = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)


def json_answer(status: int, obj) -> Answer:
    """``obj`` as a JSON answer, UTF-8 as ws/2 sends it."""
    try:
        return Answer(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate travels as its \u escape, which JSON allows
        return Answer(status, json.dumps(obj).encode("ascii"))


class Handler(BaseHTTPRequestHandler):
    """One connection: logs each request, then lets the server answer it."""

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
        record = replay.record_type(arrived, method, split.path, query, self.headers.get("User-Agent"), 0)
        replay._log(record)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if replay._intercept(self, record):
            return
        answer = replay._answer(method, split, query, body, self.headers.get("Host"))
        self.send(answer, record, head=(method == "HEAD"))

    def send(self, answer: Answer, record: RequestRecord, *, head: bool = False) -> None:
        """Send ``answer`` whole (the body left out for HEAD) and log its status in ``record``."""
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
    """A ws/2 look-alike for lookups on ``host:port`` (port 0: any free port)."""

    #: the class of the entries in ``requests`` (a subclass may log more per request)
    record_type = RequestRecord

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host = host
        self.port = port
        self._lock = threading.RLock()
        self._docs: dict[tuple[str, str], dict] = {}
        self._collections: dict[str, list[dict]] = {}
        self._conns: set[socket.socket] = set()
        #: set while stopping, so that a handler waiting on it wakes up at once
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
        self._httpd = _Server((self.host, self.port), Handler)
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
        self._stopping.set()
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
        """Serve ``doc`` for lookups of ``entity`` ``mbid`` (default ``doc["id"]``)."""
        if entity not in WS2_ENTITIES:
            raise ValueError(f"unknown ws/2 entity {entity!r}")
        with self._lock:
            self._docs[(entity, (mbid or doc["id"]).lower())] = doc

    # --- log ---------------------------------------------------------------

    def set_collection(self, mbid: str, docs: list[dict]) -> None:
        """Answer ``/ws/2/release?collection=<mbid>`` with ``docs`` as they
        are, 100 a page: the demo's scope.  Recorded lookups lack some of a
        browse's includes, so the walk looks each one up (as it would an
        item a real server sent short) and stores the recording unchanged."""
        with self._lock:
            self._collections[mbid.lower()] = list(docs)

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

    # --- answers (the hooks a subclass extends) -----------------------------

    def _intercept(self, handler: Handler, record: RequestRecord) -> bool:
        """Whether the request was dealt with before routing (never here)."""
        return False

    def _answer(self, method: str, split: SplitResult, query: dict[str, str], body: bytes,
                host: str | None) -> Answer:
        """The answer to a whole request (``body``: what a POST sent)."""
        if method not in ("GET", "HEAD"):
            return json_answer(405, {"error": f"{method} is not supported by the replay server", "help": HELP})
        try:
            return self._route(split.path, split.query, query, host)
        except Exception as exc:  # a bug here must not look like a network fault
            return json_answer(500, {"error": f"replay server error: {type(exc).__name__}: {exc}", "help": HELP})

    def _route(self, path: str, raw_query: str, query: dict[str, str], host: str | None) -> Answer:
        """The answer to a GET of ``path``: a lookup, or 404."""
        parts = [p for p in path.split("/") if p]
        if len(parts) == 4 and parts[:2] == ["ws", "2"]:
            return self._lookup(parts[2], parts[3], raw_query, host)
        if parts == ["ws", "2", "release"] and "collection" in query:
            return self._collection_page(query)
        return json_answer(404, NOT_FOUND)

    def _collection_page(self, query: dict[str, str]) -> Answer:
        """A browse page of a collection set with `set_collection`."""
        with self._lock:
            docs = self._collections.get(query["collection"].lower())
        if docs is None:
            return json_answer(404, NOT_FOUND)
        try:
            offset = max(0, int(query.get("offset", 0)))
            limit = min(100, max(1, int(query.get("limit", 25))))
        except ValueError:
            return json_answer(400, {"error": "Invalid limit or offset.", "help": HELP})
        return json_answer(200, {"release-count": len(docs), "release-offset": offset,
                                 "releases": docs[offset:offset + limit]})

    def _lookup(self, entity: str, mbid: str, raw_query: str, host: str | None) -> Answer:
        if entity not in WS2_ENTITIES:
            return json_answer(404, NOT_FOUND)
        if not is_mbid(mbid):
            return json_answer(400, INVALID_MBID)
        with self._lock:
            doc = self._docs.get((entity, mbid.lower()))
        return json_answer(404, NOT_FOUND) if doc is None else json_answer(200, doc)
