"""Running the application under uvicorn: in the foreground (`mbindex
serve`) or on a background thread (tests, the benchmark)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import uvicorn

from .bind import listening_socket


def _config(app, host: str, port: int, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False,
                          server_header=False, lifespan="off")


def serve(app, host: str, port: int) -> None:
    """Serve until interrupted (Ctrl-C).  The socket is bound first, so an
    address in use is `bind.PortInUse` (exit 2), not uvicorn's exit 3."""
    sock = listening_socket(host, port)
    uvicorn.Server(_config(app, host, port, "info")).run(sockets=[sock])


@contextlib.contextmanager
def background(app, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve on a thread; yields the base URL (port 0: any free port)."""
    server = uvicorn.Server(_config(app, host, port, "warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web server did not start")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()
    try:
        yield f"http://{host}:{bound[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
