"""A hostile ws/2 server for tests: answers a lookup or a browse with exactly
the bytes a test gives it, and misbehaves on purpose.

Unlike the replay server (`tests/replay_server.py`), which answers like
musicbrainz.org, this one serves what a buggy or hostile upstream could send:

* `serve(path, body)`: any bytes with 200 and a JSON content type (odd
  documents: a NUL, a lone surrogate, 200k nested arrays, 1e400 ...);
* `trickle(path, body, interval, headers_too)`: one byte every `interval`
  seconds, the body only or the status line and headers as well;
* `huge(path, size, declare_length)`: `size` bytes of a JSON string,
  generated as they are sent (never held in memory), with or without a
  Content-Length (without one, the body ends when the connection closes);
* `browse(scope, target, items)`: a browse of releases, paged by offset and
  limit, each item given as raw JSON bytes;
* anything else under /ws/2/release/<mbid>: `documents[mbid]` as JSON, or 404.

A POST (ListenBrainz's popularity API) is routed the same way, its request
body read first into `handler.body` (a route may answer from it).

`hits` counts the requests per path.
"""

from __future__ import annotations

import collections
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qsl, urlsplit

JSON_TYPE = "application/json; charset=utf-8"
NOT_FOUND = b'{"error": "Not Found", "help": "For usage, please see: https://musicbrainz.org/development/mmd"}'


class HostileServer:
    def __init__(self):
        self.documents: dict[str, dict] = {}
        self.routes: dict[str, Callable[[BaseHTTPRequestHandler], None]] = {}
        self.browses: dict[tuple[str, str], list[bytes]] = {}
        self.hits: collections.Counter = collections.Counter()
        self.stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None

    # --- what to serve --------------------------------------------------------

    def serve(self, path: str, body: bytes, *, status: int = 200, content_type: str = JSON_TYPE,
              headers: dict[str, str] | None = None) -> None:
        self.routes[path] = lambda h: _send(h, status, body, content_type, headers)

    def trickle(self, path: str, body: bytes, *, interval: float = 0.5, headers_too: bool = False) -> None:
        def answer(h):
            head = (f"HTTP/1.1 200 OK\r\nContent-Type: {JSON_TYPE}\r\nContent-Length: {len(body)}\r\n"
                    "Connection: close\r\n\r\n").encode()
            if not headers_too:
                h.wfile.write(head)
                h.wfile.flush()
            for byte in (head if headers_too else b"") + body:
                if self.stopping.wait(interval):
                    return
                h.wfile.write(bytes([byte]))
                h.wfile.flush()
        self.routes[path] = answer

    def huge(self, path: str, size: int, *, declare_length: bool = True) -> None:
        def answer(h):
            h.send_response(200)
            h.send_header("Content-Type", JSON_TYPE)
            if declare_length:
                h.send_header("Content-Length", str(size))
            h.send_header("Connection", "close")
            h.end_headers()
            h.close_connection = True
            h.wfile.write(b'"')
            chunk = b"x" * (1 << 20)
            left = size - 2
            while left > 0 and not self.stopping.is_set():
                h.wfile.write(chunk[: min(left, len(chunk))])
                left -= len(chunk)
            h.wfile.write(b'"')
        self.routes[path] = answer

    def browse(self, scope: str, target: str, items: list[bytes]) -> None:
        self.browses[(scope, target)] = list(items)

    # --- lifecycle --------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> HostileServer:
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.hostile = self
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    # --- routing ----------------------------------------------------------------

    def answer(self, h: BaseHTTPRequestHandler) -> None:
        split = urlsplit(h.path)
        self.hits[split.path] += 1
        route = self.routes.get(split.path)
        if route is not None:
            return route(h)
        query = dict(parse_qsl(split.query))
        if split.path.rstrip("/") == "/ws/2/release" and "query" not in query:
            return self._browse(h, query)
        mbid = split.path.rsplit("/", 1)[-1]
        doc = self.documents.get(mbid) if split.path.startswith("/ws/2/release/") else None
        if doc is None:
            return _send(h, 404, NOT_FOUND, JSON_TYPE)
        return _send(h, 200, json.dumps(doc, ensure_ascii=False).encode("utf-8"), JSON_TYPE)

    def _browse(self, h, query: dict[str, str]) -> None:
        scope = next((k for k in query if k not in ("fmt", "inc", "limit", "offset")), "")
        items = self.browses.get((scope.replace("_", "-"), query.get(scope, "")))
        if items is None:
            return _send(h, 404, NOT_FOUND, JSON_TYPE)
        offset, limit = int(query.get("offset", 0)), int(query.get("limit", 25))
        page = items[offset: offset + limit]
        body = (b'{"release-count": %d, "release-offset": %d, "releases": [' % (len(items), offset)
                + b", ".join(page) + b"]}")
        return _send(h, 200, body, JSON_TYPE)


def _send(h: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str,
          headers: dict[str, str] | None = None) -> None:
    h.send_response(status)
    for name, value in (headers or {}).items():
        h.send_header(name, value)
    h.send_header("Content-Type", content_type)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        try:
            self.server.hostile.answer(self)
        except OSError:  # the client gave up (its deadline, or a body it refused): expected here
            self.close_connection = True

    def do_POST(self):
        self.body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.do_GET()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


def odd_bodies(doc: dict, make_id: Callable[[str], str]) -> dict[str, bytes]:
    """The odd release documents of issue 10, each a real lookup `doc` with
    one hostile change and its own id (`make_id(case)`), as the exact bytes
    a server would send."""
    def variant(case: str, change: Callable[[dict], None]) -> tuple[str, dict]:
        d = json.loads(json.dumps(doc))
        d["id"] = make_id(case)
        change(d)
        return case, d

    cases = dict([
        variant("label-info null", lambda d: d.__setitem__("label-info", [None])),
        variant("null track", lambda d: d["media"][0]["tracks"].__setitem__(0, None)),
        variant("NUL in title", lambda d: d.__setitem__("title", "Meteora\x00")),
        variant("position beyond 32 bits", lambda d: d["media"][0].__setitem__("position", 2**40)),
    ])
    bodies = {case: json.dumps(d, ensure_ascii=False).encode("utf-8") for case, d in cases.items()}
    # what json.dumps cannot write from Python objects: spliced in as text
    surrogate = dict(doc, id=make_id("lone surrogate"), title="@@S@@")
    bodies["lone surrogate"] = _splice(surrogate, '"@@S@@"', '"Meteora \\ud800"')
    deep = dict(doc, id=make_id("200k nested arrays"), annotation="@@D@@")
    bodies["200k nested arrays"] = _splice(deep, '"@@D@@"', "[" * 200_000 + "]" * 200_000)
    big = json.loads(json.dumps(doc))
    big["id"] = make_id("1e400")
    big["media"][0]["tracks"][0]["length"] = "@@N@@"
    bodies["1e400"] = _splice(big, '"@@N@@"', "1e400")
    return bodies


def _splice(doc: dict, marker: str, text: str) -> bytes:
    return json.dumps(doc, ensure_ascii=False).replace(marker, text, 1).encode("utf-8")
