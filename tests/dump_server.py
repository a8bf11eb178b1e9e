"""The official JSON dump directory over HTTP, for the tests of
`import-dump --latest` and `update --dump`: LATEST, a dated directory of
archives and its checksum file, and the faults a real mirror may have (a
cut-off transfer, a stall, a trickle, a web page, Range ignored)."""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: the dated directory `publish` puts the archives in unless told otherwise
DATED = "20261205-001001"


class DumpServer:
    """A dump directory over HTTP: `files` by path; `cut` paths answer half
    their body once and close, `stall` paths half their body and then
    nothing, `html` paths a web page.  Range requests are honoured (unless
    `no_range`).
    `requests` logs (method, path, Range header)."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.cut: set[str] = set()
        self.stall: set[str] = set()
        self.html: set[str] = set()
        self.no_range = False  # answer 200 and the whole file to a Range request
        self.trickle: set[str] = set()  # a byte every 0.1 s, for ever
        self.requests: list[tuple[str, str, str | None]] = []
        self.stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self.answer(body=False)

            def do_GET(self):
                self.answer(body=True)

            def answer(self, body: bool):
                server.requests.append((self.command, self.path, self.headers.get("Range")))
                if self.path in server.html:
                    return self.send(200, b"<html><body>Service unavailable</body></html>", "text/html; charset=utf-8")
                data = server.files.get(self.path)
                if data is None:
                    return self.send(404, b"<html>not found</html>", "text/html")
                start = int(self.headers["Range"][6:-1]) if self.headers.get("Range") and not server.no_range else 0
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Type", "application/x-xz" if self.path.endswith(".xz") else "text/plain")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                if not body:
                    return
                if self.path in server.trickle:
                    for byte in data[start:]:
                        if server.stop.wait(0.1):
                            return
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                    return
                if self.path in server.cut or self.path in server.stall:
                    self.wfile.write(data[start:start + (len(data) - start) // 2])
                    self.wfile.flush()
                    if self.path in server.cut:
                        server.cut.discard(self.path)  # once
                        self.close_connection = True
                        return
                    server.stop.wait(30)
                    return
                self.wfile.write(data[start:])

            def send(self, code: int, data: bytes, content_type: str):
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/json-dumps"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def publish(self, archives: dict[str, bytes], sums: str | None = "SHA256SUMS", dated: str = DATED,
                latest: str | None = None) -> None:
        """`archives` by name in the dated directory, with LATEST and a checksum file."""
        self.files["/json-dumps/LATEST"] = f"{latest or dated}\n".encode()
        algorithm = {"SHA256SUMS": "sha256", "MD5SUMS": "md5"}.get(sums or "")
        listing = "".join(f"{hashlib.new(algorithm, data).hexdigest()}  {name}\n"
                          for name, data in archives.items()) if algorithm else ""
        for name, data in archives.items():
            self.files[f"/json-dumps/{dated}/{name}"] = data
        if sums:
            self.files[f"/json-dumps/{dated}/{sums}"] = listing.encode()

    def archive_requests(self) -> list[tuple[str, str, str | None]]:
        return [r for r in self.requests if r[1].endswith(".tar.xz")]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
