"""The risk policy as a file: its model (`Policy`, `Signal`, what each
signal reads), loading a TOML text checked whole (`load_policy`,
`parse_policy`: one line, `PolicyError`, for whatever is wrong), and the
text and hash a score keeps of the policy that produced it.

The SQL each signal runs is `risk.SIGNAL_SQL`; a test checks that both
modules know the same signals.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from ..mapping import DOCUMENT_FIELDS
from ..store.facts import EDITIONS, LISTENERS, LISTENS, RELEASE_GROUPS
from ..tomlfile import TomlFileError, parse_toml, read_text

DEFAULT_POLICY = Path(__file__).with_name("risk_policy.toml")


class PolicyError(ValueError):
    """The policy file is unusable."""



@dataclass(frozen=True)
class Inputs:
    """What a signal reads: includes the release was fetched with, upstream
    facts about it, fields its document carried.  Without all of them it is
    not assessed."""

    includes: tuple[str, ...] = ()
    facts: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()

    def __or__(self, other: Inputs) -> Inputs:
        merge = lambda a, b: tuple(dict.fromkeys(a + b))  # noqa: E731
        return Inputs(merge(self.includes, other.includes), merge(self.facts, other.facts),
                      merge(self.fields, other.fields))


#: what each signal's SQL reads (a policy may add inputs, never remove these).
#: `tombstoned`, `unknown_date`, `unknown_country` and `promo_words` read what
#: every release document states (ws/2 omits date, country and an empty
#: disambiguation in every shape; every shape has the title)
SIGNAL_INPUTS: dict[str, Inputs] = {
    "tombstoned": Inputs(),
    "fragile_format": Inputs(includes=("media",)),
    "barcode_unknown": Inputs(fields=("barcode",)),
    "barcode_none": Inputs(fields=("barcode",)),
    "barcode_invalid": Inputs(fields=("barcode",)),
    "no_label": Inputs(includes=("labels",)),
    "no_catalog_number": Inputs(includes=("labels",)),
    "promo_catalog_number": Inputs(includes=("labels",)),
    "promo_words": Inputs(),
    "informal_type": Inputs(includes=("release-groups",)),
    "no_cover_art": Inputs(fields=("cover-art-archive",)),
    "cover_art_darkened": Inputs(fields=("cover-art-archive",)),
    "no_links": Inputs(includes=("url-rels",)),
    "uncatalogued": Inputs(includes=("url-rels", "release-group-level-rels")),
    "only_edition": Inputs(facts=(EDITIONS,)),
    "risky_status": Inputs(fields=("status",)),
    "unknown_date": Inputs(),
    "unknown_country": Inputs(),
    "low_quality": Inputs(fields=("quality",)),
    "sparse_tracklist": Inputs(includes=("recordings",)),
    "no_tags": Inputs(includes=("tags",)),
    "small_catalogue": Inputs(facts=(RELEASE_GROUPS,)),
    "no_listens": Inputs(facts=(LISTENS,)),
    "few_listeners": Inputs(facts=(LISTENERS,)),
}
#: the inputs a policy may name: ws/2 release includes (and `cover-art`, which
#: the mapping infers from a document carrying cover-art-archive), the upstream
#: facts `enrich` stores, the document fields the mapping records
KNOWN_INPUTS: dict[str, tuple[str, ...]] = {
    "includes": ("aliases", "annotation", "artist-credits", "collections", "cover-art", "discids", "genres",
                 "isrcs", "labels", "media", "ratings", "recording-level-rels", "recordings",
                 "release-group-level-rels", "release-groups", "tags", "url-rels"),
    "facts": (EDITIONS, RELEASE_GROUPS, LISTENS, LISTENERS),
    "fields": DOCUMENT_FIELDS,
}
#: the upstream fact each world signal needs ("unknown (not fetched)" in `show` when missing)
SIGNAL_FACTS = {name: inputs.facts[0] for name, inputs in SIGNAL_INPUTS.items() if inputs.facts}

# the parameters each signal needs, with their expected Python type
SIGNAL_PARAMS: dict[str, dict[str, type]] = {
    "fragile_format": {"formats": list},
    "risky_status": {"statuses": list},
    "no_label": {"no_label_mbid": str},
    "sparse_tracklist": {"unknown_titles": list},
    "small_catalogue": {"max_release_groups": int},
    "few_listeners": {"max_listeners": int},
    "uncatalogued": {"catalogues": list},
    "promo_catalog_number": {"prefixes": list},
    "promo_words": {"words": list},
    "informal_type": {"types": list},
}
REQUIRED_PARAMS = ("fragile_format", "risky_status", "small_catalogue", "few_listeners", "uncatalogued",
                   "promo_catalog_number", "promo_words", "informal_type")
#: list parameters compared with normalised text, so written in that form: (pattern, what it must be)
_NORMAL_FORMS = {
    "prefixes": (re.compile(r"[A-Z0-9]+"), "upper-case ASCII letters and digits only, as catalogue numbers "
                                           "are compared (\"PRO-CD\" is written \"PROCD\")"),
    "words": (re.compile(r"[a-z0-9]+( [a-z0-9]+)*"), "lower-case ASCII words separated by single spaces, "
                                                    "as titles are compared (\"not-for-sale\" is \"not for sale\")"),
}

#: signals whose weight is read in context (format and era): see [context] in the policy
CONTEXT_SIGNALS = ("barcode_unknown", "barcode_none", "no_catalog_number")
#: [context] keys, their types and defaults (a factor of 1 everywhere: no context)
CONTEXT_PARAMS: dict[str, tuple[type, object]] = {
    "digital_formats": (list, []),
    "digital_factor": (float, 1.0),
    "barcode_year": (int, 0),
    "early_factor": (float, 1.0),
    "peak_from": (int, 0),
    "peak_to": (int, 0),
    "peak_formats": (list, []),
    "peak_factor": (float, 1.0),
}
MAX_FACTOR = 5.0
MAX_PARAM = 1_000_000
MAX_SCORE_CAP = 1000

@dataclass
class Signal:
    name: str
    weight: int
    explain: str
    params: dict = field(default_factory=dict)
    #: what it reads: the engine's SIGNAL_INPUTS and whatever the policy added
    inputs: Inputs = field(default_factory=Inputs)
    label: str = ""  # the few words curators read; empty: the name


#: [bands] keys, their types and defaults: the lowest score of each band, checked 0 < watch < at_risk
BAND_PARAMS: dict[str, tuple[type, object]] = {"at_risk": (int, 25), "watch": (int, 10)}
DEFAULT_BANDS = {k: d for k, (_t, d) in BAND_PARAMS.items()}
MAX_LABEL = 60
#: what each band of `Policy.band` is called where people read it
BAND_NAMES = {"at-risk": "at risk", "watch": "watch", "low": "little or no signal"}


@dataclass
class Policy:
    version: str
    signals: dict[str, Signal]
    max_score: int = 100
    source: str = ""
    context: dict = field(default_factory=lambda: {k: d for k, (_t, d) in CONTEXT_PARAMS.items()})
    bands: dict = field(default_factory=lambda: dict(DEFAULT_BANDS))
    #: the TOML text it was loaded from ("" when built in code: `policies.policy_text` renders one)
    text: str = ""

    def explain(self, name: str) -> str:
        sig = self.signals.get(name)
        if sig is not None:
            return sig.explain
        if not self.signals:
            return f"(the text of policy {self.version} is not stored: run `mbindex score` to explain)"
        return f"(signal {name!r} is not in policy {self.version})"

    def missing_inputs(self, name: str, includes, fields, facts) -> list[str]:
        """Why signal `name` is not assessed for a release fetched with
        `includes`, whose document carried `fields` and with these known
        upstream `facts`: one phrase per missing input ([] when assessed)."""
        sig = self.signals.get(name)
        inputs = sig.inputs if sig else SIGNAL_INPUTS.get(name, Inputs())
        out = [f"not fetched with inc={i}" for i in inputs.includes if i not in includes]
        out += [f"the document has no {f!r} field (a search hit?)" for f in inputs.fields if f not in fields]
        out += [f"upstream fact {f} not fetched (run `mbindex enrich`)" for f in inputs.facts if f not in facts]
        return out

    def label(self, name: str) -> str:
        """The signal's human label; its name when the policy gives none or does not know it."""
        sig = self.signals.get(name)
        return sig.label if sig and sig.label else name

    def band(self, score: int | None) -> str:
        """"at-risk", "watch" or "low" (little or no signal) for a score, by the policy's [bands]."""
        if score is not None and score >= self.bands["at_risk"]:
            return "at-risk"
        if score is not None and score >= self.bands["watch"]:
            return "watch"
        return "low"

    def context_factor(self, formats: list[str], year: int | None) -> tuple[float, str]:
        """The factor of a release's context and why (the same rule as CONTEXT_SQL)."""
        c = self.context
        if formats and set(formats) <= set(c["digital_formats"]):
            return c["digital_factor"], "digital release"
        if year is not None and year < c["barcode_year"]:
            return c["early_factor"], f"from before {c['barcode_year']}"
        if year is not None and c["peak_from"] <= year <= c["peak_to"] and set(formats) & set(c["peak_formats"]):
            return c["peak_factor"], f"{'/'.join(sorted(set(formats) & set(c['peak_formats'])))} " \
                                     f"from {c['peak_from']}-{c['peak_to']}"
        return 1.0, ""

    def weight_in_context(self, name: str, formats: list[str], year: int | None) -> int | None:
        """The weight a signal adds to a release of these formats and year."""
        sig = self.signals.get(name)
        if sig is None:
            return None
        if name not in CONTEXT_SIGNALS:
            return sig.weight
        # half away from zero, like PostgreSQL's round(numeric)
        factor = Decimal(str(self.context_factor(formats, year)[0]))
        return int((sig.weight * factor).quantize(Decimal(1), ROUND_HALF_UP))

    def bind(self) -> dict:
        out: dict = {"max_score": self.max_score, "policy_version": self.version}
        for sig in self.signals.values():
            out[f"w_{sig.name}"] = sig.weight
            for key, value in sig.params.items():
                out[f"p_{sig.name}_{key}"] = value
        out.setdefault("p_no_label_no_label_mbid", "157afde4-4bf5-4039-8ad2-5a15acc85176")
        out.setdefault("p_sparse_tracklist_unknown_titles", ["[unknown]"])
        out.setdefault("p_uncatalogued_catalogues", [])
        # derived: what the SQL matches, built once from the checked lists (`_NORMAL_FORMS`: no LIKE
        # or regex metacharacter can be in them); the label CTE reads the patterns whatever the policy
        prefixes = out.get("p_promo_catalog_number_prefixes", [])
        out["p_promo_catalog_number_patterns"] = [p + "%" for p in prefixes]
        words = out.get("p_promo_words_words", [])
        out["p_promo_words_pattern"] = (
            "(^|[^a-z0-9])(" + "|".join(w.replace(" ", "[^a-z0-9]+") for w in words) + ")([^a-z0-9]|$)"
            if words else "(?!)")  # no word: matches nothing
        out.update({f"ctx_{k}": v for k, v in self.context.items()})
        return out


