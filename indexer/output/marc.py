"""Minimal MARC 21 bibliographic records of releases (pymarc): binary and MARCXML.

One record per release, built from the mirror's flattened rows (a
`preservation.release_record_in`); the mapping, field by field, is in
docs/marc.md.  The records are minimal-level (Leader/17 `7`), so a library
copy-catalogues from them when WorldCat has nothing better.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO

from pymarc import Field, Indicators, Leader, MARCWriter, Record, Subfield, XMLWriter

#: the `export -o` formats written here (binary: not through `tables.render`)
MARC_FORMATS = ("marc", "marcxml")
#: Leader: new (05 n), musical sound recording (06 j), monograph (07 m),
#: UCS/Unicode (09 a), minimal level (17 7), ISBD punctuation omitted (18 c)
LEADER = "00000njm a22000007c 4500"
#: a MARC field's length is four digits: the contents note is cut below it
MAX_FIELD_BYTES = 9000
CONTENTS_SEPARATOR = " -- "
#: control characters: 0x1D-0x1F delimit binary MARC, and XML cannot carry
#: most of the others; upstream text may hold any of them (written as U+FFFD)
_CONTROL = re.compile("[\x00-\x1f\x7f\ufffe\uffff\ud800-\udfff]")

#: ISO 639-3 codes (MusicBrainz) whose MARC language code differs (ISO 639-2/B)
MARC_LANGUAGE = {
    "fra": "fre", "deu": "ger", "zho": "chi", "nld": "dut", "ces": "cze", "ell": "gre", "fas": "per",
    "hye": "arm", "kat": "geo", "mkd": "mac", "msa": "may", "mya": "bur", "ron": "rum", "slk": "slo",
    "sqi": "alb", "eus": "baq", "cym": "wel", "isl": "ice", "bod": "tib", "mri": "mao",
}


@dataclass(frozen=True)
class Carrier:
    """How a family of medium formats is described: 007, 300 $a noun, 300 $c."""

    field_007: str
    noun: str
    plural: str
    dimensions: str | None = None


AUDIO_CD = Carrier("sd fsngnnmmned", "audio disc", "audio discs", "4 3/4 in.")
VIDEO_DISC = Carrier("vd cvaizq", "videodisc", "videodiscs", "4 3/4 in.")
OTHER = Carrier("su |||||||||||", "sound carrier", "sound carriers")

#: medium format (a substring of MusicBrainz's name) → carrier, first match wins
CARRIERS: list[tuple[str, Carrier]] = [
    ('12" Vinyl', Carrier("sd bsmennmplue", "audio disc", "audio discs", "12 in.")),
    ('10" Vinyl', Carrier("sd usmdnnmplue", "audio disc", "audio discs", "10 in.")),
    ('7" Vinyl', Carrier("sd csmcnnmplue", "audio disc", "audio discs", "7 in.")),
    ("Vinyl", Carrier("sd usmunnmplue", "audio disc", "audio discs")),
    ("Cassette", Carrier("ss lunjlcmpnue", "audiocassette", "audiocassettes", "3 7/8 x 2 1/2 in.")),
    ("DVD-Audio", AUDIO_CD),
    ("DVD", VIDEO_DISC),
    ("Blu-ray", Carrier("vd csaizq", "videodisc", "videodiscs", "4 3/4 in.")),
    ("CD", AUDIO_CD),
    ("Digital Media", Carrier("cr nna||||||||", "online resource", "online resources")),
]


def carrier(fmt: str | None) -> Carrier:
    for name, found in CARRIERS:
        if fmt and name in fmt:
            return found
    return OTHER


def _field(tag: str, ind: str, *subfields: tuple[str, str | None]) -> Field:
    """A data field; subfields with no value are left out."""
    return Field(tag, Indicators(ind[0], ind[1]), [Subfield(c, _CONTROL.sub("\ufffd", v)) for c, v in subfields if v])


def field_008(release: dict, entered: dt.date) -> str:
    """Date entered, single date (or none), no place, sound recording of music, language."""
    year = (release["date"] or "")[:4]
    known = len(year) == 4 and year.isdigit()
    lang = release["language"] or "und"
    lang = MARC_LANGUAGE.get(lang, lang)[:3].ljust(3)
    value = (f"{entered:%y%m%d}{'s' if known else 'n'}{year if known else 'uuuu'}    xx "
             f"||nn  {' ' * 6}   n {lang} d")
    assert len(value) == 40, value
    return value


def barcode_024(barcode: str | None) -> Field | None:
    """024 from the barcode: 1 = UPC (12 digits), 3 = EAN (13), 8 = other;
    none when the barcode is unknown (None) or explicitly absent ("")."""
    if not barcode:
        return None
    kind = {12: "1", 13: "3"}.get(len(barcode), "8") if barcode.isdigit() else "8"
    return _field("024", kind + " ", ("a", barcode))


def extent_300(media: list[dict]) -> Field:
    """'2 audio discs, 1 videodisc' ; dimensions when the carriers have them."""
    counts: dict[tuple[str, str], int] = {}  # (noun, plural) -> media
    for medium in media:
        c = carrier(medium["format"])
        counts[c.noun, c.plural] = counts.get((c.noun, c.plural), 0) + 1
    if not counts:
        return _field("300", "  ", ("a", "1 sound carrier"))
    extent = ", ".join(f"{n} {noun if n == 1 else plural}" for (noun, plural), n in counts.items())
    dims = "; ".join(dict.fromkeys(c.dimensions for c in map(carrier, (md["format"] for md in media))
                                   if c.dimensions))
    return _field("300", "  ", ("a", extent), ("c", dims or None))


def contents_505(tracks: list[dict]) -> Field | None:
    """505 0#: the titles of every audio track, in order, joined by ' -- '
    (data tracks are described in 538); cut to fit a MARC field."""
    titles = [t["title"] or "[untitled]" for t in tracks if t["kind"] != "data"]
    if not titles:
        return None
    text = CONTENTS_SEPARATOR.join(titles)
    if len(text.encode("utf-8")) > MAX_FIELD_BYTES:
        text = text.encode("utf-8")[:MAX_FIELD_BYTES].decode("utf-8", "ignore").rsplit(CONTENTS_SEPARATOR, 1)[0]
        text += CONTENTS_SEPARATOR + "[...]"
    return _field("505", "0 ", ("a", text))


def data_tracks_538(tracks: list[dict]) -> Field | None:
    data = [t["title"] or "[untitled]" for t in tracks if t["kind"] == "data"]
    if not data:
        return None
    return _field("538", "  ", ("a", f"Enhanced content: {len(data)} data track(s) ({'; '.join(data)})."))


def _publication_264(info: dict) -> Field:
    names = list(dict.fromkeys(lb["label_name"] for lb in info["labels"] if lb["label_name"]))
    year = (info["release"]["date"] or "")[:4]
    subfields = [("b", n) for n in names] or [("b", "[publisher not identified]")]
    subfields.append(("c", year if year.isdigit() else "[date of publication not identified]"))
    return _field("264", " 1", *subfields)


def marc_record(info: dict, entered: dt.date) -> Record:
    """The MARC record of one release record (see docs/marc.md)."""
    release = info["release"]
    record = Record(leader=Leader(LEADER), force_utf8=True)
    record.add_field(Field("001", data=str(info["mbid"])))
    for code in dict.fromkeys(carrier(md["format"]).field_007 for md in info["media"]):
        record.add_field(Field("007", data=code))
    record.add_field(Field("008", data=field_008(release, entered)))
    fields = [barcode_024(release["barcode"])]
    fields += [_field("028", "02", ("a", lb["catalog_number"]), ("b", lb["label_name"]))
               for lb in info["labels"] if lb["catalog_number"]]
    fields += [
        _field("245", "00", ("a", release["title"]), ("c", release["artist_credit"])),
        _publication_264(info),
        extent_300(info["media"]),
        _field("500", "  ", ("a", f"Record generated from MusicBrainz data (release {info['mbid']}).")),
        contents_505(info["tracks"]),
        _field("511", "0 ", ("a", "; ".join(c["name"] for c in info["credits"] if c["name"])
                             or release["artist_credit"])),
        data_tracks_538(info["tracks"]),
        _field("856", "42", ("u", info["url"]), ("z", "Release page at MusicBrainz")),
    ]
    for f in fields:
        if f is not None and f.subfields:
            record.add_field(f)
    return record


def write_records(fh: BinaryIO, records: Iterable[dict], *, xml: bool, entered: dt.date) -> int:
    """Write one MARC record per release record to `fh` (binary MARC 21, or
    a MARCXML collection), one at a time; returns how many."""
    writer = XMLWriter(fh) if xml else MARCWriter(fh)
    n = 0
    for info in records:
        writer.write(marc_record(info, entered))
        n += 1
    writer.close(close_fh=False)
    return n
