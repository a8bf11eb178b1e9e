"""One policy per score: the table of the scoring policies scores were computed with.

`score` stores the full text of its policy under its version (with the
sha256 of the text and when it was first used) in the transaction that
writes the scores, so every `risk_score.policy_version` names a text kept
here.  The front ends (`show`, `serve`, `export`, `report`) explain a score
with that text, never with the file at hand.  A version is one text: a file
whose version is stored with other content is refused (`PolicyConflict`,
exit 2): bump its `version`.

Writing is `risk.record_policy_in` (the scoring transaction); here are the
reads: `check`, `stored` take the `Database`; the `*_in` ones a `Session`.
"""

from __future__ import annotations

from sqlalchemy import text

from ..db import Database
from .risk import Policy, conflict, parse_policy, policy_sha256


def check(db: Database, policy: Policy) -> None:
    """PolicyConflict when the policy's version is stored with other content (a read)."""
    with db.session() as s:
        stored = s.execute(text("SELECT sha256 FROM risk_policy WHERE version = :v"),
                           {"v": policy.version}).scalar()
    if stored is not None and stored != policy_sha256(policy):
        raise conflict(policy, stored)


def stored_in(session, version: str) -> Policy | None:
    """The policy stored under `version`, or None (scores from before the table)."""
    row = session.execute(text("SELECT text FROM risk_policy WHERE version = :v"), {"v": version}).first()
    return parse_policy(row.text, f"stored as version {version}") if row else None


def stored(db: Database, version: str) -> Policy | None:
    with db.session() as s:
        return stored_in(s, version)


def explaining_in(session, version: str | None, current: Policy) -> Policy:
    """The policy that explains a score of `version`: the stored one; the
    current one when it is that version (or nothing is scored); else a policy
    of that version without signals, whose explanations say the text is unknown."""
    if version is None:
        return current
    found = stored_in(session, version)  # read and parsed once (every release page asks)
    if found is not None:
        return found
    return current if version == current.version else Policy(version=version, signals={}, source="(not stored)")


def versions_in(session) -> dict[str, Policy]:
    """Every stored policy by version (`report`, `export` explain many scores at once)."""
    return {row.version: parse_policy(row.text, f"stored as version {row.version}")
            for row in session.execute(text("SELECT version, text FROM risk_policy ORDER BY first_used"))}
