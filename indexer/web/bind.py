"""Where the web server may listen: loopback freely, anything else only
behind a token.  Kept free of the web stack so the CLI can import it."""

from __future__ import annotations

import ipaddress

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8750


class BindError(ValueError):
    """`serve` was asked to listen beyond this machine without a token."""


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
