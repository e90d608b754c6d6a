"""Readers that share an archive (readers.RecordClaims) skip the records the others took without parsing them: they
go on at the latest resume point a reader left in the claim file (archives.ResumePoint). Whatever the interleaving
of the readers, together they give exactly the outcomes of one reader of the whole file, each once; and the
records parsed in all come to at most twice the file's (a reader parses the taken record at the resume point, then
its own), not once per reader; a file that is one gzip member is still parsed whole by each."""
from __future__ import annotations

import gzip
import hashlib
import io
import random
import zlib
from collections import Counter
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

import pipelines.ingest.readers as readers
from pipelines.ingest.inputs import ARCHIVE, InputFile
from pipelines.ingest.readers import read_input_file, split_input


def _warc_bytes(n: int, gzip_members: bool) -> bytes:
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=gzip_members)
    for i in range(n):
        words = " ".join(hashlib.sha256(f"{i}-{j}".encode()).hexdigest()[:8] for j in range(100 + i % 50))
        body = f"<html><head><title>page {i}</title></head><body><p>{words}</p></body></html>".encode()
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(f"http://example.com/{i}", "response", payload=io.BytesIO(body),
                                                      http_headers=http))
        if i % 3 == 0:
            writer.write_record(writer.create_warc_record(f"http://example.com/{i}", "metadata",
                                                          payload=io.BytesIO(b"via: test\r\n"),
                                                          warc_content_type="application/warc-fields"))
    return out.getvalue()


def _key(outcome):
    status, value = outcome
    return repr((status, sorted(value.items()) if isinstance(value, dict) else value))


class _Parsed:
    """Counts the records each iter_archive call parses (wraps the readers' reference to it)."""

    def __init__(self, monkeypatch):
        self.records = 0
        real = readers.iter_archive

        def counting(*args, **kwargs):
            for rec in real(*args, **kwargs):
                self.records += 1
                yield rec

        monkeypatch.setattr(readers, "iter_archive", counting)


def _shared_read(path: str, k: int, claims_dir: Path, schedule: str, seed: int = 0, direct: bool = False):
    """The outcomes of k readers sharing `path`, driven one outcome at a time: `round` in turn, `random` by a
    seeded draw, `serial` one after the other. `direct`: through read_archive, whatever the file's size."""
    if direct:
        claims = str(claims_dir / "file.claims")
        readers_ = [iter(readers.read_archive(path, claims=claims)) for _ in range(k)]
    else:
        shards = list(split_input(InputFile(ARCHIVE, path), shards=k, claims_dir=str(claims_dir)))
        assert len(shards) == k and shards[0].claims
        readers_ = [iter(read_input_file(s)) for s in shards]
    got, live, rng, shares = [], list(range(k)), random.Random(seed), Counter()
    while live:
        if schedule == "serial":
            i = live[0]
        elif schedule == "round":
            i = live[len(got) % len(live)]
        else:
            i = rng.choice(live)
        try:
            got.append(next(readers_[i]))
            shares[i] += 1
        except StopIteration:
            live.remove(i)
    if schedule == "round" and len(got) >= 10 * k:  # in turn, each reader gets about its share: none stopped early
        assert min(shares[i] for i in range(k)) >= len(got) // (2 * k), shares
    return got


def _whole(path: str):
    return list(read_input_file(InputFile(ARCHIVE, path)))


@pytest.mark.parametrize("kind", ["members", "plain", "one_member"])
def test_shared_readers_give_the_whole_files_outcomes_once_and_parse_it_at_most_twice_over(kind, tmp_path, monkeypatch):
    data = _warc_bytes(400, gzip_members=kind == "members")
    if kind == "one_member":  # the whole file one gzip member: no record but the first opens a member
        data = gzip.compress(data)
    path = tmp_path / ("a.warc" if kind == "plain" else "a.warc.gz")
    path.write_bytes(data)
    assert path.stat().st_size >= readers.SHARD_MIN_BYTES
    whole = _whole(str(path))
    records = len(whole)
    assert records == 400 + 134  # the responses and the metadata records (one outcome each)
    parsed = _Parsed(monkeypatch)
    for n, schedule in enumerate(["round", "random", "serial"]):
        for k in (2, 4):
            before = parsed.records
            got = _shared_read(str(path), k, tmp_path / f"c{n}-{k}", schedule, seed=k)
            assert sorted(map(_key, got)) == sorted(map(_key, whole))
            count = parsed.records - before
            if kind == "one_member":  # nowhere to go on at: every reader parses the whole file
                assert count == k * records
            elif schedule == "serial":  # the first reader takes all; each other one parses two records
                assert count <= records + 2 * (k - 1)
            else:  # two records parsed per record taken at worst (the one at the resume point, then its own), not k
                assert count <= 2 * records + k, (schedule, k, count)


