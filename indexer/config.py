"""Effective settings: command line > environment > config file > defaults.

Kept free of Click so the library can be used without the CLI.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .tomlfile import TomlFileError, read_toml

DEFAULT_WS_URL = "https://musicbrainz.org"
DEFAULT_LB_URL = "https://api.listenbrainz.org"
#: the official JSON data dumps: LATEST names the newest dated directory
DEFAULT_DUMP_URL = "https://data.metabrainz.org/pub/musicbrainz/data/json-dumps"

ENV_VARS = {
    "database_url": "MBINDEX_DATABASE_URL",
    "ws_url": "MBINDEX_WS_URL",
    "contact": "MBINDEX_CONTACT",
    "rate": "MBINDEX_RATE",
    "data_dir": "MBINDEX_DATA_DIR",
    "timeout": "MBINDEX_TIMEOUT",
    "retries": "MBINDEX_RETRIES",
    "query_max_age_days": "MBINDEX_QUERY_MAX_AGE_DAYS",
    "lb_url": "MBINDEX_LB_URL",
    "facts_max_age_days": "MBINDEX_FACTS_MAX_AGE_DAYS",
    "connect_timeout": "MBINDEX_CONNECT_TIMEOUT",
    "max_body_mb": "MBINDEX_MAX_BODY_MB",
    "max_line_mb": "MBINDEX_MAX_LINE_MB",
    "max_tombstone_percent": "MBINDEX_MAX_TOMBSTONE_PERCENT",
    "source_organization": "MBINDEX_SOURCE_ORGANIZATION",
    "serve_token": "MBINDEX_SERVE_TOKEN",
    "dump_url": "MBINDEX_DUMP_URL",
    "update_dump": "MBINDEX_UPDATE_DUMP",
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
    query_max_age_days: float = 7.0  # `sync query` looks up no hit fetched more recently than this
    lb_url: str = DEFAULT_LB_URL  # ListenBrainz API, for `enrich` (listening popularity)
    facts_max_age_days: float = 30.0  # `enrich` refetches upstream facts older than this
    connect_timeout: float = 10.0  # seconds to connect to the database (a host that never answers)
    max_body_mb: float = 64.0  # a bigger ws/2 answer is refused, not read into memory
    max_line_mb: float = 64.0  # a longer dump line is quarantined by reference, not read into memory
    max_tombstone_percent: float = 5.0  # a complete dump tombstones at most this share of the mirror without --force
    source_organization: str | None = None  # who makes packages: bag-info.txt Source-Organization
    serve_token: str | None = None  # `serve`: every browser must give it; needed to bind beyond loopback
    dump_url: str = DEFAULT_DUMP_URL  # `import-dump --latest`: the JSON dump directory (LATEST, dated dirs)
    update_dump: bool = False  # `update` refreshes from the newest dump first, as `update --dump`
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
            elif f.name == "serve_token" and value:
                value = "***"
            elif f.name.endswith("_url") and value:  # ws_url, lb_url, dump_url: credentials may sit in any URL
                value = mask_url(value)
            elif isinstance(value, bool):
                value = "true" if value else "false"  # as the config file writes it
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
    "query_max_age_days": float,
    "lb_url": str,
    "facts_max_age_days": float,
    "connect_timeout": float,
    "max_body_mb": float,
    "max_line_mb": float,
    "max_tombstone_percent": float,
    "source_organization": str,
    "serve_token": str,
    "dump_url": str,
    "update_dump": bool,
}

#: inclusive bounds of every numeric setting: a value outside is refused
#: rather than, say, retrying for ever (retries = 1e300) or never timing out
_BOUNDS: dict[str, tuple[float, float]] = {
    "rate": (0, 1000),
    "timeout": (0.001, 86400),
    "retries": (0, 100),
    "query_max_age_days": (0, 3650),  # 0: look every hit up
    "connect_timeout": (2, 3600),  # libpq waits at least 2 s
    "max_line_mb": (0.001, 4096),
    "max_tombstone_percent": (0, 100),
}


#: user:password@ of a URL, up to its last "@" (over-masking a rare "@" later
#: in the URL is the safe side); works where urlsplit gives up (bad IPv6)
_URL_USERINFO = re.compile(r"^([A-Za-z][\w+.-]*://[^:/?#@\s]*):.*@")
#: password= in a URL query string (also sslpassword=)
_QUERY_PASSWORD = re.compile(r"(password=)[^&#\s]*")
#: password= in a libpq key=value string: a single-quoted value may hold
#: spaces and backslash escapes; an unterminated quote runs to the end
_LIBPQ_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*(?:'|\\?$)|\S*)")


def mask_url(url: str) -> str:
    """Hide the password of a URL (database or ws/2), also inside libpq
    key=value strings and in URLs too malformed to parse."""
    if not url:
        return url
    if "://" in url:
        return _QUERY_PASSWORD.sub(r"\1***", _URL_USERINFO.sub(r"\1:***@", url))
    return _LIBPQ_PASSWORD.sub(r"\1***", url)


def _typed(name: str, raw, origin: str):
    """`raw` as the setting's type; a bool, a fraction for an integer, NaN or
    infinity, or text that is not UTF-8 (a bad byte in argv or the
    environment) is refused rather than silently converted."""
    typ = _FIELD_TYPES[name]
    shown = "" if name in _SECRETS else f", got {_show(raw)}"
    bad = ConfigError(f"{name} from {origin} must be {_KIND[typ]}{shown}")
    if typ is bool:  # a bool, or one of the words; a number (`update_dump = 1` in TOML) is refused
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in _BOOLEAN_WORDS:
            return _BOOLEAN_WORDS[raw.strip().lower()]
        raise bad
    if isinstance(raw, bool) or (typ in (int, float) and not isinstance(raw, (int, float, str))) \
            or (typ is str and not isinstance(raw, str)) \
            or (typ is Path and not isinstance(raw, (str, os.PathLike))):  # `contact = 5`, `ws_url = [1]` in TOML
        raise bad
    if typ is int and isinstance(raw, float):
        if not raw.is_integer():
            raise bad
        raw = int(raw)  # finite: NaN and infinity are not integers
    if isinstance(raw, str) and typ is not Path:  # a path may hold any bytes
        try:
            raw.encode("utf-8")
        except UnicodeEncodeError:
            raise ConfigError(f"{name} from {origin} is not valid UTF-8 text{shown}") from None
        if "\x00" in raw:
            raise ConfigError(f"{name} from {origin} must not contain NUL characters")
    try:
        value = typ(raw)
    except (TypeError, ValueError, OverflowError):
        raise bad from None
    if isinstance(value, float) and not math.isfinite(value):
        raise bad
    return value


#: settings whose value is never repeated in a message
_SECRETS = {"serve_token"}
_KIND = {str: "text", int: "a whole number", float: "a finite number", Path: "a path", bool: "true or false"}
#: how the environment spells a boolean setting (TOML and the command line give a bool)
_BOOLEAN_WORDS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False,
                  "off": False}


def _show(raw) -> str:
    """`raw` for an error message: printable, never a password."""
    text = mask_url(raw) if isinstance(raw, str) else repr(raw)
    return repr(text.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace"))[:200]


def _coerce(name: str, raw, origin: str):
    value = _typed(name, raw, origin)
    if name in _BOUNDS:
        low, high = _BOUNDS[name]
        if not low <= value <= high:
            raise ConfigError(f"{name} from {origin} must be between {low:g} and {high:g}, got {_show(raw)}")
    if name == "max_body_mb" and not 0 < value <= 4096:
        raise ConfigError(f"max_body_mb from {origin} must be > 0 and at most 4096 (MB), got {raw!r}")
    if name == "contact" and any(not (" " <= ch <= "~" or "\xa0" <= ch <= "\xff") for ch in value):
        # it is sent in the User-Agent header, which carries Latin-1 text without line breaks
        raise ConfigError(f"contact from {origin} must be an e-mail address or URL on one line, "
                          f"without control or non-Latin-1 characters, got {raw!r}")
    if name == "source_organization" and (not value.strip() or any(not ch.isprintable() for ch in value)):
        # one line of bag-info.txt: a line break would start a new tag
        raise ConfigError(f"source_organization from {origin} must be a name on one line, got {_show(raw)}")
    if name == "facts_max_age_days" and not 0 <= value <= 3650:
        raise ConfigError(f"facts_max_age_days from {origin} must be 0 to 3650 days, got {raw!r}")
    if name in ("ws_url", "lb_url", "dump_url", "database_url") and "://" in value:
        try:
            parts = urlsplit(value)  # checks IPv6 brackets
            # reading .port checks it (a database URL may list several host:port pairs)
            if name != "database_url" and parts.port == 0:
                raise ValueError("port 0")
        except ValueError as exc:
            raise ConfigError(f"{name} from {origin} is not a valid URL ({exc}): {_show(value)}") from None
    if name == "serve_token" and (len(value) < 16 or any(not "!" <= ch <= "~" for ch in value)):
        # it travels in a cookie and an Authorization header; a short one is guessed
        raise ConfigError(f"serve_token from {origin} must be at least 16 printable ASCII characters "
                          "without spaces (e.g. the output of `openssl rand -hex 16`)")
    if name in _HTTP_URLS:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{name} from {origin} must look like {_HTTP_URLS[name]} (http or https), "
                              f"got {_show(raw)}")
        value = value.rstrip("/")
    if name == "data_dir":
        value = value.expanduser()
    return value


#: the URL settings that must be http(s), with an example for the message
_HTTP_URLS = {"ws_url": DEFAULT_WS_URL, "lb_url": DEFAULT_LB_URL, "dump_url": DEFAULT_DUMP_URL}


def _read_config(path: Path) -> dict:
    """The settings table of a config file: top level, or a [mbindex] table."""
    try:
        data = read_toml(path, "config file")
    except TomlFileError as exc:  # too big (/dev/zero), too deep, not TOML, a control character
        raise ConfigError(str(exc)) from None
    except OSError as exc:  # a directory, no read permission, an I/O error
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    section = data.get("mbindex", data)
    if not isinstance(section, dict):
        raise ConfigError(f"config file {path}: `mbindex` must be a table ([mbindex]) of settings, "
                          f"got {type(section).__name__}")
    return section


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
        section = _read_config(path)
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