def _fail(path, message: str):
    raise PolicyError(f"policy {path}: {message}")


def _check_value(path, where: str, value, typ: type):
    """One parameter: the right type, flat lists of short strings, bounded numbers, a UUID where one is due."""
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, typ) or isinstance(value, bool):
        _fail(path, f"{where} must be a {'number' if typ is float else typ.__name__}")
    if typ is list and not all(isinstance(x, str) and 0 < len(x) <= 200 for x in value):
        _fail(path, f"{where} must be a flat list of short strings (1-200 characters each)")
    if typ is list and len(value) > 1000:
        _fail(path, f"{where} has more than 1000 entries")
    if typ is int and not 0 <= value <= MAX_PARAM:
        _fail(path, f"{where} must be between 0 and {MAX_PARAM}")
    if typ is float and not 0 <= value <= MAX_FACTOR:
        _fail(path, f"{where} must be a factor between 0 and {MAX_FACTOR:g}")
    form = _NORMAL_FORMS.get(where.rsplit(".", 1)[-1]) if typ is list else None
    if form is not None:
        bad = next((x for x in value if not form[0].fullmatch(x)), None)
        if bad is not None:
            _fail(path, f"{where}: {bad!r} must be {form[1]}")
    if typ is str and where.endswith("no_label_mbid"):
        try:
            uuid.UUID(value)
        except ValueError:
            _fail(path, f"{where} must be an MBID (a UUID such as 157afde4-4bf5-4039-8ad2-5a15acc85176)")
    return value


