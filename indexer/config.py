"""Effective settings: command line > environment > config file > defaults.

Kept free of Click so the library can be used without the CLI.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

DEFAULT_WS_URL = "https://musicbrainz.org"

ENV_VARS = {
    "database_url": "MBINDEX_DATABASE_URL",
    "ws_url": "MBINDEX_WS_URL",
    "contact": "MBINDEX_CONTACT",
    "rate": "MBINDEX_RATE",
    "data_dir": "MBINDEX_DATA_DIR",
    "timeout": "MBINDEX_TIMEOUT",
    "retries": "MBINDEX_RETRIES",
}


class ConfigError(ValueError):
    """A setting has a value we cannot use; the message says which and why."""


def default_data_dir() -> Path:
    """Short, private location for the embedded server.

    As root the PostgreSQL server runs as a separate system user, which must be
    able to reach the data directory: /root is private, so use /var/lib.
    """
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/lib/mbindex")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "mbindex"


def default_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "mbindex" / "config.toml"


@dataclass
class Settings:
    database_url: str | None = None
    ws_url: str = DEFAULT_WS_URL
    contact: str | None = None
    rate: float = 1.0  # requests per second; 0 = unlimited (private mirror only)
    data_dir: Path = field(default_factory=default_data_dir)
    timeout: float = 30.0  # seconds per request
    retries: int = 5  # attempts after the first on transient errors
    config_file: Path | None = None
    sources: dict[str, str] = field(default_factory=dict)  # setting -> where it came from

    @property
    def uses_public_server(self) -> bool:
        host = urlsplit(self.ws_url).hostname or ""
        return host == "musicbrainz.org" or host.endswith(".musicbrainz.org")

    @property
    def ws_hostport(self) -> str:
        parts = urlsplit(self.ws_url)
        return parts.netloc

    @property
    def ws_https(self) -> bool:
        return urlsplit(self.ws_url).scheme == "https"

    def masked(self) -> dict[str, str]:
        """Every setting as text, passwords masked, for `config show`."""
        out = {}
        for f in dataclasses.fields(self):
            if f.name == "sources":
                continue
            value = getattr(self, f.name)
            if f.name == "database_url":
                value = mask_url(value) if value else "(embedded PostgreSQL)"
            out[f.name] = "" if value is None else str(value)
        return out


_FIELD_TYPES = {
    "database_url": str,
    "ws_url": str,
    "contact": str,
    "rate": float,
    "data_dir": Path,
    "timeout": float,
    "retries": int,
}


def mask_url(url: str) -> str:
    """Hide the password of a database URL (also inside libpq key=value strings)."""
    if not url:
        return url
    if "://" in url:
        parts = urlsplit(url)
        if parts.password is not None:
            netloc = parts.netloc.rsplit("@", 1)
            userinfo = netloc[0].split(":", 1)[0] + ":***"
            return urlunsplit(parts._replace(netloc=userinfo + "@" + netloc[1]))
        url = re.sub(r"(password=)[^&\s]*", r"\1***", url)
        return url
    return re.sub(r"(password\s*=\s*)(\S+)", r"\1***", url)


def _coerce(name: str, raw, origin: str):
    typ = _FIELD_TYPES[name]
    try:
        value = typ(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} from {origin} must be a {typ.__name__}, got {raw!r}") from None
    if name == "rate" and value < 0:
        raise ConfigError(f"rate from {origin} must be >= 0 requests/s (0 = unlimited), got {raw!r}")
    if name == "timeout" and value <= 0:
        raise ConfigError(f"timeout from {origin} must be > 0 seconds, got {raw!r}")
    if name == "retries" and value < 0:
        raise ConfigError(f"retries from {origin} must be >= 0, got {raw!r}")
    if name == "contact" and any(not (" " <= ch <= "~" or "\xa0" <= ch <= "\xff") for ch in value):
        # it is sent in the User-Agent header, which carries Latin-1 text without line breaks
        raise ConfigError(f"contact from {origin} must be an e-mail address or URL on one line, "
                          f"without control or non-Latin-1 characters, got {raw!r}")
    if name == "ws_url":
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"ws_url from {origin} must look like https://musicbrainz.org, got {raw!r}")
        value = value.rstrip("/")
    if name == "data_dir":
        value = value.expanduser()
    return value


def load_settings(
    overrides: dict | None = None,
    config_file: str | Path | None = None,
    environ: dict | None = None,
) -> Settings:
    environ = os.environ if environ is None else environ
    settings = Settings()
    sources = {f: "default" for f in _FIELD_TYPES}

    path = Path(config_file).expanduser() if config_file else default_config_path()
    if config_file and not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        section = data.get("mbindex", data)
        unknown = set(section) - set(_FIELD_TYPES)
        if unknown:
            raise ConfigError(f"config file {path}: unknown setting(s) {', '.join(sorted(unknown))}")
        for name, raw in section.items():
            setattr(settings, name, _coerce(name, raw, f"config file {path}"))
            sources[name] = f"config file {path}"
        settings.config_file = path

    for name, var in ENV_VARS.items():
        raw = environ.get(var)
        if raw not in (None, ""):
            setattr(settings, name, _coerce(name, raw, f"environment {var}"))
            sources[name] = f"environment {var}"

    for name, raw in (overrides or {}).items():
        if raw is None:
            continue
        setattr(settings, name, _coerce(name, raw, "command line"))
        sources[name] = "command line"

    settings.sources = sources
    return settings