@pytest.mark.shared_data
def test_shared_readers_of_real_archives_match_one_reader(shared_data, tmp_path, monkeypatch):
    """Every big real archive (WARC and ARC, gzip members), and a big one cut short in the middle of a record, read
    by 3 readers in turn and in a random order: each record once, the damage that ends the file once."""
    paths = sorted(str(p) for p in (shared_data / "warc").rglob("*")
                   if p.is_file() and p.name.endswith((".warc", ".warc.gz", ".arc", ".arc.gz"))
                   and p.stat().st_size >= readers.SHARD_MIN_BYTES)
    assert len(paths) >= 5
    data = Path(paths[0]).read_bytes()
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(data[: len(data) // 2 + 7])
    paths.append(str(cut))
    parsed = _Parsed(monkeypatch)
    for i, path in enumerate(paths):
        whole = _whole(path)
        alone = parsed.records
        for schedule in ("round", "random"):
            before = parsed.records
            got = _shared_read(path, 3, tmp_path / f"{i}-{schedule}", schedule, seed=i)
            assert sorted(map(_key, got)) == sorted(map(_key, whole)), (path, schedule)
            assert Counter(s for s, _ in got) == Counter(s for s, _ in whole)
            assert parsed.records - before <= 2 * alone + 3, (path, schedule, parsed.records - before, alone)
        parsed.records = 0


def _damaged_warc(tmp_path: Path) -> str:
    """Gzip members, one cut short in the middle, one record with a wrong Content-Length, garbage between two
    members, and the file cut short at the end."""
    members = []
    data = _warc_bytes(60, gzip_members=True)
    while data:  # split into its members
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        d.decompress(data)
        members.append(data[: len(data) - len(d.unused_data)])
        data = d.unused_data
    members[10] = members[10][: len(members[10]) // 2]
    plain = gzip.decompress(members[20]).replace(b"Content-Length: ", b"Content-Length: 1", 1)
    members[20] = gzip.compress(plain)
    members[30] = members[30] + b"not gzip at all" * 10
    path = tmp_path / "damaged.warc.gz"
    path.write_bytes(b"".join(members)[:-40])
    return str(path)


def _match_one_reader(paths, schedule, tmp_path) -> Counter:
    """The outcomes by status of one reader of each file, checked equal to those of 3 readers sharing it."""
    statuses = Counter()
    for i, path in enumerate(paths):
        whole = _whole(path)
        statuses.update(s for s, _ in whole)
        got = _shared_read(path, 3, tmp_path / f"d{i}", schedule, seed=i, direct=True)
        assert sorted(map(_key, got)) == sorted(map(_key, whole)), path
    return statuses


@pytest.mark.parametrize("schedule", ["round", "random", "serial"])
def test_shared_readers_of_a_damaged_archive_match_one_reader(schedule, tmp_path):
    """Damage read by readers that jump: every record, damaged record and the error that ends the file once, as
    one reader gives them."""
    statuses = _match_one_reader([_damaged_warc(tmp_path)], schedule, tmp_path)
    assert statuses["error"] >= 3 and statuses["kept"] >= 50


@pytest.mark.shared_data
@pytest.mark.parametrize("schedule", ["round", "random"])
def test_shared_readers_of_every_real_archive_match_one_reader(schedule, shared_data, tmp_path):
    """Every file of ../shared/data/warc, whatever its size, read by 3 readers sharing a claim file: the edge cases
    (ARC v1 and v2, CR CR LF headers, wrong lengths, garbage, whole-file gzip, a file that is no archive) too."""
    paths = sorted(str(p) for p in (shared_data / "warc").rglob("*") if p.is_file())
    assert len(paths) >= 20
    statuses = _match_one_reader(paths, schedule, tmp_path)
    assert statuses["kept"] >= 800 and statuses["dropped"] >= 1000, statuses


@pytest.mark.parametrize("schedule", ["round", "random"])
def test_shared_readers_cap_the_same_records_as_one_reader(schedule, tmp_path):
    """The file's cap on the blocks it hands on (archive_cap) goes on across jumps: the resume point carries the
    bytes handed on before it, so the same records are let go as with one reader."""
    from tests.test_archive_limits import _big_page_member

    path = tmp_path / "many.warc.gz"
    path.write_bytes(b"".join(_big_page_member(i, 1 << 20) for i in range(80)))
    statuses = _match_one_reader([str(path)], schedule, tmp_path)
    assert statuses == Counter({"kept": 63, "rejected": 17}), statuses
