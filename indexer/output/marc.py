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
#: a MARC field's length is four digits (at most 9,999 bytes): text is cut
#: below this, leaving room for indicators and subfield codes
MAX_FIELD_BYTES = 9000
#: a record's length is five digits: at most 99,999 bytes
MAX_RECORD_BYTES = 99_999
#: the contents notes (505) of one record together stop here, so the record fits
CONTENTS_BUDGET = 40_000
CONTENTS_SEPARATOR = " -- "
CUT_MARK = "[...]"
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


def _cut(text: str, limit: int) -> str:
    """`text` if its UTF-8 fits in `limit` bytes, else its head ending in ' [...]'."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:max(0, limit - len(CUT_MARK) - 1)].decode("utf-8", "ignore") + " " + CUT_MARK


def _field(tag: str, ind: str, *subfields: tuple[str, str | None], cut: list[str] | None = None) -> Field:
    """A data field; subfields with no value are left out.  Its text is cut
    to fit MAX_FIELD_BYTES (each subfield to its share of what is left);
    the tag of a field that was cut is added to `cut`."""
    kept = [(c, _CONTROL.sub("\ufffd", v)) for c, v in subfields if v]
    out, room = [], MAX_FIELD_BYTES
    for i, (code, value) in enumerate(kept):
        fitted = _cut(value, max(0, room // (len(kept) - i)) - 2)
        if fitted != value and cut is not None and tag not in cut:
            cut.append(tag)
        room -= len(fitted.encode("utf-8")) + 2
        out.append(Subfield(code, fitted))
    return Field(tag, Indicators(ind[0], ind[1]), out)


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


def contents_505(tracks: list[dict]) -> list[Field]:
    """505: the titles of every audio track, in order, joined by ' -- '
    (data tracks are described in 538).  A long list is split into several
    505 fields of at most MAX_FIELD_BYTES, the first `0#` (complete
    contents), the others `8#` (no display constant); past CONTENTS_BUDGET
    the list ends in '[...]' and the first becomes `1#` (incomplete)."""
    titles = [_cut(t["title"] or "[untitled]", MAX_FIELD_BYTES // 2) for t in tracks if t["kind"] != "data"]
    chunks: list[list[str]] = []
    size = used = 0
    complete = True
    for title in titles:
        n = len(title.encode("utf-8")) + len(CONTENTS_SEPARATOR)
        if used + n > CONTENTS_BUDGET:
            chunks[-1].append(CUT_MARK)
            complete = False
            break
        if not chunks or size + n > MAX_FIELD_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(title)
        size, used = size + n, used + n
    return [_field("505", ("0 " if complete else "1 ") if i == 0 else "8 ", ("a", CONTENTS_SEPARATOR.join(c)))
            for i, c in enumerate(chunks)]


def data_tracks_538(tracks: list[dict]) -> Field | None:
    data = [t["title"] or "[untitled]" for t in tracks if t["kind"] == "data"]
    if not data:
        return None
    return _field("538", "  ", ("a", f"Enhanced content: {len(data)} data track(s) ({'; '.join(data)})."))


def _field_size(f: Field) -> int:
    """Bytes the field takes in binary MARC: its directory entry, contents and terminator."""
    if f.is_control_field():
        return 12 + len(f.data.encode("utf-8")) + 1
    return 12 + 2 + sum(2 + len(sf.value.encode("utf-8")) for sf in f.subfields) + 1


def _fit_record(record: Record, cut: list[str]) -> None:
    """Drop repeatable fields from the end (028s, whose labels 264 names too,
    then 505s, the last one left ending in '[...]') until the record fits
    MAX_RECORD_BYTES; only a release with hundreds of labels or thousands of
    tracks gets here (each field already fits its own limit)."""
    for tag in ("028", "505"):
        while 24 + 1 + sum(map(_field_size, record.fields)) > MAX_RECORD_BYTES and len(record.get_fields(tag)) > 1:
            record.remove_field(record.get_fields(tag)[-1])
            if tag not in cut:
                cut.append(tag)
    contents = record.get_fields("505")
    if "505" in cut and not contents[-1].subfields[-1].value.endswith(CUT_MARK):
        last = contents[-1].subfields[-1]
        contents[-1].subfields[-1] = Subfield(last.code, last.value + CONTENTS_SEPARATOR + CUT_MARK)
        contents[0].indicators = Indicators("1", contents[0].indicators[1])


def _publication_264(info: dict, cut: list[str] | None = None) -> Field:
    names = list(dict.fromkeys(lb["label_name"] for lb in info["labels"] if lb["label_name"]))
    year = (info["release"]["date"] or "")[:4]
    subfields = [("b", n) for n in names[:50]] or [("b", "[publisher not identified]")]
    if len(names) > 50 and cut is not None:
        cut.append("264")
    subfields.append(("c", year if year.isdigit() else "[date of publication not identified]"))
    return _field("264", " 1", *subfields, cut=cut)


def marc_record(info: dict, entered: dt.date) -> Record:
    """The MARC record of one release record (see docs/marc.md).  It always
    fits MARC 21's limits (9,999 bytes a field, 99,999 a record): text that
    does not fit is cut with '[...]', and a 500 note names the fields cut."""
    release = info["release"]
    cut: list[str] = []
    record = Record(leader=Leader(LEADER), force_utf8=True)
    record.add_field(Field("001", data=str(info["mbid"])))
    for code in dict.fromkeys(carrier(md["format"]).field_007 for md in info["media"]):
        record.add_field(Field("007", data=code))
    record.add_field(Field("008", data=field_008(release, entered)))
    fields = [barcode_024(release["barcode"])]
    fields += [_field("028", "02", ("a", lb["catalog_number"]), ("b", lb["label_name"]))
               for lb in info["labels"] if lb["catalog_number"]]
    fields += [
        _field("245", "00", ("a", release["title"]), ("c", release["artist_credit"]), cut=cut),
        _publication_264(info, cut),
        extent_300(info["media"]),
        _field("500", "  ", ("a", f"Record generated from MusicBrainz data (release {info['mbid']}).")),
        *contents_505(info["tracks"]),
        _field("511", "0 ", ("a", "; ".join(c["name"] for c in info["credits"] if c["name"])
                             or release["artist_credit"]), cut=cut),
        data_tracks_538(info["tracks"]),
        _field("856", "42", ("u", info["url"]), ("z", "Release page at MusicBrainz")),
    ]
    for f in fields:
        if f is not None and f.subfields:
            record.add_field(f)
    _fit_record(record, cut)
    if cut:
        record.add_ordered_field(_field("500", "  ", ("a", f"Shortened to fit MARC 21: {', '.join(sorted(cut))} "
                                                           "cut (marked [...]); the full text is at MusicBrainz.")))
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