def _load_signal(path, name: str, spec) -> Signal:
    if name not in SIGNAL_INPUTS:
        _fail(path, f"unknown signal {name!r} (known: {', '.join(sorted(SIGNAL_INPUTS))})")
    if not isinstance(spec, dict):
        _fail(path, f"signals.{name} must be a table")
    weight = spec.get("weight")
    if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
        _fail(path, f"signals.{name}.weight must be an integer 0-100")
    explain = spec.get("explain")
    if not isinstance(explain, str) or not explain.strip() or len(explain) > 500:
        _fail(path, f"signals.{name}.explain (one line) is required")
    label = spec.get("label", "")
    if not isinstance(label, str) or len(label) > MAX_LABEL or any(ch in label for ch in "\r\n"):
        _fail(path, f"signals.{name}.label must be one line of at most {MAX_LABEL} characters")
    params = {}
    for key, typ in SIGNAL_PARAMS.get(name, {}).items():
        if key in spec:
            params[key] = _check_value(path, f"signals.{name}.{key}", spec[key], typ)
        elif name in REQUIRED_PARAMS:
            _fail(path, f"signals.{name}.{key} is required")
    return Signal(name, weight, explain.strip(), params, SIGNAL_INPUTS[name] | _declared_inputs(path, name, spec),
                  label.strip())


