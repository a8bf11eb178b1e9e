"""Generates realistic MusicBrainz JSON data dumps (`release.tar.xz` or JSON lines).

    .venv/bin/python bench/make_dump.py --releases N --out PATH [--seed S] [--bad-lines K]
                                        [--timestamp "2025-11-22 00:00:00.000000+00"] [--xz-preset P]

PATH ending in `.tar.xz` gives an archive shaped like the official dump: the small
files `COPYING`, `README`, `REPLICATION_SEQUENCE`, `SCHEMA_SEQUENCE`,
`JSON_DUMPS_SCHEMA_NUMBER`, `TIMESTAMP` first, then `mbdump/release` (one compact
JSON release per line, newline-terminated).  Any other PATH gets the bare JSON lines.
The archive is a GNU tar (as GNU tar writes it: 512-byte headers, 10 KiB records;
sizes over 8 GiB fit), written uncompressed to a temporary file next to PATH as
the lines are generated (the header of mbdump/release is filled in once its size
is known), then compressed by `xz -T0 -3` (Python's lzma when there is no `xz`;
--xz-preset 6 makes a ~28 % smaller file, 4x slower).  PATH appears only
when complete (written under a temporary name, then renamed), so a killed run
leaves no half-written PATH behind (its temporary files are removed by the next
run for the same PATH).  Memory stays flat (~60 MB) whatever N is; the temporary
file needs about 13 KB of disk per line.

Importable:

    iter_release_lines(n, seed=0, bad_lines=0) -> Iterator[str]    # lines, no trailing newline
    iter_refreshed_lines(n, seed=0, bad_lines=0, changed=0.01, removed=0.001, added=0.001)
                                         # the next dump: lines edited, removed, added; the rest byte for byte
    write_dump(path, n, seed=0, bad_lines=0, timestamp=None, xz_preset=3) -> dict
                                         # {path, lines, bytes, raw_bytes (uncompressed lines), seconds}
    release_id(seed, j) -> str           # the id of the j-th valid release (0-based, bad lines not counted)
    bad_line_positions(n, bad_lines, seed=0) -> list[int]            # 0-based line numbers, ascending

What a line is made of
----------------------
Every valid line is a variation of one of the real ws/2 release lookups in
tests/fixtures/ws2/release/ (same shape as the official dump lines), parsed afresh
from its compact JSON (faster than copy.deepcopy) and changed in place.  The
templates rotate in a fixed weighted cycle: the two big ones (65 KB and 123 KB)
come once per cycle, the nine small ones three times, so a line averages 13 KB
(median 6 KB).
c9d52105-5c20-3216-bc1b-e54918f8f688 (442 KB, huge recording relation lists) is
used only for valid release j with j % 1000 == 500: once per 1000, kept whole as
the "huge line" case.

Deterministic for a given seed: the same (n, seed, bad_lines) gives byte-identical
lines, and valid release j is the same whatever n and bad_lines are (a smaller
dump is a prefix of a larger one, bad lines aside).  What varies, drawn from one
random.Random(seed):

* "id": release_id(seed, j), a version-4 UUID hashed from seed and j (unique);
* editions: releases of one template come in groups (85 % of size 1, 9 % 2-3,
  4.5 % 4-8, 1.5 % 9-60: about half the releases are their group's only
  edition) that share the release-group object (new id, title,
  first-release-date), the title, the artist mapping and the recording ids; a
  group's releases are one rotation cycle apart; about 5 % of the groups are
  real editions (real release group, title, artists and recordings);
* titles: the template's or 1-4 words from a word list, sometimes with an
  edition suffix (" (Deluxe Edition)", " (variant N)", ...);
* artists: release-level credited artists (not Various Artists) map to a
  long-tail pool of 250,000 synthetic artists (id, name, type, country fixed
  per pool index, whatever the seed) or, 10 % of the time, stay the real ones;
  the same mapping applies to the release group's, tracks' and recordings' credits;
* media: new medium and track ids; tracks dropped or duplicated (bonus tracks,
  new track and recording ids), positions renumbered, "number" rewritten ("1".. or
  "A1".. on vinyl and cassette), "track-count" updated (and the release-level
  "track-count" where the template has one); a few tracklists made sparse (no
  lengths, "[unknown]" titles); formats drawn per era from a realistic mix (CD,
  Digital Media, 12"/7"/10" Vinyl, Cassette, CD-R, DVD-Video, SACD, MiniDisc, ...,
  null), video discs of a set kept;
* status (Official mostly; Promotion, Bootleg, Pseudo-Release, Withdrawn,
  Cancelled, null), quality, packaging (matched to the format), barcode (null,
  "" or a UPC/EAN with a valid check digit), ASIN, disambiguation;
* date and country: years 1950-2025 growing steadily and faster after 2015
  (editions are reissues on or after the group's first year), precision
  day/month/year, 30 countries with real area objects, XW favoured for digital;
  release-events rewritten to match; ~4 % without any event (no "date",
  "country", "release-events", as MusicBrainz serves them) and ~3 % with an
  unknown country;
* label-info: the template's labels with varied catalogue numbers, or a label
  from a synthetic pool, or "[no label]" (157afde4-4bf5-4039-8ad2-5a15acc85176),
  or empty; catalogue numbers sometimes null;
* relations: kept (URL relations get new URL ids and resources), reduced to the
  URL ones, or emptied;
* cover-art-archive: count 0..40 with front/back/artwork to match.

Keys and value types stay those of the template (ws/2 shape): a key is set only
where the template has it and removed only in the no-release-event case above;
the one type changes are nullable fields turning null or non-null (barcode,
asin, status, packaging, format, catalog-number, country, lengths, label-code,
annotation, a release event's area, the null label of one template's label-info
becoming a label object).  Every valid line maps with indexer.mapping.map_release.

Bad lines (--bad-lines K)
-------------------------
K of the n lines are malformed, at bad_line_positions(n, K, seed) (spread
deterministically over the file); the b-th bad line in file order is of kind
BAD_KINDS[b % 5]:

  0 "truncated"   a release line cut off in the middle (not valid JSON);
  1 "not-json"    a tab-separated text row, as if another file had leaked in;
  2 "array"       a JSON array holding one release object;
  3 "no-id"       a valid release object without the "id" key;
  4 "invalid-id"  a valid release object whose "id" is "not-a-uuid".

So n - K lines are JSON objects with unique valid UUIDs; bad lines never reuse
a valid line's id, and valid release j stays the same with or without them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import hashlib
import json
import lzma
import os
import random
import re
import shutil
import subprocess
import tarfile
import time
import uuid
from bisect import bisect
from itertools import accumulate
from pathlib import Path
from typing import Iterator

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent / "tests" / "fixtures" / "ws2" / "release"

HUGE_TEMPLATE = "c9d52105-5c20-3216-bc1b-e54918f8f688"
HUGE_EVERY, HUGE_AT = 1000, 500
BIG_BYTES = 50_000  # templates over this come once per rotation cycle, the others three times

DEFAULT_TIMESTAMP = "2025-11-22 00:00:00.000000+00"
JSON_DUMPS_SCHEMA_NUMBER = "1"
SCHEMA_SEQUENCE = "30"  # illustrative only: nothing reads it
REPLICATION_SEQUENCE = "0"
DEFAULT_XZ_PRESET = 3  # xz -6 is 3x slower here for a ~30 % smaller file

NO_LABEL_ID = "157afde4-4bf5-4039-8ad2-5a15acc85176"
VARIOUS_ARTISTS_ID = "89ad4ac3-39f7-470e-963a-56509c546377"
ARTIST_POOL = 250_000
LABEL_POOL = 40_000

BAD_KINDS = ("truncated", "not-json", "array", "no-id", "invalid-id")

# MusicBrainz gids of the fixed lists are uuid3(NAMESPACE_URL, "<table><row id>"); checked
# against every value in tests/fixtures (CD, Digital Media, 12" Vinyl, DVD-Video, Blu-ray,
# Enhanced CD, Official, Promotion, Bootleg, packagings); the others follow the same rule.
FORMAT_IDS = {
    "CD": "9712d52a-4509-3d4b-a1a2-67c88c643e31",
    "Digital Media": "907a28d9-b3b2-3ef6-89a8-7b18d91d4794",
    '12" Vinyl': "3e9080b0-5e6c-34ab-bd15-f526b6306a64",
    '7" Vinyl': "1d5a48e4-e94a-36dc-84e2-0c5f9f880aa7",
    '10" Vinyl': "3155d2b6-52fd-3952-bda3-bd7c429d038d",
    "Vinyl": "10e17707-9751-3aaf-95b2-2432acd5374c",
    "Cassette": "f5e6e254-8f39-331c-936b-9c69d686dc47",
    "CD-R": "18805d5b-ff3a-3bc0-9b1f-188cc06415c8",
    "DVD": "2875c583-4580-3a90-b723-ba1b39921e23",
    "DVD-Video": "bb71fd58-ff93-32b4-a201-4ad1b2a80e5f",
    "SACD": "5c9021b5-aecf-3339-b78e-c7bbe427c342",
    "Blu-ray": "c693c05b-3316-3d69-afc2-5e2bc455bffc",
    "Enhanced CD": "8a08dc62-1aa2-34de-a904-fa467c53052c",
    "MiniDisc": "671c5ed4-20e3-3a62-b6ea-f155cde04258",
    "DAT": "0bef8b9c-f1f8-3f49-a737-dde52fb120ea",
    "Reel-to-reel": "58016447-3617-3da2-b1d0-7646c2a7797e",
    "VHS": "ec44fdc0-739e-386a-818c-dafa1215b487",
    None: None,
}
VIDEO_FORMATS = {"DVD-Video", "DVD", "Blu-ray", "VHS"}
SIDED_FORMATS = {'12" Vinyl', '7" Vinyl', '10" Vinyl', "Vinyl", "Cassette", "Reel-to-reel"}
DISC_ID_FORMATS = {"CD", "CD-R", "Enhanced CD", "SACD"}

# (first year, [(format, weight), ...]) for the edition's year
FORMAT_ERAS = [
    (0, [('12" Vinyl', 45), ('7" Vinyl', 30), ('10" Vinyl', 10), ("Vinyl", 10), ("Reel-to-reel", 3), (None, 2)]),
    (1964, [('12" Vinyl', 45), ('7" Vinyl', 22), ("Cassette", 20), ("Vinyl", 8), ("Reel-to-reel", 2), (None, 3)]),
    (1983, [("CD", 55), ("Cassette", 20), ('12" Vinyl', 10), ('7" Vinyl', 5), ("CD-R", 2), ("MiniDisc", 1),
            ("DAT", 1), ("VHS", 2), (None, 4)]),
    (1995, [("CD", 60), ("Cassette", 8), ('12" Vinyl', 7), ("CD-R", 6), ("Enhanced CD", 3), ("Digital Media", 4),
            ("MiniDisc", 2), ('7" Vinyl', 3), ("DVD-Video", 2), ("VHS", 1), (None, 4)]),
    (2005, [("CD", 42), ("Digital Media", 35), ('12" Vinyl', 6), ("CD-R", 6), ("DVD-Video", 2), ("DVD", 1),
            ("SACD", 2), ("Enhanced CD", 1), ("Cassette", 1), ('7" Vinyl', 1), (None, 3)]),
    (2013, [("Digital Media", 58), ("CD", 22), ('12" Vinyl', 9), ("Cassette", 3), ("CD-R", 3), ('7" Vinyl', 2),
            ("Blu-ray", 1), ("DVD-Video", 1), (None, 1)]),
]

STATUSES = [  # (status, status-id, weight)
    ("Official", "4e304316-386d-3409-af2e-78857eec5cfe", 83),
    ("Promotion", "518ffc83-5cde-34df-8627-81bff5093d92", 5),
    ("Bootleg", "1156806e-d06a-38bd-83f0-cf2284a808b9", 6),
    ("Pseudo-Release", "41121bb9-3413-3818-8a9a-9742318349aa", 1.5),
    ("Withdrawn", "39b8125d-ecaf-3930-90fe-480a97439c07", 1),
    ("Cancelled", "6e7fb6c1-09d4-3177-90c0-eb9471e3459d", 0.5),
    (None, None, 3),
]

PACKAGING_IDS = {
    "Jewel Case": "ec27701a-4a22-37f4-bfac-6616e0f9750a",
    "Slim Jewel Case": "36327bc2-f691-3d66-80e5-bd03cec6060a",
    "Digipak": "8f931351-d2e2-310f-afc6-37b89ddba246",
    "Cardboard/Paper Sleeve": "f7101ce3-0384-39ce-9fde-fbbd0044d35f",
    "Gatefold Cover": "e724a489-a7e8-30a1-a17c-30dfd6831202",
    "Box": "c1668fc7-8944-4a00-bc3e-46e8d861d211",
    "Other": "815b7785-8284-3926-8f04-e48bc6c4d102",
    "None": "119eba76-b343-3e02-a292-f0f00644bb9b",
    None: None,
}
PACKAGING_MIX = {
    "disc": [("Jewel Case", 45), ("Digipak", 14), ("Cardboard/Paper Sleeve", 10), ("Slim Jewel Case", 5),
             ("Box", 2), ("Other", 3), ("None", 3), (None, 18)],
    "sided": [("Cardboard/Paper Sleeve", 45), ("Gatefold Cover", 12), ("Other", 8), ("None", 3), (None, 32)],
    "digital": [("None", 60), (None, 40)],
}

# real area objects (from the ws/2 fixtures): code -> (id, name, sort-name), with weights
AREAS = {
    "US": ("489ce91b-6658-3307-9877-795b68554c98", "United States", "United States", 20),
    "GB": ("8a754a16-0027-3a29-b6d7-2b40ea0481ed", "United Kingdom", "United Kingdom", 12),
    "XW": ("525d4e18-3d00-31b9-a58b-a146a916de8f", "[Worldwide]", "[Worldwide]", 10),
    "DE": ("85752fda-13c4-31a3-bee5-0e5cb1f51dad", "Germany", "Germany", 8),
    "JP": ("2db42837-c832-3c27-b4a3-08198f75693c", "Japan", "Japan", 8),
    "XE": ("89a675c2-3e37-3518-b83c-418bad59a85a", "Europe", "Europe", 6),
    "FR": ("08310658-51eb-3801-80de-5a0739207115", "France", "France", 4),
    "NL": ("ef1b7cc0-cd26-36f4-8ea0-04d9623786c7", "Netherlands", "Netherlands", 3),
    "CA": ("71bbafaa-e825-3e15-8ca9-017dcad1748b", "Canada", "Canada", 3),
    "AU": ("106e0bec-b638-3b37-b731-f53d507dc00e", "Australia", "Australia", 3),
    "IT": ("c6500277-9a3d-349b-bf30-41afdbf42add", "Italy", "Italy", 2),
    "SE": ("23d10872-f5ae-3f0c-bf55-332788a16ecb", "Sweden", "Sweden", 2),
    "ES": ("471c46a7-afc5-31c4-923c-d0444f5053a4", "Spain", "Spain", 2),
    "BR": ("f45b47f8-5796-386e-b172-6c31b009a5d8", "Brazil", "Brazil", 1.5),
    "RU": ("1f1fc3a4-9500-39b8-9f10-f0a465557eef", "Russia", "Russia", 1.5),
    "KR": ("b9f7d640-46e8-313e-b158-ded6d18593b3", "South Korea", "South Korea", 1),
    "MX": ("3e08b2cd-69f3-317c-b1e4-e71be581839e", "Mexico", "Mexico", 1),
    "PL": ("dd7f80c8-f017-3d01-8608-2a8c9c32b954", "Poland", "Poland", 1),
    "BE": ("5b8a5ee5-0bb3-34cf-9a75-c27c44e341fc", "Belgium", "Belgium", 1),
    "AT": ("caac77d1-a5c8-3e6e-8e27-90b44dcc1446", "Austria", "Austria", 0.7),
    "CH": ("1333ff06-8e3d-3c8e-9f3a-13a2a38b41df", "Switzerland", "Switzerland", 0.7),
    "DK": ("4757b525-2a60-324a-b060-578765d2c993", "Denmark", "Denmark", 0.7),
    "NO": ("6743d351-6f37-3049-9724-5041161fff4d", "Norway", "Norway", 0.7),
    "FI": ("6a264f94-6ff1-30b1-9a81-41f7bfabd616", "Finland", "Finland", 0.7),
    "IE": ("390b05d4-11ec-3bce-a343-703a366b34a5", "Ireland", "Ireland", 0.5),
    "NZ": ("8524c7d9-f472-3890-a458-f28d5081d9c4", "New Zealand", "New Zealand", 0.5),
    "PT": ("781b0c54-3d54-362d-a941-8a617def4992", "Portugal", "Portugal", 0.5),
    "GR": ("803db0ca-b6ed-3bbc-aeb8-f89efd0a2168", "Greece", "Greece", 0.5),
    "CZ": ("51d34c28-61bf-3d21-849f-7492672a9d44", "Czechia", "Czechia", 0.5),
    "AR": ("0df04709-c7d8-3b55-a6ea-f3e5069a947b", "Argentina", "Argentina", 0.5),
}
ARTIST_COUNTRIES = ["US", "GB", "DE", "JP", "FR", "SE", "CA", "AU", "NL", "IT", "BR", "KR", "FI", "NO", None]
ARTIST_TYPES = [("Group", "e431f5f6-b5d2-343d-8b36-72607fffb74b"), ("Person", "b6e035f4-3ce9-331c-97df-83397230b0df")]
LABEL_TYPES = [("Original Production", "7aaa37fe-2def-3476-b359-80245850062d"),
               ("Imprint", "b6285b2a-3514-3d43-80df-fcf528824ded"),
               ("Holding", "43f31a62-97e4-36f6-9752-453c131b71ed")]

WORDS = (
    "after all amber angel april autumn black blue blood broken burning city cold crystal dance dark dawn "
    "days deep desert distant dream dust echo electric empire endless evening fading fire first flowers "
    "forever forest free ghost glass gold golden gravity green heart heavy hidden highway holy home honey "
    "hunger ice iron island last light little lonely lost love machine midnight mirror modern moon morning "
    "mountain night northern ocean orange other paper paradise people quiet rain red river road room "
    "royal running sea secret shadow silent silver sky sleep slow small smoke snow soft song soul sound "
    "space spring stars static stone storm strange summer sun sweet tears thunder time tomorrow tonight "
    "true twilight under velvet violet voices waiting water waves white wild winter wire wolves world "
    "yellow young"
).split()
FIRST_NAMES = (
    "Ada Alex Ana Ben Carla Chen Dana David Elena Emil Eva Felix Hana Ivan Jack Jin Julia Kai Kenji Lars Lea "
    "Leo Lina Luca Maya Mia Milan Nadia Nina Noah Omar Oscar Paula Pedro Rosa Ruth Sam Sara Sofia Tom Vera Yuki"
).split()
LAST_NAMES = (
    "Adams Berg Brandt Castro Costa Dahl Engel Fischer Garcia Hall Hansen Ito Jansen Kato Keller Klein Kowalski "
    "Lang Lopez Moreau Morris Nakamura Novak Olsen Park Perez Quinn Rossi Sato Schmidt Silva Stone Svensson "
    "Tanaka Vogel Walsh Weber Wong Young Zimmer"
).split()
LABEL_SUFFIXES = ["Records", "Recordings", "Music", "Sound", "Tapes", "Audio", "Editions", "Label"]
TITLE_SUFFIXES = [" (Deluxe Edition)", " (Remastered)", " (Expanded Edition)", " (Live)", " (Anniversary Edition)",
                  " (Bonus Track Version)", " (Mono)", " (variant {n})", " (variant {n})", " (variant {n})"]
BONUS_SUFFIXES = [" (live)", " (demo)", " (remix)", " (instrumental)", " (radio edit)", " (acoustic)",
                  " (bonus track)"]
DISAMBIGUATIONS = ["limited edition", "clean", "explicit", "remaster", "promo", "stereo", "mono", "club edition",
                   "white label", "first pressing", "reissue", "numbered edition"]

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_DIGITS = re.compile(r"\d")
_DIGIT_RUN = re.compile(r"\d{3,}")
_ASIN_IN_URL = re.compile(r"(?<=/product/)[A-Z0-9]{10}|(?<=/dp/)[A-Z0-9]{10}")


def _weighted(pairs):
    """(values, cumulative weights) for random.choices."""
    return [p[0] for p in pairs], list(accumulate(p[1] for p in pairs))


_YEARS = list(range(1950, 2026))
_YEAR_CUM = list(accumulate((1 + 0.15 * (y - 1950)) if y <= 2015 else (10.75 + 2.5 * (y - 2015)) for y in _YEARS))
_ERA_STARTS = [e[0] for e in FORMAT_ERAS]
_ERA_MIX = [_weighted(e[1]) for e in FORMAT_ERAS]
_STATUS_MIX = _weighted([((s, sid), w) for s, sid, w in STATUSES])
_AREA_MIX = _weighted([(code, v[3]) for code, v in AREAS.items()])
_PACKAGING_MIX = {k: _weighted(v) for k, v in PACKAGING_MIX.items()}


def _pick(rng: random.Random, mix):
    values, cum = mix
    return rng.choices(values, cum_weights=cum)[0]


def _hash_uuid(*parts) -> str:
    """A version-4-shaped UUID from a hash of parts (stable across runs and Python versions)."""
    digest = hashlib.md5(":".join(map(str, ("mbindex-make-dump",) + parts)).encode()).digest()
    return str(uuid.UUID(bytes=digest, version=4))


def release_id(seed: int, j: int) -> str:
    """The "id" of the j-th valid release (0-based, bad lines not counted) for this seed."""
    return _hash_uuid(seed, "release", j)


def bad_line_positions(n: int, bad_lines: int, seed: int = 0) -> list[int]:
    """The 0-based line numbers (ascending) of the bad lines in an n-line dump."""
    if not 0 <= bad_lines <= n:
        raise ValueError(f"bad_lines must be between 0 and the number of lines ({n}), not {bad_lines}")
    return sorted(random.Random(f"mbindex-make-dump:{seed}:bad-positions").sample(range(n), bad_lines))


# --- templates ----------------------------------------------------------------------------


class _Template:
    __slots__ = ("name", "text", "doc", "size", "artist_ids", "small")

    def __init__(self, name: str, doc: dict):
        self.name = name
        self.doc = doc  # read only: shared pieces are copied before they change
        self.text = _encode(doc)
        self.size = len(self.text.encode())
        ids = []
        credits = [doc.get("artist-credit")]
        if isinstance(doc.get("release-group"), dict):
            credits.append(doc["release-group"].get("artist-credit"))
        for credit in credits:
            for item in credit or []:
                artist = item.get("artist") if isinstance(item, dict) else None
                aid = artist.get("id") if isinstance(artist, dict) else None
                if aid and aid != VARIOUS_ARTISTS_ID and aid not in ids:
                    ids.append(aid)
        self.artist_ids = ids
        self.small = self.size < 20_000


_TEMPLATES: list[_Template] | None = None


def _templates() -> list[_Template]:
    global _TEMPLATES
    if _TEMPLATES is None:
        paths = sorted(CORPUS.glob("*.json"))
        if not paths:
            raise SystemExit(f"no release documents in {CORPUS}")
        _TEMPLATES = [_Template(p.stem, json.loads(p.read_text(encoding="utf-8"))) for p in paths]
    return _TEMPLATES


def _cycle(templates: list[_Template]) -> list[int]:
    """Weighted rotation, spread evenly (smooth weighted round robin)."""
    weights = [0 if t.name == HUGE_TEMPLATE else (1 if t.size > BIG_BYTES else 3) for t in templates]
    current = [0] * len(weights)
    out = []
    for _ in range(sum(weights)):
        for i, w in enumerate(weights):
            current[i] += w
        best = max(range(len(weights)), key=lambda i: (current[i], -i))
        current[best] -= sum(weights)
        out.append(best)
    return out


# --- synthetic pools (fixed per index, whatever the seed) ----------------------------------


def _artist_name(k: int) -> tuple[str, str, bool]:
    """(name, sort-name, is a person) of pool artist k."""
    person = k % 5 < 2
    if person:
        first, last = FIRST_NAMES[k % len(FIRST_NAMES)], LAST_NAMES[(k // len(FIRST_NAMES)) % len(LAST_NAMES)]
        rest = k // (len(FIRST_NAMES) * len(LAST_NAMES))
        suffix = f" {rest + 1}" if rest else ""
        return f"{first} {last}{suffix}", f"{last}, {first}{suffix}", True
    a, b = WORDS[(k * 7) % len(WORDS)], WORDS[(k // len(WORDS) + k) % len(WORDS)]
    rest = k // (len(WORDS) * len(WORDS))
    name = f"{a.title()} {b.title()}" + (f" {rest + 1}" if rest else "")
    if k % 3 == 0:
        return "The " + name, name + ", The", False
    return name, name, False


def _pool_artist(k: int, like: dict) -> dict:
    name, sort_name, person = _artist_name(k)
    kind, kind_id = ARTIST_TYPES[1 if person else 0]
    out = {}
    for key, value in like.items():
        if key == "id":
            value = _hash_uuid("artist", k)
        elif key == "name":
            value = name
        elif key == "sort-name":
            value = sort_name
        elif key == "disambiguation":
            value = ""
        elif key == "type":
            value = kind
        elif key == "type-id":
            value = kind_id
        elif key == "country":
            value = ARTIST_COUNTRIES[(k // 7) % len(ARTIST_COUNTRIES)]
        elif isinstance(value, list):
            value = []
        out[key] = value
    return out


def _pool_label(k: int, like: dict | None) -> dict:
    word = WORDS[(k * 11) % len(WORDS)].title()
    other = WORDS[(k // len(WORDS) + 3 * k) % len(WORDS)].title()
    rest = k // (len(WORDS) * len(WORDS))
    name = (f"{word} {other}" if k % 2 else word) + f" {LABEL_SUFFIXES[k % len(LABEL_SUFFIXES)]}" + (
        f" {rest + 1}" if rest else "")
    kind, kind_id = LABEL_TYPES[k % len(LABEL_TYPES)]
    base = like or {"disambiguation": "", "id": "", "label-code": None, "name": "", "sort-name": "", "type": None,
                    "type-id": None}
    out = {}
    for key, value in base.items():
        if key == "id":
            value = _hash_uuid("label", k)
        elif key in ("name", "sort-name"):
            value = name
        elif key == "disambiguation":
            value = ""
        elif key == "label-code":
            value = 10000 + k % 90000 if k % 4 == 0 else None
        elif key == "type":
            value = kind
        elif key == "type-id":
            value = kind_id
        elif isinstance(value, list):
            value = []
        out[key] = value
    return out


def _no_label(like: dict | None) -> dict:
    base = like or {"disambiguation": "", "id": "", "label-code": None, "name": "", "sort-name": "", "type": None,
                    "type-id": None}
    out = {}
    for key, value in base.items():
        if key == "id":
            value = NO_LABEL_ID
        elif key in ("name", "sort-name"):
            value = "[no label]"
        elif key == "disambiguation":
            value = "Special purpose label – white labels, self-published releases and other “no label” releases"
        elif key in ("label-code", "type", "type-id"):
            value = None
        elif isinstance(value, list):
            value = []
        out[key] = value
    return out


def _int(value, default: int = 1) -> int:
    return value if isinstance(value, int) and value > 0 else default


def _remap_credit(credit, g: "_Group"):
    """The artist credit with the group's mapped artists replaced (a new list only when
    something changes); each replacement keeps the keys of the artist object it replaces."""
    amap = g.artists
    if not credit or not amap or not isinstance(credit, list):
        return credit
    out = None
    for i, item in enumerate(credit):
        artist = item.get("artist") if isinstance(item, dict) else None
        k = amap.get(artist.get("id")) if isinstance(artist, dict) else None
        if k is not None:
            shape = (k, *artist)
            new = g.artist_objects.get(shape)
            if new is None:
                new = g.artist_objects[shape] = _pool_artist(k, artist)
            if out is None:
                out = list(credit)
            item = dict(item)
            item["artist"] = new
            if "name" in item:
                item["name"] = new["name"]
            out[i] = item
    return credit if out is None else out


# --- the generator -------------------------------------------------------------------------


class _Group:
    """An edition group: releases of one template sharing release group, title, artists, recordings."""

    __slots__ = ("left", "title", "rg", "artists", "artist_objects", "recordings", "year", "first_date")

    def __init__(self, left, title, rg, artists, recordings, year, first_date):
        self.left, self.title, self.rg = left, title, rg
        self.year, self.first_date = year, first_date  # first_date: the first edition's, until it is used
        self.artists = artists  # real artist id -> pool index
        self.artist_objects: dict[tuple, dict] = {}  # (pool index, *keys) -> artist object
        self.recordings = recordings  # real recording id -> new id; None: keep the real ones


class _Generator:
    def __init__(self, seed: int, salt: str = "releases"):
        self.seed = seed
        self.rng = random.Random(f"mbindex-make-dump:{seed}:{salt}")
        self.templates = _templates()
        self.cycle = _cycle(self.templates)
        self.huge = next((i for i, t in enumerate(self.templates) if t.name == HUGE_TEMPLATE), None)
        self.groups: dict[int, _Group] = {}

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def template_for(self, j: int) -> int:
        if self.huge is not None and j % HUGE_EVERY == HUGE_AT:
            return self.huge
        return self.cycle[j % len(self.cycle)]

    # ---- edition groups ----

    def title_words(self) -> str:
        rng = self.rng
        return " ".join(rng.choice(WORDS) for _ in range(rng.choice((1, 2, 2, 2, 3, 3, 4)))).title()

    def group(self, ti: int) -> _Group:
        g = self.groups.get(ti)
        if g is not None and g.left > 0:
            g.left -= 1
            return g
        rng = self.rng
        t = self.templates[ti]
        r = rng.random()
        size = (1 if r < 0.85 else rng.randint(2, 3) if r < 0.94 else rng.randint(4, 8) if r < 0.985
                else rng.randint(9, 20) if r < 0.997 else rng.randint(21, 60))
        year = _YEARS[bisect(_YEAR_CUM, rng.random() * _YEAR_CUM[-1])]
        rg = t.doc.get("release-group")
        if rng.random() < 0.05:  # a real edition of the real release group
            real = (rg or {}).get("first-release-date") or t.doc.get("date") or ""
            if real[:4].isdigit() and 1950 <= int(real[:4]) <= 2025:
                year = int(real[:4])
            g = _Group(size - 1, t.doc.get("title"), rg, {}, None, year, real or self.date(year))
        else:
            title = t.doc.get("title") if rng.random() < 0.35 else self.title_words()
            artists = {aid: int(ARTIST_POOL * rng.random() ** 3) for aid in t.artist_ids if rng.random() >= 0.1}
            g = _Group(size - 1, title, None, artists, {}, year, self.date(year))
            if isinstance(rg, dict):
                rg = dict(rg)
                rg["id"] = self.uuid()
                if "title" in rg:
                    rg["title"] = title
                if rg.get("first-release-date") is not None:
                    rg["first-release-date"] = g.first_date
                if "artist-credit" in rg:
                    rg["artist-credit"] = _remap_credit(rg["artist-credit"], g)
            g.rg = rg
        self.groups[ti] = g
        return g

    # ---- pieces ----

    def date(self, year: int) -> str:
        rng = self.rng
        r = rng.random()
        if r < 0.15:
            return str(year)
        month = rng.randint(1, 12)
        if r < 0.30:
            return f"{year:04d}-{month:02d}"
        return f"{year:04d}-{month:02d}-{rng.randint(1, 28):02d}"

    def barcode(self, country: str | None):
        rng = self.rng
        r = rng.random()
        if r < 0.28:
            return None
        if r < 0.38:
            return ""
        digits = [rng.randint(0, 9) for _ in range(11 if country in ("US", "CA") else 12)]
        # GS1 check digit: weights 3,1,3,... from the right of the payload
        total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
        return "".join(map(str, digits)) + str((10 - total % 10) % 10)

    def asin(self) -> str:
        return "B0" + "".join(self.rng.choice("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(8))

    def scramble_digits(self, text: str) -> str:
        rng = self.rng
        return _DIGITS.sub(lambda m: str(rng.randint(0, 9)), text)

    def area(self, code: str | None, like) -> dict | None:
        if code is None:
            return None
        aid, name, sort_name, _ = AREAS[code]
        base = like if isinstance(like, dict) else {"disambiguation": "", "id": "", "iso-3166-1-codes": [],
                                                    "name": "", "sort-name": "", "type": None, "type-id": None}
        out = dict(base)
        out["id"], out["name"], out["sort-name"], out["iso-3166-1-codes"] = aid, name, sort_name, [code]
        if "disambiguation" in out:
            out["disambiguation"] = ""
        if "type" in out:
            out["type"] = out["type-id"] = None
        return out

    def url_relation(self, rel: dict, asin: str | None) -> dict:
        rel = dict(rel)
        url = rel.get("url")
        if isinstance(url, dict) and isinstance(url.get("resource"), str):
            url = dict(url)
            resource = url["resource"]
            if _ASIN_IN_URL.search(resource):
                resource = _ASIN_IN_URL.sub(asin or self.asin(), resource)
            else:
                resource = _DIGIT_RUN.sub(lambda m: str(self.rng.randrange(10 ** (len(m.group()) - 1),
                                                                             10 ** len(m.group()))), resource)
            url["resource"] = resource
            if "id" in url:
                url["id"] = _hash_uuid("url", resource)
            rel["url"] = url
        return rel

    # ---- one release ----

    def release(self, rid: str, ti: int) -> dict:
        rng = self.rng
        t = self.templates[ti]
        g = self.group(ti)
        doc = json.loads(t.text)
        doc["id"] = rid

        # title and release group
        title = g.title
        if title is not None and rng.random() < 0.2:
            title += rng.choice(TITLE_SUFFIXES).format(n=rng.randint(2, 99))
        if "title" in doc:
            doc["title"] = title
        if "release-group" in doc:
            doc["release-group"] = g.rg

        # the group's first edition, or a reissue in the same year or later
        if g.first_date is not None:
            year, date, g.first_date = g.year, g.first_date, None
        else:
            year = g.year if rng.random() < 0.3 else min(2025, g.year + int((2025 - g.year) * rng.random() ** 2))
            date = self.date(year)

        # format
        fmt = _pick(rng, _ERA_MIX[bisect(_ERA_STARTS, year) - 1])
        digital = fmt == "Digital Media"
        sided = fmt in SIDED_FORMATS

        # artists
        if g.artists and "artist-credit" in doc:
            doc["artist-credit"] = _remap_credit(doc["artist-credit"], g)

        # media and tracks
        total = 0
        sparse = rng.random()
        for m in doc.get("media") or []:
            if not isinstance(m, dict):
                continue
            if "format" in m:
                if not (m.get("format") in VIDEO_FORMATS and rng.random() < 0.5):
                    m["format"] = fmt
                    if "format-id" in m:
                        m["format-id"] = FORMAT_IDS[fmt]
            if "id" in m:
                m["id"] = self.uuid()
            if isinstance(m.get("discs"), list) and m["discs"] and m.get("format") not in DISC_ID_FORMATS:
                m["discs"] = []
            tracks = m.get("tracks")
            if isinstance(tracks, list) and tracks:
                m["tracks"] = tracks = self.vary_tracks(tracks, g)
                pos = 0
                side_a = 65 + 2 * ((_int(m.get("position")) - 1) % 13)  # A/B, C/D, ... per medium
                half = (len(tracks) + 1) // 2
                for pos, tr in enumerate(tracks, 1):
                    tr["position"] = pos
                    if "number" in tr:
                        if sided:
                            tr["number"] = f"{chr(side_a)}{pos}" if pos <= half else f"{chr(side_a + 1)}{pos - half}"
                        else:
                            tr["number"] = str(pos)
                    if sparse < 0.02:  # a sparse tracklist: no lengths
                        if "length" in tr:
                            tr["length"] = None
                        if isinstance(tr.get("recording"), dict) and "length" in tr["recording"]:
                            tr["recording"]["length"] = None
                    elif sparse < 0.03 and "title" in tr and rng.random() < 0.5:  # or untitled tracks
                        tr["title"] = "[unknown]"
                for tr in m.get("data-tracks") or []:
                    pos += 1
                    tr["position"] = pos
                    if "number" in tr:
                        tr["number"] = str(pos)
                    self.vary_track_ids(tr, g)
                if "track-count" in m:
                    m["track-count"] = len(tracks) + len(m.get("data-tracks") or [])
                if "track-offset" in m:
                    m["track-offset"] = 0
            elif isinstance(m.get("track"), list):  # search-result shape: the matched track only
                for tr in m["track"]:
                    if isinstance(tr, dict) and "id" in tr:
                        tr["id"] = self.uuid()
            elif isinstance(m.get("track-count"), int) and "tracks" not in m:
                if rng.random() < 0.3:
                    m["track-count"] = max(1, m["track-count"] + rng.randint(-3, 3))
            if isinstance(m.get("track-count"), int):
                total += m["track-count"]
        if isinstance(doc.get("track-count"), int) and doc.get("media"):
            doc["track-count"] = total

        # status, quality, packaging, barcode, asin, disambiguation, annotation
        if "status" in doc:
            status, status_id = _pick(rng, _STATUS_MIX)
            doc["status"] = status
            if "status-id" in doc:
                doc["status-id"] = status_id
        if "quality" in doc and doc["quality"] is not None:
            r = rng.random()
            doc["quality"] = "low" if r < 0.05 else "high" if r < 0.10 else "normal"
        if "packaging" in doc:
            kind = "digital" if digital else "sided" if sided else "disc"
            packaging = _pick(rng, _PACKAGING_MIX[kind])
            doc["packaging"] = packaging
            if "packaging-id" in doc:
                doc["packaging-id"] = PACKAGING_IDS[packaging]
        asin = None
        if "asin" in doc:
            asin = None if rng.random() < 0.55 or year < 1995 else self.asin()
            doc["asin"] = asin
        if "disambiguation" in doc:
            doc["disambiguation"] = "" if rng.random() < 0.85 else rng.choice(DISAMBIGUATIONS)
        if doc.get("annotation") is not None and rng.random() < 0.5:
            doc["annotation"] = None

        # date, country, release events
        if "date" in doc or "country" in doc or "release-events" in doc:
            r = rng.random()
            if r < 0.04:  # no release event at all: MusicBrainz leaves the three keys out
                for key in ("date", "country", "release-events"):
                    doc.pop(key, None)
            else:
                if r < 0.07:
                    country = None
                elif digital and rng.random() < 0.5:
                    country = "XW"
                else:
                    country = _pick(rng, _AREA_MIX)
                if "date" in doc:
                    doc["date"] = date
                if "country" in doc:
                    doc["country"] = country
                events = doc.get("release-events")
                if isinstance(events, list):
                    if events:
                        ev = dict(events[0])
                        if "date" in ev:
                            ev["date"] = date
                        if "area" in ev:
                            ev["area"] = self.area(country, ev["area"])
                        events = [ev]
                    else:
                        events = [{"area": self.area(country, None), "date": date}]
                    doc["release-events"] = events

        if "barcode" in doc:
            doc["barcode"] = self.barcode(doc.get("country"))

        # labels
        infos = doc.get("label-info")
        if isinstance(infos, list):
            like = next((i["label"] for i in infos if isinstance(i, dict) and isinstance(i.get("label"), dict)), None)
            r = rng.random()
            if r < 0.10:
                infos = []
            elif r < 0.20:
                infos = [{"catalog-number": None if rng.random() < 0.7 else "[none]", "label": _no_label(like)}]
            elif r < 0.45 or not infos:
                catno = None if rng.random() < 0.2 else (
                    "".join(rng.choice("ABCDEFGHKLMPRSTVX") for _ in range(rng.randint(2, 4)))
                    + rng.choice(("", " ", "-")) + str(rng.randint(1, 99999)))
                infos = [{"catalog-number": catno, "label": _pool_label(int(LABEL_POOL * rng.random() ** 2), like)}]
            else:
                out = []
                for info in infos:
                    info = dict(info)
                    if isinstance(info.get("catalog-number"), str) and rng.random() < 0.9:
                        info["catalog-number"] = self.scramble_digits(info["catalog-number"])
                    elif "catalog-number" in info and rng.random() < 0.5:
                        info["catalog-number"] = None
                    out.append(info)
                infos = out
            doc["label-info"] = infos

        # relations
        rels = doc.get("relations")
        if isinstance(rels, list) and rels:
            r = rng.random()
            if r < 0.25:
                rels = []
            else:
                keep_all = r >= 0.45
                rels = [self.url_relation(x, asin) if x.get("target-type") == "url" else x
                        for x in rels if isinstance(x, dict) and (keep_all or x.get("target-type") == "url")]
            doc["relations"] = rels

        # cover art
        caa = doc.get("cover-art-archive")
        if isinstance(caa, dict):
            r = rng.random()
            count = 0 if r < 0.33 else 1 if r < 0.68 else rng.randint(2, 5) if r < 0.9 else rng.randint(6, 40)
            caa["count"] = count
            if "artwork" in caa:
                caa["artwork"] = count > 0
            if "front" in caa:
                caa["front"] = count > 0 and rng.random() < 0.95
            if "back" in caa:
                caa["back"] = count > 1 and rng.random() < 0.6
            if "darkened" in caa:
                caa["darkened"] = rng.random() < 0.005
        return doc

    def vary_track_ids(self, tr: dict, g: _Group) -> None:
        if "id" in tr:
            tr["id"] = self.uuid()
        if g.artists and "artist-credit" in tr:
            tr["artist-credit"] = _remap_credit(tr["artist-credit"], g)
        rec = tr.get("recording")
        if isinstance(rec, dict):
            if g.recordings is not None and isinstance(rec.get("id"), str):
                new = g.recordings.get(rec["id"])
                if new is None:
                    new = g.recordings[rec["id"]] = self.uuid()
                rec["id"] = new
            if g.artists and "artist-credit" in rec:
                rec["artist-credit"] = _remap_credit(rec["artist-credit"], g)

    def vary_tracks(self, tracks: list, g: _Group) -> list:
        rng = self.rng
        for tr in tracks:
            if isinstance(tr, dict):
                self.vary_track_ids(tr, g)
        tracks = [tr for tr in tracks if isinstance(tr, dict)]
        r = rng.random()
        if r < 0.12 and len(tracks) > 1:  # some tracks left off
            drop = set(rng.sample(range(len(tracks)), rng.randint(1, max(1, len(tracks) // 3))))
            tracks = [tr for i, tr in enumerate(tracks) if i not in drop]
        elif r < 0.24 and tracks:  # bonus tracks: another take of a track, as a new recording
            for _ in range(rng.randint(1, 3)):
                src = rng.choice(tracks)
                suffix = rng.choice(BONUS_SUFFIXES)
                tr = dict(src)
                tr["id"] = self.uuid()
                if isinstance(tr.get("title"), str):
                    tr["title"] += suffix
                rec = tr.get("recording")
                if isinstance(rec, dict):
                    rec = dict(rec)
                    rec["id"] = self.uuid()
                    if isinstance(rec.get("title"), str):
                        rec["title"] += suffix
                    tr["recording"] = rec
                tracks.append(tr)
        return tracks


def _bad_line(gen: _Generator, seed: int, b: int) -> str:
    """The b-th bad line (kind BAD_KINDS[b % 5])."""
    kind = BAD_KINDS[b % len(BAD_KINDS)]
    rng = gen.rng
    if kind == "not-json":
        return f"{_hash_uuid(seed, 'bad', b)}\t{gen.title_words()}\t\\N\t{rng.randint(1, 999999)}\t\\N"
    small = [i for i, t in enumerate(gen.templates) if t.small]
    doc = gen.release(_hash_uuid(seed, "bad", b), rng.choice(small))
    if kind == "no-id":
        del doc["id"]
        return _encode(doc)
    if kind == "invalid-id":
        doc["id"] = "not-a-uuid"
        return _encode(doc)
    line = _encode(doc)
    if kind == "array":
        return "[" + line + "]"
    return line[:rng.randint(len(line) // 4, (3 * len(line)) // 4)]  # truncated


def iter_release_lines(n: int, seed: int = 0, bad_lines: int = 0) -> Iterator[str]:
    """n dump lines (compact JSON, no trailing newline), bad_lines of them malformed."""
    bad = {pos: b for b, pos in enumerate(bad_line_positions(n, bad_lines, seed))}
    gen = _Generator(seed)
    bad_gen = _Generator(seed, "bad-lines") if bad else None
    j = 0
    for i in range(n):
        b = bad.get(i)
        if b is not None:
            yield _bad_line(bad_gen, seed, b)
        else:
            yield _encode(gen.release(release_id(seed, j), gen.template_for(j)))
            j += 1


def iter_refreshed_lines(n: int, seed: int = 0, bad_lines: int = 0, changed: float = 0.01, removed: float = 0.001,
                         added: float = 0.001) -> Iterator[str]:
    """The next dump after `iter_release_lines(n, seed, bad_lines)`: one line in 1/`changed` edited (its
    title), one in 1/`removed` gone, and `added` x n new releases at the end (ids of another seed); every
    other line byte for byte as before (a bad line stays as it was)."""
    change_every = round(1 / changed) if changed else 0
    remove_every = round(1 / removed) if removed else 0
    for i, line in enumerate(iter_release_lines(n, seed, bad_lines)):
        if remove_every and i % remove_every == remove_every // 2:
            continue
        if change_every and i % change_every == 0:
            try:
                doc = json.loads(line)
            except ValueError:
                doc = None
            if isinstance(doc, dict) and isinstance(doc.get("title"), str):
                doc["title"] += " (edited)"
                line = _encode(doc)
        yield line
    yield from iter_release_lines(round(n * added), seed + 7919)


# --- writing ------------------------------------------------------------------------------


def _write_lines(f, n: int, seed: int, bad_lines: int, refresh: dict | None = None) -> int:
    """Writes the lines to the binary file f; returns the bytes written."""
    size = 0
    chunk: list[str] = []
    lines = iter_release_lines(n, seed, bad_lines) if refresh is None else \
        iter_refreshed_lines(n, seed, bad_lines, **refresh)
    for line in lines:
        chunk.append(line)
        if len(chunk) >= 256:
            data = ("\n".join(chunk) + "\n").encode("utf-8")
            f.write(data)
            size += len(data)
            chunk = []
    if chunk:
        data = ("\n".join(chunk) + "\n").encode("utf-8")
        f.write(data)
        size += len(data)
    return size


def _mtime(timestamp: str) -> int:
    text = timestamp.strip().replace(" ", "T", 1)
    if text.endswith(("+00", "-00")):
        text += ":00"
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return int(dt.datetime.fromisoformat(DEFAULT_TIMESTAMP.replace(" ", "T") + ":00").timestamp())
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return int(when.timestamp())


def _small_files(n: int, seed: int, bad_lines: int, timestamp: str) -> list[tuple[str, bytes]]:
    readme = (
        "SYNTHETIC MusicBrainz JSON data dump, made by mbindex bench/make_dump.py for tests and\n"
        f"benchmarks ({n} lines, seed {seed}, {bad_lines} malformed lines on purpose).  Every release\n"
        "is a variation of a real ws/2 release document; ids, titles, dates, formats and the like\n"
        "are made up.  Do not mistake it for data published by the MetaBrainz Foundation.\n"
    )
    copying = (
        "The MusicBrainz core data this synthetic dump is derived from is released under the\n"
        "Creative Commons CC0 1.0 Universal public domain dedication:\n"
        "https://creativecommons.org/publicdomain/zero/1.0/\n"
    )
    return [
        ("COPYING", copying.encode()),
        ("README", readme.encode()),
        ("REPLICATION_SEQUENCE", (REPLICATION_SEQUENCE + "\n").encode()),
        ("SCHEMA_SEQUENCE", (SCHEMA_SEQUENCE + "\n").encode()),
        ("JSON_DUMPS_SCHEMA_NUMBER", (JSON_DUMPS_SCHEMA_NUMBER + "\n").encode()),
        ("TIMESTAMP", (timestamp + "\n").encode()),
    ]


def _tar_header(name: str, size: int, mtime: int) -> bytes:
    """One 512-byte GNU tar header (GNU format: sizes over 8 GiB still fit in the block)."""
    ti = tarfile.TarInfo(name)
    ti.size, ti.mtime, ti.mode = size, mtime, 0o644
    ti.uname = ti.gname = "musicbrainz"
    block = ti.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")
    assert len(block) == tarfile.BLOCKSIZE
    return block


def _pad(size: int, to: int = tarfile.BLOCKSIZE) -> bytes:
    return b"\0" * (-size % to)


def _write_tar_file(f, n: int, seed: int, bad_lines: int, timestamp: str, refresh: dict | None = None) -> int:
    """Writes the whole uncompressed tar to the seekable binary file f: the small files,
    a placeholder header, the lines, the end of the archive, and then the real header
    over the placeholder once the size is known.  Returns the size of mbdump/release."""
    mtime = _mtime(timestamp)
    for name, data in _small_files(n, seed, bad_lines, timestamp):
        f.write(_tar_header(name, len(data), mtime) + data + _pad(len(data)))
    header_at = f.tell()
    f.write(b"\0" * tarfile.BLOCKSIZE)
    raw = _write_lines(f, n, seed, bad_lines, refresh)
    f.write(_pad(raw) + b"\0" * (2 * tarfile.BLOCKSIZE))
    f.write(_pad(f.tell(), tarfile.RECORDSIZE))  # like tar: whole 10 KiB records
    end = f.tell()
    f.seek(header_at)
    f.write(_tar_header("mbdump/release", raw, mtime))
    f.seek(end)
    return raw


def _compress(src: Path, out, preset: int) -> None:
    xz = shutil.which("xz")
    if xz:
        with open(src, "rb") as f:
            subprocess.run([xz, "-T0", f"-{preset}", "-c", "-q"], stdin=f, stdout=out, check=True)
        return
    with open(src, "rb") as f, lzma.open(out, "wb", preset=preset) as sink:
        shutil.copyfileobj(f, sink, 1 << 20)


def _remove_stale_temporaries(path: Path) -> None:
    """Removes the temporary files of earlier runs for the same path whose process is gone
    (a killed run cannot clean up after itself)."""
    pattern = re.compile(re.escape(f".{path.name}.") + r"(\d+)\.(?:partial|tar)$")
    for old in path.parent.glob(f".{glob.escape(path.name)}.*"):
        m = pattern.match(old.name)
        if m is None or int(m.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(m.group(1)), 0)
        except ProcessLookupError:
            old.unlink(missing_ok=True)
        except PermissionError:
            pass  # alive, someone else's


def write_dump(path, n: int, seed: int = 0, bad_lines: int = 0, timestamp: str | None = None,
               xz_preset: int = DEFAULT_XZ_PRESET, refresh: dict | None = None) -> dict:
    """Writes an n-line dump to path (.tar.xz: archive, else JSON lines); returns
    {"path", "lines", "bytes", "raw_bytes", "seconds"} (raw_bytes: the JSON lines).
    `refresh`: the next dump instead, `iter_refreshed_lines(n, seed, bad_lines, **refresh)`."""
    start = time.perf_counter()
    path = Path(path)
    timestamp = DEFAULT_TIMESTAMP if timestamp is None else timestamp
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    tar_tmp = path.with_name(f".{path.name}.{os.getpid()}.tar")
    try:
        if not path.name.endswith(".tar.xz"):
            with open(partial, "wb", buffering=1 << 20) as f:
                raw = _write_lines(f, n, seed, bad_lines, refresh)
        else:
            with open(tar_tmp, "wb", buffering=1 << 20) as f:
                raw = _write_tar_file(f, n, seed, bad_lines, timestamp, refresh)
            with open(partial, "wb") as out:
                _compress(tar_tmp, out, xz_preset)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
        tar_tmp.unlink(missing_ok=True)
    return {"path": str(path), "lines": n, "bytes": path.stat().st_size, "raw_bytes": raw,
            "seconds": time.perf_counter() - start}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--releases", type=int, required=True, help="number of lines (bad lines included)")
    ap.add_argument("--out", required=True, help="PATH.tar.xz for an archive, anything else for JSON lines")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bad-lines", type=int, default=0, help="how many of the lines are malformed")
    ap.add_argument("--timestamp", default=DEFAULT_TIMESTAMP, help="the archive's TIMESTAMP")
    ap.add_argument("--xz-preset", type=int, default=DEFAULT_XZ_PRESET, choices=range(10))
    args = ap.parse_args(argv)
    if args.releases < 0:
        ap.error("--releases must be >= 0")
    if not 0 <= args.bad_lines <= args.releases:
        ap.error("--bad-lines must be between 0 and --releases")
    s = write_dump(args.out, args.releases, seed=args.seed, bad_lines=args.bad_lines, timestamp=args.timestamp,
                   xz_preset=args.xz_preset)
    print(f"{s['path']}: {s['lines']} lines ({args.bad_lines} bad), {s['bytes']} bytes"
          f" ({s['raw_bytes']} uncompressed), {s['seconds']:.1f}s")


if __name__ == "__main__":
    main()
