"""Curators: who marks releases in `serve`, each known by a token of their
own, so a mark records who made it without anyone typing a name.

`add_curator` makes a random token, returns it once and keeps only its
SHA-256 (a token is 256 random bits: a fast hash is enough, nothing to
guess); `curator_for_token` hashes what a request carries and looks the
hash up (unique index).  Removing a curator removes the hash, so the token
stops working on the next request; the marks keep the name.

Every verb takes a `Database` and runs in a transaction of its own.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import text

from ..db import Database

NAME_MAX = 64


class CuratorError(ValueError):
    """A curator name we cannot use: empty, too long, with control characters, or taken."""


class UnknownCurator(LookupError):
    """`curator remove` of a name that is not a curator."""


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_name(name: str) -> str:
    """The name as it will be shown beside marks, stripped; raises CuratorError."""
    name = name.strip()
    if not name or len(name) > NAME_MAX or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise CuratorError(f"a curator name is 1 to {NAME_MAX} printable characters, got {name[:80]!r}")
    return name


def add_curator(db: Database, name: str) -> str:
    """Add a curator and return their new token (shown once: only its hash is
    stored).  Raises CuratorError when the name is taken or unusable."""
    name = check_name(name)
    token = secrets.token_urlsafe(32)
    with db.session() as s, s.begin():
        added = s.execute(text("INSERT INTO curator (name, token_sha256) VALUES (:n, :h) "
                               "ON CONFLICT (name) DO NOTHING RETURNING name"),
                          {"n": name, "h": token_sha256(token)}).first()
    if added is None:
        raise CuratorError(f"{name!r} is already a curator: `mbindex curator remove {name}` first to give a new token")
    return token


def list_curators(db: Database) -> list[dict]:
    """Every curator (name, added_at), by name; never a token."""
    with db.session() as s:
        return [dict(r._mapping) for r in s.execute(text("SELECT name, added_at FROM curator ORDER BY name"))]


def remove_curator(db: Database, name: str) -> None:
    """Remove a curator: their token stops working. Raises UnknownCurator."""
    with db.session() as s, s.begin():
        gone = s.execute(text("DELETE FROM curator WHERE name = :n RETURNING name"), {"n": name.strip()}).first()
    if gone is None:
        raise UnknownCurator(f"{name!r} is not a curator (see `mbindex curator list`)")


def curator_for_token(db: Database, token: str) -> str | None:
    """The name of the curator whose token this is, or None."""
    with db.session() as s:
        return s.execute(text("SELECT name FROM curator WHERE token_sha256 = :h"),
                         {"h": token_sha256(token)}).scalar_one_or_none()


def has_curators(db: Database) -> bool:
    """Whether any curator exists (then `serve` asks every request for a token)."""
    with db.session() as s:
        return s.execute(text("SELECT EXISTS (SELECT 1 FROM curator)")).scalar_one()
