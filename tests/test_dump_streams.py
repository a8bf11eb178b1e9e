"""The streaming layer under the dump reader: the threaded .xz stream, the
tar member reader and the bulk line splitter, against the standard library
doing the same the slow way (`lzma.open`, `tarfile`, `readline`)."""

from __future__ import annotations

import io
import lzma
import random
import tarfile
import threading

import pytest

from indexer.sources import dump_files
from indexer.sources.decompress import ThreadedXz, XzError
from indexer.sources.dump_files import LINE_HEAD, bounded_lines, tar_members


def _read_all(stream, n: int) -> bytes:
    out = []
    while chunk := stream.read(n):
        out.append(chunk)
    return b"".join(out)


def _random_lines(seed: int, count: int) -> bytes:
    rnd = random.Random(seed)
    lines = []
    for _ in range(count):
        n = rnd.choice([0, 1, 5, 30, 200, 3000, 70_000])
        lines.append(bytes(rnd.randrange(32, 127) for _ in range(min(n, 50))) * (n // 50 + 1))
    return b"\n".join(line[:rnd.randrange(0, 200_000)] for line in lines) + rnd.choice([b"", b"\n"])


def test_threaded_xz_reads_what_lzma_reads_across_concatenated_streams(tmp_path):
    data = _random_lines(1, 300)
    path = tmp_path / "x.xz"
    path.write_bytes(lzma.compress(data[:100_000]) + lzma.compress(data[100_000:]))  # two streams, as `xz -dc` reads
    for n in (1, 511, 1 << 20):
        with open(path, "rb") as f:
            xz = ThreadedXz(f)
            assert _read_all(xz, n) == data, n
            assert xz.position == path.stat().st_size
            xz.close()


@pytest.mark.parametrize("damage", ["truncated", "corrupt", "empty", "not xz"])
def test_threaded_xz_raises_on_a_broken_file(tmp_path, damage):
    whole = lzma.compress(_random_lines(2, 200))
    body = {"truncated": whole[:len(whole) // 2], "corrupt": whole[:200] + b"\xff" * 64 + whole[264:],
            "empty": b"", "not xz": b"{\"id\": 1}\n" * 100}[damage]
    path = tmp_path / "x.xz"
    path.write_bytes(body)
    with open(path, "rb") as f:
        xz = ThreadedXz(f)
        with pytest.raises(XzError):
            _read_all(xz, 1 << 16)
        xz.close()


def test_threaded_xz_closed_early_stops_its_thread(tmp_path):
    path = tmp_path / "x.xz"
    path.write_bytes(lzma.compress(bytes(50 << 20)))  # 50 MB of zeros: far more than it reads ahead
    before = threading.active_count()
    with open(path, "rb") as f:
        xz = ThreadedXz(f)
        assert len(xz.read(1000)) == 1000
        xz.close()
    assert threading.active_count() == before


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_tar_members_reads_what_tarfile_reads(fmt):
    long_name = "mbdump/" + "d" * 120 + "/release"  # beyond ustar's 100 characters: GNU or pax headers
    files = {"TIMESTAMP": b"2026-12-05 00:00:00.000000+00\n", "mbdump/release": _random_lines(3, 50),
             "empty": b"", "x" * 99: b"odd sized" * 57}
    if fmt != tarfile.USTAR_FORMAT:
        files[long_name] = b"a line\n" * 1000
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        folder = tarfile.TarInfo("mbdump")
        folder.type = tarfile.DIRTYPE  # a directory entry: no data, not regular
        tar.addfile(folder)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    got = {name: _read_all(data, 4096) for name, regular, data in tar_members(buf) if regular}
    assert got == files


def test_tar_members_skips_what_is_not_read():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("a", b"1" * 5000), ("b", b"2" * 7)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    names = [(name, data.read(3)) for name, _, data in tar_members(buf)]  # a few bytes of each
    assert names == [("a", b"111"), ("b", b"222")]


def test_tar_members_refuses_a_damaged_header():
    buf = io.BytesIO(b"x" * 1024)
    with pytest.raises(tarfile.TarError):
        list(tar_members(buf))


def _slow_lines(data: bytes, max_len: int) -> list[tuple[int, bytes, int | None]]:
    """What bounded_lines must give, by readline."""
    out, offset = [], 0
    for line in io.BytesIO(data).readlines():
        n = len(line) - line.endswith(b"\n")
        out.append((offset, line, None) if n <= max_len else (offset, line[:LINE_HEAD], n))
        offset += len(line)
    return out


@pytest.mark.parametrize("chunk", [1, 7, 4096, 65_536, 1 << 20])
@pytest.mark.parametrize("seed", [4, 5])
def test_bounded_lines_cuts_chunks_as_readline_would(monkeypatch, chunk, seed):
    monkeypatch.setattr(dump_files, "_CHUNK", chunk)
    data = _random_lines(seed, 120)
    if chunk < 4096:  # byte by byte through 4 MB is slow: a head of it, cut mid-line
        data = data[:30_000]
    max_len = 60_000 if chunk >= 4096 else 500  # some lines are longer: kept by reference, their first KB
    got = [(line.offset, bytes(line.data), line.length) for line in bounded_lines(io.BytesIO(data), max_len)]
    assert got == _slow_lines(data, max_len)
