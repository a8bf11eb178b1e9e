"""Where the web server may listen: loopback freely, anything else only
behind a token.  Kept free of the web stack so the CLI can import it."""

from __future__ import annotations

import ipaddress
import socket

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8750


class BindError(ValueError):
    """`serve` was asked to listen beyond this machine without a token."""


class PortInUse(BindError):
    """The address and port cannot be listened on (in use, not this machine's)."""


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, as uvicorn binds one (SO_REUSEADDR);
    PortInUse with one line when that fails, instead of uvicorn's log line
    and its exit status 3 (which means "partial" to mbindex)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that
    # say they are TCP, and without it every keep-alive answer waits about
    # 40 ms for a delayed ACK (Nagle)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        shown = f"[{host}]" if ":" in host else host
        raise PortInUse(f"cannot listen on {shown}:{port}: {exc.strerror or exc}; "
                        "choose another --port (or stop what listens there)") from None
    sock.set_inheritable(True)
    return sock


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses; a name or a wildcard
    (0.0.0.0, ::) reaches other machines, so it is not loopback."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse a non-loopback address unless a token guards the pages."""
    if not is_loopback(host) and not token:
        raise BindError(f"refusing to serve on {host}: other machines could read and mark releases; "
                        "set serve_token (MBINDEX_SERVE_TOKEN) or bind to 127.0.0.1")
