"""Hostile input, round 2 (issue 24): fourteen ways in that ended in a
traceback, a corrupt record or a replaced file.  Each case ends in one clean
line and a documented exit code, with nothing stored lost.

Upstream cases run against the real HTTP servers (`hostile_server.py` for
what a hostile mirror or ListenBrainz sends, the replay server for the
rest) and the real CLI.
"""

from __future__ import annotations

import copy
import datetime as dt
import fcntl
import json
import os
import socket
import stat
import time
import uuid

import pymarc
import pytest
from hostile_server import HostileServer
from sqlalchemy import text
from starlette.testclient import TestClient

from helpers import CORPUS, FIXTURES, RICH, dump_line, release_doc, score_all, store, write_archive
from indexer.output.marc import MAX_RECORD_BYTES, marc_record
from indexer.sources.listenbrainz import PATH as LB_PATH
from indexer.sources.listenbrainz import LBError, ListenBrainz
from indexer.sources.ws2 import MAX_WAIT, RequestBudgetExhausted
from indexer.sync.dump import TombstoneGuard, import_dump
from indexer.web.app import create_app

METEORA, DSOTM, TUCSON, FOURTH = RICH["c9d52105"], RICH["b84ee12a"], RICH["12195c41"], RICH["94ad3a58"]
DSOTM_RG = "f5093c06-23e3-404f-aeaa-40f72885ee3a"
ARTIST = "0ff9fad7-5a3a-4ed5-a1f4-31b1e1e5a6a3"
TOKEN = "0123456789abcdef-test"


@pytest.fixture
def hostile():
    with HostileServer() as server:
        server.documents = {m: release_doc(m) for m in RICH.values()}
        yield server


def rows(db, sql: str, **params) -> list:
    with db.session() as s:
        return [tuple(r) for r in s.execute(text(sql), params)]


def one_line(out) -> bool:
    """The output is one `Error: ...` line at the end, and no traceback."""
    lines = out.output.strip().splitlines()
    return "Traceback" not in out.output and lines[-1].startswith("Error: ") and \
        sum(x.startswith("Error") for x in lines) == 1


# --- 1. the same release twice on one browse page ------------------------------------------------


def test_a_release_twice_on_one_browse_page_is_stored_once(db, hostile, cli_env, run_cli):
    items = [json.dumps(release_doc(m)).encode() for m in (METEORA, DSOTM, TUCSON, FOURTH)]
    hostile.browse("artist", ARTIST, items + [items[3]])  # items 4 and 5: the same release
    env = {"MBINDEX_WS_URL": hostile.url}

    first = run_cli("sync", "artist", ARTIST, env=env)
    assert first.exit_code == 0, first.output
    assert "Traceback" not in first.output
    assert sorted(r[0] for r in rows(db, "SELECT release_mbid::text FROM scope_member")) == \
        sorted([METEORA, DSOTM, TUCSON, FOURTH])
    assert rows(db, "SELECT count(*) FROM release") == [(4,)]
    before = rows(db, "SELECT mbid, hash FROM document_revision ORDER BY 1, 2")

    again = run_cli("sync", "artist", ARTIST, env=env)  # the mirror still serves that page
    assert again.exit_code == 0, again.output
    assert rows(db, "SELECT status FROM sync_run ORDER BY id") == [("ok",), ("ok",)]
    assert rows(db, "SELECT mbid, hash FROM document_revision ORDER BY 1, 2") == before


# --- 2. enrich against a hostile ListenBrainz --------------------------------------------------------


def serve_facts(replay):
    facts = json.loads((FIXTURES / "facts" / "upstream.json").read_text())
    for rg, n in facts["editions"].items():
        replay.set_count("release", "release-group", rg, n)
    for artist, n in facts["artist_release_groups"].items():
        replay.set_count("release-group", "artist", artist, n)


def popularity_answer(listens, listeners):
    """A ListenBrainz route answering every asked group with these counts."""
    def answer(h):
        groups = json.loads(h.body)["release_group_mbids"]
        body = json.dumps([{"release_group_mbid": g, "total_listen_count": listens, "total_user_count": listeners}
                           for g in groups]).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
    return answer


