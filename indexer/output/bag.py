"""BagIt packages of releases (the Library of Congress `bagit` package).

Layout of a bag:

    bag-info.txt  bagit.txt  manifest-sha256.txt  tagmanifest-sha256.txt
    data/<mbid>/<hash>.json   every stored revision, byte for byte as stored
    data/<mbid>/release.json  the mapped summary (`curation.show()`: score,
                              signals, facts, labels, media, tracks, history)
    data/<mbid>/premis.xml    the PREMIS 3 record (`output.premis`)

The bag is built under a temporary name beside the destination and renamed
only when complete, so a failure never leaves half a package.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

import bagit

from .files import OutputError, replacing_dir
from .premis import premis_xml

SUMMARY_NAME = "release.json"
CHECKSUMS = ["sha256"]


class PackageError(Exception):
    """A package could not be made or checked; the message says which and why."""


class BagInvalid(PackageError):
    """`--validate` found a bag incomplete or with a file that does not match its manifest."""


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


def _write_release(root: Path, info: dict, version: str) -> int:
    """Write one release's folder (it moves under data/ when the bag is made);
    returns the number of revisions written."""
    folder = root / str(info["mbid"])
    folder.mkdir()
    for doc in info["documents"]:
        (folder / f"{doc['hash']}.json").write_bytes(doc["raw"])
    (folder / SUMMARY_NAME).write_bytes(summary_json(info))
    (folder / "premis.xml").write_bytes(premis_xml(info, version))
    return len(info["documents"])


def write_bag(path: str | Path, records: Iterable[dict], *, version: str, organization: str | None,
              selection: str, bagged_at: dt.datetime, force: bool = False) -> dict:
    """Write the bag of `records` (`preservation.release_records` with
    documents) at `path`; returns {"releases": n, "revisions": n}.  Raises
    TargetExists when `path` exists without `force`, PackageError when the
    selection is empty."""
    counts = {"releases": 0, "revisions": 0}
    with replacing_dir(path, force=force) as tmp:
        for info in records:
            counts["revisions"] += _write_release(tmp, info, version)
            counts["releases"] += 1
        if not counts["releases"]:
            raise PackageError("no release matches the selection; nothing to package")
        info_tags = {
            "Source-Organization": organization or "unknown (set source_organization)",
            "Bagging-Date": bagged_at.date().isoformat(),
            "External-Description": (
                f"{counts['releases']} MusicBrainz release(s) from an mbindex mirror: every stored revision "
                "of each raw ws/2 or dump document (named by hash), its mapped summary with the risk score, "
                "and a PREMIS 3 record"),
            "External-Identifier": f"mbindex selection: {selection}",
            "Bag-Software-Agent": f"mbindex {version} (bagit {bagit.VERSION})",
        }
        try:
            bagit.make_bag(str(tmp), info_tags, processes=1, checksums=CHECKSUMS)
        except bagit.BagError as exc:
            raise PackageError(f"cannot make the bag {path}: {exc}") from None
    return counts


def validate_bag(path: str | Path) -> dict:
    """bagit's full validation (completeness and every checksum); returns
    {"files": n, "oxum": "bytes.files"}.  Raises BagInvalid with one line."""
    try:
        bag = bagit.Bag(str(path))
        bag.validate(processes=1)
    except bagit.BagValidationError as exc:
        details = "; ".join(str(d) for d in exc.details[:3]) or str(exc.message)
        more = f" (and {len(exc.details) - 3} more)" if len(exc.details) > 3 else ""
        raise BagInvalid(f"{path} is not a valid bag: {details}{more}") from None
    except bagit.BagError as exc:
        raise BagInvalid(f"{path} is not a valid bag: {exc}") from None
    except OSError as exc:
        raise OutputError(f"cannot read {path}: {exc.strerror or exc}") from None
    return {"files": len(bag.payload_entries()), "oxum": bag.info.get("Payload-Oxum", "")}