def _declared_inputs(path, name: str, spec: dict) -> Inputs:
    """The policy's `includes` / `facts` / `fields` of a signal: lists of known input names."""
    found = {}
    for kind, known in KNOWN_INPUTS.items():
        value = spec.get(kind, [])
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            _fail(path, f"signals.{name}.{kind} must be a list of names")
        unknown = [x for x in value if x not in known]
        if unknown:
            _fail(path, f"signals.{name}.{kind} names no such input {unknown[0]!r} (known: {', '.join(known)})")
        found[kind] = tuple(value)
    return Inputs(**found)


def _load_table(path, name: str, raw, params: dict[str, tuple[type, object]]) -> dict:
    """A table of typed keys ([context], [bands]): each checked, a missing one its default."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        _fail(path, f"[{name}] must be a table")
    unknown = set(raw) - set(params)
    if unknown:
        _fail(path, f"unknown [{name}] key(s) {', '.join(sorted(unknown))} (known: {', '.join(params)})")
    return {key: _check_value(path, f"{name}.{key}", raw[key], typ) if key in raw else default
            for key, (typ, default) in params.items()}


def _load_context(path, raw) -> dict:
    return _load_table(path, "context", raw, CONTEXT_PARAMS)


def _load_bands(path, raw) -> dict:
    """[bands]: the lowest score of "at risk" and of "watch" (defaults DEFAULT_BANDS), 0 < watch < at_risk."""
    bands = _load_table(path, "bands", raw, BAND_PARAMS)
    if not 0 < bands["watch"] < bands["at_risk"] <= MAX_SCORE_CAP:
        _fail(path, f"[bands] needs 0 < watch < at_risk <= {MAX_SCORE_CAP}, got watch = {bands['watch']}, "
                    f"at_risk = {bands['at_risk']}")
    return bands


def load_policy(path: str | Path | None = None) -> Policy:
    """The policy in file `path` (default: the bundled one), checked whole; PolicyError names what is wrong."""
    path = Path(path) if path else DEFAULT_POLICY
    try:
        source = read_text(path, "policy file")
    except FileNotFoundError:
        raise PolicyError(f"policy file not found: {path}") from None
    except TomlFileError as exc:  # too big (/dev/zero), not UTF-8
        raise PolicyError(str(exc)) from None
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc.strerror or exc}") from None
    return parse_policy(source, path)


def parse_policy(source: str, path) -> Policy:
    """A policy from its TOML text (a file's, or one stored with the scores);
    `path` names it in errors.  Bounded like a file: nesting, control
    characters (`tomlfile`)."""
    try:
        data = parse_toml(source, path, "policy file")
    except TomlFileError as exc:  # too deep, not TOML, a control character
        raise PolicyError(str(exc)) from None
    version = data.get("version")
    if not isinstance(version, str) or not version or len(version) > 100:
        _fail(path, "'version' (a string) is required")
    if not version.isprintable():
        _fail(path, f"'version' must be printable text, got {version!r}")
    raw = data.get("signals")
    if not isinstance(raw, dict) or not raw:
        _fail(path, "no [signals.*] tables")
    signals = {name: _load_signal(path, name, spec) for name, spec in raw.items()}
    max_score = data.get("max_score", 100)
    if not isinstance(max_score, int) or isinstance(max_score, bool) or not 0 < max_score <= MAX_SCORE_CAP:
        _fail(path, f"max_score must be an integer from 1 to {MAX_SCORE_CAP}")
    return Policy(version=version, signals=signals, max_score=max_score, source=str(path),
                  context=_load_context(path, data.get("context")), bands=_load_bands(path, data.get("bands")),
                  text=source)



class PolicyConflict(PolicyError):
    """A policy's version is stored with different content."""


def policy_text(policy: Policy) -> str:
    """The TOML text of a policy: the file it was loaded from, or (built or
    changed in code, `text` empty) a rendering that loads back to the same policy."""
    if policy.text:
        return policy.text
    toml = lambda v: json.dumps(v, ensure_ascii=False)  # noqa: E731  (JSON strings, numbers, lists are TOML)
    lines = [f"version = {toml(policy.version)}", f"max_score = {policy.max_score}", "", "[context]"]
    lines += [f"{k} = {toml(policy.context[k])}" for k in CONTEXT_PARAMS]
    for sig in policy.signals.values():
        lines += ["", f"[signals.{sig.name}]", f"weight = {sig.weight}", f"explain = {toml(sig.explain)}"]
        if sig.label:
            lines.append(f"label = {toml(sig.label)}")
        lines += [f"{k} = {toml(sig.params[k])}" for k in SIGNAL_PARAMS.get(sig.name, {}) if k in sig.params]
        base = SIGNAL_INPUTS[sig.name]
        for kind in ("includes", "facts", "fields"):
            extra = [x for x in getattr(sig.inputs, kind) if x not in getattr(base, kind)]
            if extra:
                lines.append(f"{kind} = {toml(extra)}")
    return "\n".join(lines) + "\n"


def policy_sha256(policy: Policy) -> str:
    return hashlib.sha256(policy_text(policy).encode("utf-8")).hexdigest()


def conflict(policy: Policy, stored_sha: str) -> PolicyConflict:
    return PolicyConflict(f"policy {policy.source or policy.version}: version {policy.version!r} is already stored "
                          f"with different content (sha256 {stored_sha[:12]}, this file {policy_sha256(policy)[:12]}): "
                          "give the changed policy a new `version`")