@pytest.fixture
def enrichable(db, replay, hostile, run_cli):
    serve_facts(replay)
    assert run_cli("sync", "release", DSOTM).exit_code == 0
    return {"MBINDEX_LB_URL": hostile.url}


def test_a_count_beyond_bigint_is_refused_fact_by_fact(db, hostile, enrichable, run_cli):
    hostile.routes[LB_PATH] = popularity_answer(2**80, 12)
    out = run_cli("enrich", env=enrichable)
    assert out.exit_code == 3, out.output
    assert "Traceback" not in out.output and "DataError" not in out.output
    assert "count(s) beyond 2^63-1 not stored" in out.output and "total_listen_count" in out.output
    facts = dict(((f, s), v) for s, f, v in rows(db, "SELECT subject_mbid::text, fact, value FROM upstream_fact"))
    assert facts[("listeners", DSOTM_RG)] == 12 and ("listens", DSOTM_RG) not in facts  # unknown, asked again
    assert facts[("editions", DSOTM_RG)] == 25  # the other phases' facts are stored
    assert rows(db, "SELECT status FROM sync_run WHERE kind = 'enrich'") == [("partial",)]


def lb_client(settings, url, **kw) -> ListenBrainz:
    return ListenBrainz(settings.__class__(**{**settings.__dict__, "lb_url": url}), "mbindex-test", **kw)


def test_a_body_nested_too_deep_is_one_error_not_retried(settings, hostile):
    hostile.serve(LB_PATH, b"[" * 200_000)
    lb = lb_client(settings, hostile.url, sleep=lambda s: None)
    with pytest.raises(LBError, match="nested too deep"):
        lb.popularity([uuid.UUID(DSOTM_RG)])
    assert hostile.hits[LB_PATH] == 1


