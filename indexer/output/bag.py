"""BagIt packages of releases (the Library of Congress `bagit` package).

Layout of a bag:

    bag-info.txt  bagit.txt  manifest-sha256.txt  tagmanifest-sha256.txt
    data/<mbid>/<hash>.json   every stored revision, byte for byte as stored
    data/<mbid>/release.json  the mapped summary (`curation.show()`: score,
                              signals, facts, labels, media, tracks, history)
    data/<mbid>/premis.xml    the PREMIS 3 record (`output.premis`)

The bag is built under a temporary name beside the destination and renamed
only when complete, so a failure never leaves half a package.  Each file's
SHA-256 is taken as it is written and its manifest line written at once, so
memory stays flat however many releases go in (`bagit.make_bag` would walk
the finished payload again and hold every manifest entry in memory: 1.5 KB
a release).  The tag files follow BagIt 0.97 as the `bagit` package writes
them, and `validate_bag` (the `bagit` package's full validation) checks the
result: the tests validate every bag they build.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

import bagit

from .files import OutputError, replacing_dir
from .premis import premis_xml

SUMMARY_NAME = "release.json"
CHECKSUMS = ["sha256"]
# bagit logs every failed file at WARNING, which Python's last-resort handler
# prints on stderr (one line a file): the details come with BagInvalid instead
logging.getLogger("bagit").addHandler(logging.NullHandler())


class PackageError(Exception):
    """A package could not be made or checked; the message says which and why."""


class BagInvalid(PackageError):
    """`--validate` found a bag incomplete or with a file that does not match
    its manifest.  The message is one line; `details` has one line a problem."""

    def __init__(self, message: str, details: list[str] | None = None):
        super().__init__(message)
        self.details = details or []


def _plain(value):
    """JSON for what `show()` returns: datetimes as ISO 8601, numerics as
    numbers, anything else (UUIDs…) as its text."""
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def summary_json(info: dict) -> bytes:
    """The release's mapped summary: the record without the raw documents."""
    summary = {k: v for k, v in info.items() if k != "documents"}
    return json.dumps(summary, default=_plain, ensure_ascii=False, indent=2).encode("utf-8") + b"\n"


class _Payload:
    """The payload manifest, written line by line as files are written, and
    the Payload-Oxum (bytes.files) counted on the way."""

    def __init__(self, root: Path):
        self.root = root
        self.bytes = 0
        self.files = 0
        self._manifest = open(root / "manifest-sha256.txt", "w", encoding="utf-8", newline="\n")

    def write(self, relative: str, data: bytes) -> None:
        path = self.root / "data" / relative
        path.write_bytes(data)
        self._manifest.write(f"{hashlib.sha256(data).hexdigest()}  data/{relative}\n")
        self.bytes += len(data)
        self.files += 1

    def close(self) -> None:
        self._manifest.close()


def _write_release(payload: _Payload, info: dict, version: str) -> int:
    """Write one release's folder under data/; returns the number of revisions written."""
    mbid = str(info["mbid"])
    (payload.root / "data" / mbid).mkdir()
    for doc in info["documents"]:
        payload.write(f"{mbid}/{doc['hash']}.json", doc["raw"])
    payload.write(f"{mbid}/{SUMMARY_NAME}", summary_json(info))
    payload.write(f"{mbid}/premis.xml", premis_xml(info, version))
    return len(info["documents"])


def _tag_files(root: Path, info_tags: dict[str, str]) -> None:
    """bagit.txt, bag-info.txt and the tag manifest over them and the payload manifest."""
    (root / "bagit.txt").write_text("BagIt-Version: 0.97\nTag-File-Character-Encoding: UTF-8\n", encoding="utf-8")
    lines = "".join(f"{key}: {' '.join(str(value).split())}\n" for key, value in info_tags.items())
    (root / "bag-info.txt").write_text(lines, encoding="utf-8")
    with open(root / "tagmanifest-sha256.txt", "w", encoding="utf-8", newline="\n") as out:
        for name in ("bag-info.txt", "bagit.txt", "manifest-sha256.txt"):
            out.write(f"{hashlib.sha256((root / name).read_bytes()).hexdigest()}  {name}\n")


def write_bag(path: str | Path, records: Iterable[dict], *, version: str, organization: str | None,
              selection: str, bagged_at: dt.datetime, force: bool = False) -> dict:
    """Write the bag of `records` (`preservation.release_records` with
    documents) at `path`; returns {"releases": n, "revisions": n}.  Raises
    TargetExists when `path` exists without `force`, PackageError when the
    selection is empty."""
    counts = {"releases": 0, "revisions": 0}
    with replacing_dir(path, force=force) as tmp:
        (tmp / "data").mkdir()
        payload = _Payload(tmp)
        try:
            for info in records:
                counts["revisions"] += _write_release(payload, info, version)
                counts["releases"] += 1
        finally:
            payload.close()
        if not counts["releases"]:
            raise PackageError("no release matches the selection; nothing to package")
        _tag_files(tmp, {
            "Source-Organization": organization or "unknown (set source_organization)",
            "Bagging-Date": bagged_at.date().isoformat(),
            "External-Description": (
                f"{counts['releases']} MusicBrainz release(s) from an mbindex mirror: every stored revision "
                "of each raw ws/2 or dump document (named by hash), its mapped summary with the risk score, "
                "and a PREMIS 3 record"),
            "External-Identifier": f"mbindex selection: {selection}",
            "Bag-Software-Agent": f"mbindex {version} (BagIt 0.97; validated with bagit {bagit.VERSION})",
            "Payload-Oxum": f"{payload.bytes}.{payload.files}",
        })
    return counts


def validate_bag(path: str | Path) -> dict:
    """bagit's full validation (completeness and every checksum); returns
    {"files": n, "oxum": "bytes.files"}.  Raises BagInvalid with one line."""
    try:
        bag = bagit.Bag(str(path))
        bag.validate(processes=1)
    except bagit.BagValidationError as exc:
        details = [" ".join(str(d).split()) for d in exc.details] or [str(exc.message)]
        more = f" (and {len(details) - 1} more; --verbose lists them)" if len(details) > 1 else ""
        raise BagInvalid(f"{path} is not a valid bag: {details[0]}{more}", details) from None
    except bagit.BagError as exc:
        raise BagInvalid(f"{path} is not a valid bag: {exc}") from None
    except OSError as exc:
        raise OutputError(f"cannot read {path}: {exc.strerror or exc}") from None
    return {"files": len(bag.payload_entries()), "oxum": bag.info.get("Payload-Oxum", "")}
