"""A PREMIS 3 record per release (standard library XML).

Objects: the release as an intellectual entity (identifiers: MBID, barcode,
catalogue numbers) and each stored revision as a file with its SHA-256
fixity (the same digest as the bag's manifest).  Events: the ingestion of
each revision (when it was first seen, from the ws/2 API or a dump), the
upstream deletion kept as a tombstone, each MBID merged into the release,
and each curation mark.  Agents: mbindex with its version, MusicBrainz as
the source, and each person named in a curation mark.
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET

PREMIS_NS = "http://www.loc.gov/premis/v3"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION = f"{PREMIS_NS} https://www.loc.gov/standards/premis/v3/premis.xsd"
MB_AGENT = ("URI", "https://musicbrainz.org")
#: characters XML 1.0 cannot carry (upstream text may hold them): written as U+FFFD
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
ET.register_namespace("premis", PREMIS_NS)
ET.register_namespace("xsi", XSI_NS)


def _q(tag: str) -> str:
    return f"{{{PREMIS_NS}}}{tag}"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **children: str) -> ET.Element:
    """A child element with optional text, then simple text children in order."""
    el = ET.SubElement(parent, _q(tag))
    if text is not None:
        el.text = xml_safe(text)
    for name, value in children.items():
        ET.SubElement(el, _q(name)).text = xml_safe(value)
    return el


def xml_safe(text: str) -> str:
    """`text` with what XML 1.0 cannot carry replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def _identifier(parent: ET.Element, kind: str, id_type: str, value: str) -> None:
    """`<kindIdentifier>` with its Type and Value children (object, event, agent, linking…)."""
    el = _sub(parent, f"{kind}Identifier")
    _sub(el, f"{kind}IdentifierType", id_type)
    _sub(el, f"{kind}IdentifierValue", value)


def _iso(value) -> str:
    return value.isoformat()


def document_path(mbid, doc: dict) -> str:
    """Where a revision's raw bytes sit in the bag, named by its hash."""
    return f"data/{mbid}/{doc['hash']}.json"


def _entity(root: ET.Element, info: dict) -> None:
    obj = _sub(root, "object")
    obj.set(f"{{{XSI_NS}}}type", "premis:intellectualEntity")
    _identifier(obj, "object", "MusicBrainz release MBID", str(info["mbid"]))
    barcode = info["release"]["barcode"]
    if barcode:
        _identifier(obj, "object", "barcode", barcode)
    for label in info["labels"]:
        if label["catalog_number"]:
            _identifier(obj, "object", f"catalogue number ({label['label_name'] or 'unknown label'})",
                        label["catalog_number"])
    _sub(obj, "originalName", info["release"]["title"])


def _file(root: ET.Element, info: dict, doc: dict) -> None:
    obj = _sub(root, "object")
    obj.set(f"{{{XSI_NS}}}type", "premis:file")
    _identifier(obj, "object", "local", document_path(info["mbid"], doc))
    _identifier(obj, "object", "mbindex document hash (sha256 of canonical JSON)", doc["hash"])
    chars = _sub(obj, "objectCharacteristics", compositionLevel="0")
    _sub(chars, "fixity", messageDigestAlgorithm="SHA-256",
         messageDigest=hashlib.sha256(doc["raw"]).hexdigest(), messageDigestOriginator="mbindex")
    _sub(chars, "size", str(len(doc["raw"])))
    fmt = _sub(chars, "format")
    _sub(fmt, "formatDesignation", formatName="application/json")
    rel = _sub(obj, "relationship", relationshipType="structural", relationshipSubType="is included in")
    _identifier(rel, "relatedObject", "MusicBrainz release MBID", str(info["mbid"]))


def _event(root: ET.Element, n: int, when, kind: str, detail: str, agents: list[tuple[str, str, str]],
           objects: list[tuple[str, str]]) -> None:
    """One event; agents as (type, value, role), objects as (type, value)."""
    ev = _sub(root, "event")
    _identifier(ev, "event", "local", f"event-{n}")
    _sub(ev, "eventType", kind)
    _sub(ev, "eventDateTime", _iso(when))
    _sub(ev, "eventDetailInformation", eventDetail=detail)
    for id_type, value, role in agents:
        link = _sub(ev, "linkingAgentIdentifier")
        _sub(link, "linkingAgentIdentifierType", id_type)
        _sub(link, "linkingAgentIdentifierValue", value)
        _sub(link, "linkingAgentRole", role)
    for id_type, value in objects:
        _identifier(ev, "linkingObject", id_type, value)


def _events(root: ET.Element, info: dict, mbindex: tuple[str, str]) -> set[str]:
    """Every event of the release, oldest first; returns the curators named."""
    entity = ("MusicBrainz release MBID", str(info["mbid"]))
    tool = (*mbindex, "executing program")
    source = (*MB_AGENT, "source")
    events = []
    for doc in info["documents"]:
        origin = "the MusicBrainz ws/2 API" if doc["source"] == "api" else f"a MusicBrainz data dump ({doc['source']})"
        events.append((doc["first_seen"], "ingestion",
                       f"revision {doc['hash']} recorded from {origin}; last seen {_iso(doc['last_seen'])}",
                       [source, tool], [("local", document_path(info["mbid"], doc)), entity]))
    for r in info["redirects"]:
        events.append((r["first_seen"], "redirect", f"MusicBrainz merged release {r['old_mbid']} into this one",
                       [source, tool], [("MusicBrainz release MBID", str(r["old_mbid"])), entity]))
    release = info["release"]
    if release["deleted_at"] is not None:
        events.append((release["deleted_at"], "deletion",
                       f"deleted upstream ({release['deleted_reason'] or 'no reason given'}); kept here as a tombstone",
                       [source, tool], [entity]))
    curators = set()
    for mark in info["curation_history"]:
        who = mark["marked_by"] or "unnamed curator"
        curators.add(who)
        note = f": {mark['note']}" if mark["note"] else ""
        events.append((mark["marked_at"], "appraisal", f"curation marked {mark['status']}{note}",
                       [("local", who, "curator"), tool], [entity]))
    events.sort(key=lambda e: e[0])
    for n, event in enumerate(events, 1):
        _event(root, n, *event)
    return curators


def _agent(root: ET.Element, id_type: str, value: str, name: str, kind: str, version: str | None = None) -> None:
    agent = _sub(root, "agent")
    _identifier(agent, "agent", id_type, value)
    _sub(agent, "agentName", name)
    _sub(agent, "agentType", kind)
    if version is not None:
        _sub(agent, "agentVersion", version)


def premis_xml(info: dict, version: str) -> bytes:
    """The PREMIS 3 document of one release record (`preservation.release_record_in`
    with documents), as UTF-8 bytes."""
    root = ET.Element(_q("premis"), {"version": "3.0", f"{{{XSI_NS}}}schemaLocation": SCHEMA_LOCATION})
    _entity(root, info)
    for doc in info["documents"]:
        _file(root, info, doc)
    mbindex = ("local", f"mbindex {version}")
    curators = _events(root, info, mbindex)
    _agent(root, *mbindex, "mbindex", "software", version)
    _agent(root, *MB_AGENT, "MusicBrainz", "organization")
    for who in sorted(curators):
        _agent(root, "local", who, who, "person")
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