def test_a_rate_limit_window_beyond_the_longest_wait_ends_the_run_at_once(settings, hostile):
    hostile.serve(LB_PATH, b'{"error": "rate limited"}', status=429,
                  headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-In": "3600"})
    slept = []
    lb = lb_client(settings, hostile.url, sleep=slept.append)
    with pytest.raises(RequestBudgetExhausted, match="come back after"):
        lb.popularity([uuid.UUID(DSOTM_RG)])
    assert hostile.hits[LB_PATH] == 1 and all(s <= MAX_WAIT for s in slept)


def test_a_reset_beyond_the_budget_exits_3_at_once_saying_when_to_come_back(hostile, enrichable, run_cli):
    hostile.serve(LB_PATH, b'{"error": "rate limited"}', status=429,
                  headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-In": "3600"})
    started = time.monotonic()
    out = run_cli("enrich", env=enrichable)
    assert out.exit_code == 3, out.output
    assert time.monotonic() - started < 20
    assert "come back after" in out.output and "Traceback" not in out.output


def test_a_backoff_longer_than_the_time_budget_exits_3_at_once(hostile, enrichable, run_cli):
    hostile.serve(LB_PATH, b'{"error": "slow down"}', status=429, headers={"X-RateLimit-Reset-In": "60"})
    started = time.monotonic()
    out = run_cli("enrich", "--time-budget", "5s", env=enrichable)
    assert out.exit_code == 3, out.output
    assert time.monotonic() - started < 20  # before: 61 s
    assert "beyond the time budget" in out.output and "come back after" in out.output


# --- 3. MARC records over the format's limits -----------------------------------------------------------


def box_set(tracks: int) -> dict:
    """Meteora as a box set of `tracks` tracks on 4 discs, each track and recording its own."""
    doc = copy.deepcopy(release_doc(METEORA))
    doc["id"], doc["title"] = str(uuid.uuid4()), "The Complete Box"
    template = doc["media"][0]["tracks"][0]
    doc["media"] = [dict(copy.deepcopy(doc["media"][0]), position=d + 1, tracks=[], **{"track-count": 0})
                    for d in range(4)]
    for n in range(tracks):
        t = copy.deepcopy(template)
        t["id"], t["recording"]["id"] = str(uuid.uuid4()), str(uuid.uuid4())
        t["title"] = t["recording"]["title"] = f"Box track {n + 1:04d} (live in Tucson, remastered)"
        medium = doc["media"][n % 4]
        t["position"] = len(medium["tracks"]) + 1
        t["number"] = str(t["position"])
        medium["tracks"].append(t)
        medium["track-count"] += 1
    return doc


def test_marc_records_keep_to_the_format_limits_and_read_back_whole(db, run_cli, tmp_path):
    long_title = copy.deepcopy(release_doc(TUCSON))
    long_title["title"] = "Ω" * 60_000 + "x" * 60_000  # 120,000 characters, 180,000 bytes
    store(db, long_title)
    box = box_set(600)
    store(db, box)
    for mbid in CORPUS:
        if mbid != TUCSON:
            store(db, release_doc(mbid))
    score_all(db)
    stored = rows(db, "SELECT count(*) FROM release")[0][0]

    out = run_cli("export", "-o", "marc", "--to", str(tmp_path / "r.mrc"))
    assert out.exit_code == 0, out.output
    data = (tmp_path / "r.mrc").read_bytes()
    with open(tmp_path / "r.mrc", "rb") as fh:
        records = {r["001"].data: r for r in pymarc.MARCReader(fh, to_unicode=True, force_utf8=True)}
    assert len(records) == stored == data.count(b"\x1d")  # before: 8 of 18 read back
    assert all(len(r.as_marc()) <= MAX_RECORD_BYTES for r in records.values())

    cut = records[TUCSON]
    assert cut["245"]["a"].startswith("Ω" * 1000) and cut["245"]["a"].endswith("[...]")
    assert len(cut["245"].value().encode()) < 9_999
    assert any("Shortened to fit MARC 21: 245" in f.value() for f in cut.get_fields("500"))

    contents = records[box["id"]].get_fields("505")
    assert len(contents) > 1 and contents[0].indicators[0] == "0"  # complete, over several fields
    titles = " -- ".join(f["a"] for f in contents).split(" -- ")
    assert titles == [t["title"] for m in box["media"] for t in m["tracks"]]
    xml = run_cli("export", "-o", "marcxml", "--to", str(tmp_path / "r.xml"))
    assert xml.exit_code == 0 and len(pymarc.parse_xml_to_array(str(tmp_path / "r.xml"))) == stored


def test_a_record_of_thousands_of_long_tracks_and_labels_still_fits():
    info = {
        "mbid": uuid.uuid4(), "url": "https://musicbrainz.org/release/x",
        "release": {"title": "t" * 20_000, "artist_credit": "a" * 20_000, "date": "2001", "language": "eng",
                    "barcode": "9" * 20_000},
        "media": [{"format": f"CD {i}"} for i in range(200)],
        "labels": [{"catalog_number": f"CAT-{i}" + "c" * 500, "label_name": f"Label {i}" + "l" * 500}
                   for i in range(300)],
        "tracks": [{"title": f"{i} " + "é" * 300, "kind": "data" if i % 50 == 0 else "audio"} for i in range(5_000)],
        "credits": [{"name": "n" * 300} for _ in range(500)],
    }
    record = marc_record(info, entered=dt.date(2026, 12, 7))
    raw = record.as_marc()
    assert len(raw) <= MAX_RECORD_BYTES and raw[:5].isdigit()
    back = next(iter(pymarc.MARCReader(raw, to_unicode=True, force_utf8=True)))
    assert back["505"].indicators[0] == "1" and back.get_fields("505")[-1]["a"].endswith("[...]")
    assert all(len(f.value().encode()) < 9_999 for f in back.get_fields())


# --- 4. --to onto something that is not a regular file -----------------------------------------------------


@pytest.fixture
def some(db):
    for mbid in (METEORA, TUCSON):
        store(db, release_doc(mbid))
    score_all(db)
    return db


def test_a_fifo_socket_or_device_destination_is_refused_and_left_alone(some, run_cli, tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "s.csv"))
    places = [fifo, tmp_path / "s.csv"]
    if os.geteuid() == 0:  # a /dev/full of our own
        os.mknod(tmp_path / "full", stat.S_IFCHR | 0o666, os.makedev(1, 7))
        places.append(tmp_path / "full")
    for place in places:
        kind = stat.S_IFMT(os.lstat(place).st_mode)
        for args in (("export", "--to", str(place)), ("report", "--html", str(place)),
                     ("export", "-o", "marc", "--to", str(place), "--force"),
                     ("package", METEORA, "--to", str(place), "--force")):
            out = run_cli(*args)
            assert out.exit_code == 2, (args, out.output)
            assert one_line(out) and "not replaced" in out.output
            assert len(out.output.strip().splitlines()) == 1, out.output  # refused before anything is printed
            assert stat.S_IFMT(os.lstat(place).st_mode) == kind  # still the FIFO, socket or device
    sock.close()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_symlink_is_followed_never_replaced(some, run_cli, tmp_path):
    target = tmp_path / "real.csv"
    target.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    out = run_cli("export", "--to", str(link))
    assert out.exit_code == 0, out.output
    assert link.is_symlink() and METEORA in target.read_text()
    dangling = tmp_path / "dir-link"
    dangling.symlink_to(tmp_path)  # a link to a directory, where a file is due
    assert run_cli("export", "--to", str(dangling)).exit_code == 2 and dangling.is_symlink()


# --- 5. score --policy and --config with hostile files ---------------------------------------------------------


POLICY = (FIXTURES.parent.parent / "indexer" / "analysis" / "risk_policy.toml").read_text()


@pytest.mark.parametrize("case", ["nested", "nul version", "control in a name", "too big"])
def test_a_hostile_policy_file_is_one_line_and_exit_2(some, run_cli, tmp_path, case):
    path = tmp_path / "policy.toml"
    if case == "nested":
        path.write_text("version = 'x'\nx = " + "[" * 100_000 + "]" * 100_000 + "\n")
    elif case == "nul version":
        path.write_text(POLICY.replace('version = "', 'version = "x\\u0000y', 1))
    elif case == "control in a name":
        path.write_text(POLICY + '\n[signals."a\\u001b[31m"]\nweight = 1\n')
    else:
        path.write_bytes(POLICY.encode() + b"# " + b"x" * (1 << 20) + b"\n")
    before = rows(some, "SELECT count(*) FROM risk_score")
    out = run_cli("score", "--policy", str(path))
    assert out.exit_code == 2, out.output
    assert one_line(out) and str(path) in out.output
    assert rows(some, "SELECT count(*) FROM risk_score") == before


def test_dev_zero_as_a_policy_or_a_config_is_read_within_a_bound(some, run_cli):
    out = run_cli("score", "--policy", "/dev/zero")
    assert out.exit_code == 2 and one_line(out) and "larger than 1 MB" in out.output
    out = run_cli("--config", "/dev/zero", "config", "show")
    assert out.exit_code == 2 and one_line(out) and "larger than 1 MB" in out.output


# --- 6. web ----------------------------------------------------------------------------------------------------


def test_a_revision_number_beyond_bigint_is_a_400(some):
    with TestClient(create_app(some), raise_server_exceptions=False) as web:
        res = web.get(f"/release/{METEORA}/diff?a=1&b=99999999999999999999999")
        assert res.status_code == 400 and "DataError" not in res.text
        assert web.get(f"/release/{METEORA}/diff?a=1&b={2**63 - 1}").status_code == 404


@pytest.mark.parametrize("path", ["//evil.example/", "/%2F%2Fevil.example/", "/\\evil.example/",
                                  "///evil.example/"])
def test_the_token_redirect_stays_on_this_server(some, path):
    with TestClient(create_app(some, token=TOKEN), base_url="http://testserver") as web:
        res = web.get(f"http://testserver{path}?token={TOKEN}&format=CD", follow_redirects=False)
        assert res.status_code == 303
        location = res.headers["location"]
        assert location.startswith("/") and not location.startswith(("//", "/\\")), location
        assert location.endswith("?format=CD") and TOKEN not in location


# --- 7. a complete dump with a TIMESTAMP that is not a date -------------------------------------------------------


def test_a_timestamp_that_is_not_a_date_tombstones_nothing(db, run_cli, tmp_path):
    lines = [dump_line(release_doc(m)) for m in CORPUS]
    assert import_dump(db, write_archive(tmp_path / "a.tar.xz", lines), batch=5).status == "ok"
    odd = write_archive(tmp_path / "b.tar.xz", lines[:1], timestamp="not a date\x00")
    res = import_dump(db, odd, guard=TombstoneGuard(max_percent=100))
    assert res.status == "partial" and "TIMESTAMP 'not a date\\x00' is not a date" in res.error
    assert rows(db, "SELECT count(*) FROM release WHERE deleted_at IS NOT NULL") == [(0,)]
    out = run_cli("import-dump", str(odd), env={"MBINDEX_MAX_TOMBSTONE_PERCENT": "100"})
    assert out.exit_code == 3, out.output
    assert "is not a date" in out.output and "Traceback" not in out.output and "\x00" not in out.output
    assert rows(db, "SELECT count(*) FROM release WHERE deleted_at IS NOT NULL") == [(0,)]


# --- 8. minor ---------------------------------------------------------------------------------------------------


def test_stale_temporaries_of_a_destination_are_cleaned_up(some, run_cli, tmp_path):
    stale_file = tmp_path / ".ex.xml.k2j4h5g6.tmp"
    stale_file.write_bytes(b"x" * 1000)  # what kill -9 during `export` left
    stale_dir = tmp_path / ".pk.a1b2c3d4.tmp"
    (stale_dir / "data").mkdir(parents=True)  # and during `package`
    (stale_dir / "data" / "big").write_bytes(b"y" * 1000)
    busy = tmp_path / ".ex.xml.busy0001.tmp"  # a running writer's: it holds the lock
    busy.write_bytes(b"z")
    held = os.open(busy, os.O_RDONLY)
    fcntl.flock(held, fcntl.LOCK_EX)
    other = tmp_path / ".other.csv.k2j4h5g6.tmp"  # another destination's
    other.write_bytes(b"o")
    try:
        assert run_cli("export", "-o", "marcxml", "--to", str(tmp_path / "ex.xml")).exit_code == 0
        assert run_cli("package", METEORA, "--to", str(tmp_path / "pk")).exit_code == 0
        assert not stale_file.exists() and not stale_dir.exists()
        assert busy.exists() and other.exists()
    finally:
        os.close(held)


def test_line_and_paragraph_separators_are_escaped_on_the_terminal(db, run_cli):
    doc = release_doc(METEORA)
    doc["title"] = "Meteora\u2028line\u2029para"
    store(db, doc)
    score_all(db)
    for args in (("flagged",), ("show", METEORA)):
        out = run_cli(*args)
        assert out.exit_code == 0, out.output
        assert "\u2028" not in out.output and "\u2029" not in out.output
        assert "Meteora\\u2028line\\u2029para" in out.output


def test_serve_on_a_port_in_use_is_exit_2(db, run_cli):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        out = run_cli("serve", "--port", str(busy.getsockname()[1]))
    finally:
        busy.close()
    assert out.exit_code == 2, out.output
    assert one_line(out) and "cannot listen on 127.0.0.1:" in out.output and "--port" in out.output


def test_a_destination_that_cannot_be_written_is_exit_2_in_every_format(some, run_cli):
    for args in (("export", "--to", "/proc/x.csv"), ("export", "-o", "marc", "--to", "/proc/x.mrc"),
                 ("export", "-o", "marcxml", "--to", "/proc/x.xml"), ("package", METEORA, "--to", "/proc/x"),
                 ("report", "--html", "/proc/x.html")):
        out = run_cli(*args)
        assert out.exit_code == 2, (args, out.output)
        assert one_line(out) and "cannot write /proc/x" in out.output
        assert "no new file can be created in /proc" in out.output  # not a bare "No such file or directory"


def test_validate_of_a_tampered_manifest_is_one_line_and_verbose_lists_a_few(some, run_cli, tmp_path):
    for mbid in CORPUS:
        store(some, release_doc(mbid))
    score_all(some)
    bag = tmp_path / "bag"
    assert run_cli("package", "--to", str(bag)).exit_code == 0
    manifest = bag / "manifest-sha256.txt"
    lines = manifest.read_text().splitlines()
    assert len(lines) > 25
    manifest.write_text("".join("0000" + x[4:] + "\n" for x in lines))
    out = run_cli("package", "--validate", str(bag))
    assert out.exit_code == 1
    assert len(out.output.strip().splitlines()) == 1 and "is not a valid bag" in out.output  # before: 56 lines
    assert "more; --verbose lists them" in out.output
    verbose = run_cli("package", "--validate", str(bag), "--verbose")
    assert verbose.exit_code == 1 and len(verbose.output.strip().splitlines()) == 21
