"""Reading inputs: real WARC/ARC files (and their malformed cousins), JSONL, Parquet and code trees."""
from __future__ import annotations

import gzip
import json
import os
import tarfile
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from warcio.archiveiterator import ArchiveIterator

from pipelines.ingest.inputs import ARCHIVE, CODE, CODE_FILE, JSONL, PARQUET, InputFile
from pipelines.ingest.readers import expand_input_specs, iter_raw_records, read_input_file, split_input
from pipelines.ingest.records import BODY, CONTENT_TYPE, HTTP_STATUS, RAW_RECORD_FIELDS
from pipelines.transforms.read import ReadInputs
from schemas import CODE_LANGUAGE, ERROR, ID, INPUT_OFFSET, INPUT_PATH, SOURCE, TEXT, URL

def outcomes(item, kept_away=None):
    counts, kept, errors = Counter(), [], []
    kept_away = [] if kept_away is None else kept_away
    for status, value in read_input_file(item):
        if status == "kept":
            counts["kept"] += 1
            kept.append(value)
        elif status == "dropped":
            counts["dropped_" + value] += 1
        elif status == "rejected":  # let go unread: a rejected row of stage read
            counts["dropped_" + value["reason"]] += 1
            kept_away.append(value)
        else:
            counts["errors"] += 1
            errors.append(value)
    return counts, kept, errors


def warcio_counts(path):
    """An independent count straight from warcio: records by type."""
    counts = Counter()
    with open(path, "rb") as fh:
        for rec in ArchiveIterator(fh, arc2warc=True):
            counts[rec.rec_type] += 1
    return counts


@pytest.mark.shared_data
def test_archive_counts_match_warcio(shared_data):
    paths = sorted(str(p) for p in (shared_data / "warc").glob("*/*") if not str(p).endswith(".bad"))
    assert len(paths) >= 20
    for path in paths:
        expected = warcio_counts(path)
        counts, kept, errors = outcomes(InputFile(ARCHIVE, path))
        content = expected["response"] + expected["resource"] + expected["conversion"]
        assert counts["kept"] == content, path
        assert counts["dropped_revisit"] == expected["revisit"], path
        assert counts["dropped_record_type"] == expected["request"] + expected["metadata"] + expected["warcinfo"], path
        assert not errors, path
        for rec in kept:
            assert set(rec) == set(RAW_RECORD_FIELDS)
            assert rec[SOURCE] == "web" and rec[INPUT_PATH] == path and isinstance(rec[BODY], bytes)


@pytest.mark.shared_data
def test_archive_records_point_back_and_ids_are_stable(shared_data):
    path = str(shared_data / "warc/web_crawls/pywb__iana.warc.gz")
    _, first, _ = outcomes(InputFile(ARCHIVE, path))
    _, second, _ = outcomes(InputFile(ARCHIVE, path))
    assert [r[ID] for r in first] == [r[ID] for r in second]
    assert len({r[ID] for r in first}) == len(first)
    # The offset is where the record starts: re-open there and read the same record.
    rec = first[5]
    with open(path, "rb") as fh:
        fh.seek(rec[INPUT_OFFSET])
        again = next(iter(ArchiveIterator(fh)))
        assert again.rec_headers.get_header("WARC-Target-URI") == rec[URL]
        assert again.content_stream().read() == rec[BODY]
    html = [r for r in first if (r[CONTENT_TYPE] or "").startswith("text/html") and r[HTTP_STATUS] == 200]
    assert html and all(r[URL].startswith("http") for r in html)
    # ARC records get ids from (file, offset): the same in two runs even though warcio invents WARC ids.
    arc = str(shared_data / "warc/edge_cases/warcio__example-space-in-url.arc")
    assert [r[ID] for r in outcomes(InputFile(ARCHIVE, arc))[1]] == [r[ID] for r in outcomes(InputFile(ARCHIVE, arc))[1]]


@pytest.mark.shared_data
def test_edge_cases_never_crash(shared_data):
    edge = shared_data / "warc/edge_cases"
    # A file named .bad is no known kind: the spec fails up front, naming itself and the accepted kinds ...
    bad = str(edge / "warcio__example-bad.warc.gz.bad")
    with pytest.raises(ValueError, match=r"example-bad.*accepted kinds are .*\.warc\.gz"):
        expand_input_specs([bad])
    # ... forced with warc:, the whole file compressed as one gzip member reads completely (warcio stops
    # after the first record here): all six records, the 200 page whole.
    [item] = expand_input_specs(["warc:" + bad])
    counts, kept, errors = outcomes(item)
    assert counts == Counter({"dropped_record_type": 3, "dropped_revisit": 1, "kept": 2})
    assert [(r[URL], r[HTTP_STATUS], len(r[BODY])) for r in kept] == [
        ("http://example.com?example=1", 200, 1270), ("http://www.iana.org/domains/example", 302, 201)]
    # The truncated crawl, wget-style <uri>, gzip content-encoding: good records come out, nothing raises.
    counts, kept, _ = outcomes(InputFile(ARCHIVE, str(edge / "ukwa__IAH-20080430204825-00000-blackbook-truncated.warc.gz")))
    assert counts["kept"] == 8
    _, kept, _ = outcomes(InputFile(ARCHIVE, str(edge / "warcio__example-wget-bad-target-uri.warc.gz")))
    assert all(not r[URL].startswith("<") for r in kept if r[URL])
    _, kept, _ = outcomes(InputFile(ARCHIVE, str(edge / "ukwa__transfer_compression_gzip.warc.gz")))
    assert any(b"<html" in r[BODY].lower() for r in kept)  # the gzip Content-Encoding is undone


@pytest.mark.shared_data
def test_truncated_file_yields_good_records_then_one_error(shared_data, tmp_path):
    # Cut an uncompressed WARC after its third record: a record broken mid-payload, or garbage.
    src = (shared_data / "warc/edge_cases/warcio__example.warc").read_bytes()
    cut = src.index(b"WARC/1.0", src.index(b"WARC/1.0", src.index(b"WARC-Type: response")) + 1)
    path = tmp_path / "cut.warc"
    for tail in (b"WARC/1.0\r\nWARC-Type: response\r\nContent-Length: 5000\r\n\r\nHTTP/1.", b"GARBAGE\r\n\r\n"):
        path.write_bytes(src[:cut] + tail)
        counts, kept, errors = outcomes(InputFile(ARCHIVE, str(path)))
        assert counts["kept"] == 1 and counts["errors"] == 1, tail
        assert abs(errors[0][INPUT_OFFSET] - cut) <= 4  # warcio's record length leaves out the CRLF CRLF


def test_expand_specs_globs_and_unknown_kinds(tmp_path):
    for name in ("a.warc.gz", "b.jsonl", "c.parquet", "d.txt"):
        (tmp_path / name).write_bytes(b"")
    files = expand_input_specs([str(tmp_path / "*")])  # a glob skips files of no known kind
    assert [(os.path.basename(f.path), f.kind) for f in files] == [
        ("a.warc.gz", ARCHIVE), ("b.jsonl", JSONL), ("c.parquet", PARQUET)]
    with pytest.raises(ValueError, match=r"d\.txt.*accepted kinds"):
        expand_input_specs([str(tmp_path / "d.txt")])
    with pytest.raises(ValueError, match="matches no file"):
        expand_input_specs([str(tmp_path / "nothing-*.warc")])
    with pytest.raises(ValueError, match="code:PATH"):
        expand_input_specs(["code:" + str(tmp_path / "no-such-dir")])
    os.symlink(tmp_path / "moved.warc.gz", tmp_path / "dangling.warc.gz")  # a link whose target is gone
    os.symlink(tmp_path / "loop-b.jsonl", tmp_path / "loop-a.jsonl")
    os.symlink(tmp_path / "loop-a.jsonl", tmp_path / "loop-b.jsonl")
    for name in ("dangling.warc.gz", "loop-a.jsonl"):
        with pytest.raises(ValueError, match=rf"{name}.* is a symbolic link to .*does not exist.*loop"):
            expand_input_specs([str(tmp_path / name)])
    # a glob names no link: one that matches only dangling links matches nothing, as before
    with pytest.raises(ValueError, match="matches no file$"):
        expand_input_specs([str(tmp_path / "dangl*.warc.gz")])



def test_a_glob_warns_once_about_a_file_it_skips(tmp_path, caplog):
    """The driver expands a spec before the job and each worker expands it again: the warning about a file
    of no known kind came once per expansion (three lines for one file under `--workers 2`)."""
    from pipelines.jobs.curate import run_curate
    from pipelines.jobs.recipe import parse_recipe

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text(json.dumps({"id": "a", "text": "a document of a few words"}) + "\n")
    (tmp_path / "in" / "notes.txt").write_text("not an input\n")
    with caplog.at_level("WARNING", logger="pipelines.ingest.readers"):
        report = run_curate([str(tmp_path / "in" / "*")], str(tmp_path / "out"), parse_recipe({"url": {}}))
    skipped = [r.getMessage() for r in caplog.records if "not a known input kind" in r.getMessage()]
    assert len(skipped) == 1 and skipped[0].endswith("notes.txt (not a known input kind)")
    read = report.stage("read")
    assert (read.in_, read.kept) == (1, 1) and read.balanced



def test_a_curate_with_error_rows_says_where_they_are(tmp_path, caplog):
    """The funnel printed after a curate gives the error count only: the log names the stages, the errors
    directory and the command that prints the rows (before: nothing said where to look)."""
    from pipelines.jobs.curate import run_curate
    from pipelines.jobs.recipe import parse_recipe

    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "a", "text": "a document of a few words"}) + "\n[1, 2]\n{broken\n")
    out = tmp_path / "out"
    with caplog.at_level("WARNING", logger="pipelines.jobs.curate"):
        report = run_curate([str(src)], str(out), parse_recipe({"url": {}}))
    assert report.stage("read").errors == 2
    said = [r.getMessage() for r in caplog.records if "could not be processed" in r.getMessage()]
    assert said == [f"curate: 2 record(s) could not be processed (read 2): one error row each, with the error and "
                    f"the input file and offset, in {out / 'errors'} (`winnow inspect {out}` prints them)"]
    src.write_text(json.dumps({"id": "a", "text": "a document of a few words"}) + "\n")
    caplog.clear()
    with caplog.at_level("WARNING", logger="pipelines.jobs.curate"):
        run_curate([str(src)], str(tmp_path / "clean"), parse_recipe({"url": {}}))
    assert not [r for r in caplog.records if "could not be processed" in r.getMessage()]

def test_read_seconds_are_the_readers_own_not_the_stages_fused_after_it(monkeypatch):
    """read yields records to the stages fused after it, which run while it waits at its yield: its `seconds`
    summed their time too (a 5,000-document JSONL curate: read 6.9 s, the whole pass, for ~0.1 s of reading).
    A clock that the reader moves by 1 per record and the consumer by 10 per record: read's time is the 1s."""
    import types

    import pipelines.transforms.read as read_module

    clock = [0.0]
    monkeypatch.setattr(read_module, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))

    def records():
        for i in range(5):
            clock[0] += 1.0  # producing a record
            yield i
        clock[0] += 0.5  # the reader's last step: finding the end

    elapsed = [0.0]
    for _ in read_module._timed(records(), elapsed):
        clock[0] += 10.0  # what the fused stages do with it
    assert elapsed == [5.5]

    def failing():
        clock[0] += 2.0
        yield 0
        clock[0] += 3.0
        raise OSError("disk gone")

    elapsed = [0.0]
    with pytest.raises(OSError):
        for _ in read_module._timed(failing(), elapsed):
            clock[0] += 10.0
    assert elapsed == [5.0]  # the time up to the failure counts too

    # the stage's DoFn counts only that time in its `micros`
    class Total:
        value = 0

        def inc(self, n=1):
            self.value += n

    monkeypatch.setattr(read_module, "read_input_file", lambda item, cap: (("kept", {ID: i}) for i in records()))
    fn = read_module._ReadInputFn()
    fn.setup()
    fn._counters.micros = Total()
    for _ in fn.process(InputFile(JSONL, "/nowhere.jsonl")):
        clock[0] += 10.0
    assert fn._counters.micros.value == 5_500_000

def test_jsonl_and_parquet(tmp_path):
    rows = [{"text": "first doc", "id": "x1", "url": "http://a.test/"}, {"text": "second doc"}]
    plain = tmp_path / "d.jsonl"
    plain.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n{not json}\n")
    gz = tmp_path / "d.jsonl.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write("\n".join(json.dumps(r) for r in rows) + "\n")
    import zstandard

    zst = tmp_path / "d.jsonl.zst"
    zst.write_bytes(zstandard.ZstdCompressor().compress(("\n".join(json.dumps(r) for r in rows) + "\n").encode()))
    for path in (plain, gz, zst):
        counts, kept, errors = outcomes(InputFile(JSONL, str(path)))
        assert [r[TEXT] for r in kept] == ["first doc", "second doc"], path
        assert kept[0][ID] == "x1" and kept[0][URL] == "http://a.test/" and kept[1][URL] is None
        assert kept[1][SOURCE] == "text" and kept[1][INPUT_OFFSET] == 1
    assert outcomes(InputFile(JSONL, str(plain)))[0]["errors"] == 1  # the bad line, with its line number
    assert outcomes(InputFile(JSONL, str(plain)))[2][0][INPUT_OFFSET] == 3
    pq_path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"text": ["alpha", None, "gamma"], "url": ["u1", "u2", None]}), pq_path)
    away = []
    counts, kept, _ = outcomes(InputFile(PARQUET, str(pq_path)), away)
    assert counts == Counter({"kept": 2, "dropped_empty": 1})
    # the null text is a rejected row of stage read that names its row (it was a bare count before)
    assert [(r["stage"], r[URL], r[INPUT_OFFSET], r[TEXT]) for r in away] == [("read", "u2", 1, "")]
    assert [(r[TEXT], r[URL], r[INPUT_OFFSET]) for r in kept] == [("alpha", "u1", 0), ("gamma", None, 2)]
    assert kept[0][ID] == outcomes(InputFile(PARQUET, str(pq_path)))[1][0][ID]  # stable id from (file, row)
    bad_pq = tmp_path / "nocol.parquet"
    pq.write_table(pa.table({"body": ["x"]}), bad_pq)
    assert "no 'text' column" in outcomes(InputFile(PARQUET, str(bad_pq)))[2][0][ERROR]


@pytest.fixture()
def code_tree(tmp_path):
    root = tmp_path / "proj"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "mod.py").write_text("def f():\n    return 1\n")
    (root / "main.c").write_text("int main(void) { return 0; }\n")
    (root / "README.unknownext").write_text("no language")
    (root / "blob.py").write_bytes(b"\x00\x01binary")
    (root / "big.js").write_text("x" * 2_000_000)
    (root / ".git").mkdir()
    (root / ".git" / "config.py").write_text("skipped = True\n")
    outside = tmp_path / "secret.py"
    outside.write_text("password = 'x'\n")
    os.symlink(outside, root / "link_out.py")
    os.symlink(tmp_path, root / "dirlink")  # a symlinked directory is never descended
    return root


def test_code_tree(code_tree):
    [item] = expand_input_specs(["code:" + str(code_tree)])
    assert item.kind == CODE
    parts = list(split_input(item))
    assert all(p.kind == CODE_FILE for p in parts)
    counts, kept, errors, lost = Counter(), [], [], []
    for part in parts:
        c, k, e = outcomes(part, lost)
        counts.update(c)
        kept += k
        errors += e
    assert errors == []
    # two links: one to a file outside the tree, one to a directory (never descended, and counted: it was in no count)
    assert counts == Counter({"kept": 2, "dropped_extension": 1, "dropped_binary": 1, "dropped_too_large": 1,
                              "dropped_symlink": 2})
    [row] = lost  # the file over the cap is a rejected row that names it
    assert (row[ID], row["stage"], row["reason"], row[TEXT], row["input_path"]) == (
        "code:proj/big.js", "read", "too_large", "", str(code_tree / "big.js"))
    assert int(row["detail"]["bytes"]) > int(row["detail"]["cap_bytes"])
    by_id = {r[ID]: r for r in kept}
    assert set(by_id) == {"code:proj/pkg/mod.py", "code:proj/main.c"}
    assert by_id["code:proj/pkg/mod.py"][CODE_LANGUAGE] == "Python" and by_id["code:proj/main.c"][CODE_LANGUAGE] == "C"
    assert by_id["code:proj/pkg/mod.py"][TEXT] == "def f():\n    return 1\n"
    assert by_id["code:proj/pkg/mod.py"][SOURCE] == "code"
    # Reading the tree whole gives the same as reading it fanned out.
    assert sorted(r[ID] for r in iter_raw_records(["code:" + str(code_tree)])) == sorted(by_id)


def test_code_tarball(code_tree, tmp_path):
    tar_path = tmp_path / "proj.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tar:
        tar.add(code_tree, arcname="proj")
    ids = sorted(r[ID] for r in iter_raw_records(["code:" + str(tar_path)]))
    assert ids == ["code:proj/proj/main.c", "code:proj/proj/pkg/mod.py"]


@pytest.mark.shared_data
def test_read_inputs_beam_counts(shared_data, tmp_path, code_tree):
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.testing.util import assert_that, equal_to

    from pipelines.runtime.options import make_pipeline
    from pipelines.transforms.stages import ERRORS, metrics_namespace

    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text('{"text": "hello"}\n{broken\n')
    specs = [str(shared_data / "warc/edge_cases/warcio__example*.warc*"),
             "warc:" + str(shared_data / "warc/edge_cases/warcio__example-bad.warc.gz.bad"),
             str(jsonl), "code:" + str(code_tree)]
    p = make_pipeline()
    out = p | ReadInputs(specs)
    ids = out["records"] | "Src" >> beam.Map(lambda r: r[SOURCE])
    assert_that(ids, equal_to(["web"] * 8 + ["text"] + ["code"] * 2), label="Sources")
    errs = out[ERRORS] | "Paths" >> beam.Map(lambda r: os.path.basename(r[INPUT_PATH]))
    assert_that(errs, equal_to(["t.jsonl"]), label="Errors")
    result = p.run()
    result.wait_until_finish()
    counters = Counter()
    for c in result.metrics().query(MetricsFilter().with_namespace(metrics_namespace("read")))["counters"]:
        counters[c.key.metric.name] += c.committed
    dropped = sum(v for k, v in counters.items() if k.startswith("dropped_"))
    assert counters["kept"] == 11 and counters["errors"] == 1
    assert counters["in"] == counters["kept"] + dropped + counters["errors"]
    assert counters["dropped_revisit"] == 3 and counters["dropped_symlink"] == 2


@pytest.mark.shared_data
def test_archive_shards_give_each_record_once(shared_data, tmp_path):
    """A big archive read as k strides (`--workers k` on the local runner): together the shards give exactly the
    file's outcomes, each record once, and the damage that ends a file is one error row, not k."""
    from pipelines.ingest.readers import SHARD_MIN_BYTES

    path = str(shared_data / "warc/web_crawls/aut__IAH-archive.org-2008__example.warc.gz")
    whole_counts, whole, _ = outcomes(InputFile(ARCHIVE, path))
    shards = list(split_input(InputFile(ARCHIVE, path), shards=3))
    assert [s.shard for s in shards] == [(0, 3), (1, 3), (2, 3)] and os.path.getsize(path) >= SHARD_MIN_BYTES
    counts, kept = Counter(), []
    for part in shards:
        c, k, _ = outcomes(part)
        assert 0 < c["kept"] < whole_counts["kept"]  # each shard has a share, none has all
        counts += c
        kept += k
    assert counts == whole_counts
    assert sorted(r[ID] for r in kept) == sorted(r[ID] for r in whole)
    assert {r[ID]: r[BODY] for r in kept} == {r[ID]: r[BODY] for r in whole}
    # small files and every other kind are read whole
    small = str(shared_data / "warc/edge_cases/warcio__example.warc")
    assert list(split_input(InputFile(ARCHIVE, small), shards=3)) == [InputFile(ARCHIVE, small)]
    # a big file cut short: the records before the damage once each, the damage once
    cut = tmp_path / "cut.warc.gz"
    data = open(path, "rb").read()
    cut.write_bytes(data[: len(data) // 2])
    whole_counts, _, whole_errors = outcomes(InputFile(ARCHIVE, str(cut)))
    assert whole_counts["errors"] == 1
    counts = Counter()
    for part in split_input(InputFile(ARCHIVE, str(cut)), shards=2):
        counts += outcomes(part)[0]
    assert counts == whole_counts


def _claimed_outcomes(item, pause, queue):
    """One worker's share of a shared archive, read in a forked process (`pause` seconds per kept record, as
    extraction would take): its counts and its kept records' ids."""
    import time

    counts, ids = Counter(), []
    for status, value in read_input_file(item):
        if status == "kept":
            counts["kept"] += 1
            ids.append(value[ID])
            time.sleep(pause)
        else:
            counts["dropped_" + value if status == "dropped" else "errors"] += 1
    queue.put((counts, ids))


def _read_in_processes(items, pauses):
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_claimed_outcomes, args=(item, pause, queue)) for item, pause in zip(items, pauses)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    return results


@pytest.mark.shared_data
def test_archive_shards_with_claims_share_records_as_workers_get_free(shared_data, tmp_path):
    """Shards that share a claim file (`--workers k` of the curate job): two processes reading at once together give
    exactly the file's outcomes, each record once; a slow reader leaves most records to a fast one (not a fixed
    half each); the damage that ends a file is one error row, not one per shard."""
    from pipelines.ingest.readers import order_for_workers

    path = str(shared_data / "warc/web_crawls/aut__IAH-archive.org-2008__example.warc.gz")
    whole_counts, whole, _ = outcomes(InputFile(ARCHIVE, path))
    shards = list(split_input(InputFile(ARCHIVE, path), shards=2, claims_dir=str(tmp_path / "claims")))
    assert [s.shard for s in shards] == [(0, 2), (1, 2)] and len({s.claims for s in shards}) == 1
    (fast_counts, fast_ids), (slow_counts, slow_ids) = sorted(
        _read_in_processes(shards, (0.002, 0.02)), key=lambda r: -r[0]["kept"])
    assert fast_counts + slow_counts == whole_counts
    assert sorted(fast_ids + slow_ids) == sorted(r[ID] for r in whole)
    assert 0 < slow_counts["kept"] < fast_counts["kept"] // 3  # the fast reader took the slow one's share

    # read one after the other, the first takes everything and the second nothing (the claim file is shared)
    again = list(split_input(InputFile(ARCHIVE, path), shards=2, claims_dir=str(tmp_path / "again")))
    assert outcomes(again[0])[0] == whole_counts and sum(outcomes(again[1])[0].values()) == 0

    cut = tmp_path / "cut.warc.gz"
    data = open(path, "rb").read()
    cut.write_bytes(data[: len(data) // 2])
    cut_counts, _, cut_errors = outcomes(InputFile(ARCHIVE, str(cut)))
    assert cut_counts["errors"] == 1
    parts = list(split_input(InputFile(ARCHIVE, str(cut)), shards=2, claims_dir=str(tmp_path / "cut")))
    together = [c for c, _ in _read_in_processes(parts, (0.001, 0.001))]
    assert together[0] + together[1] == cut_counts

    # the order the local runner deals items in: files read whole first, biggest first, shards side by side last
    small = InputFile(ARCHIVE, str(shared_data / "warc/edge_cases/warcio__example.warc"))
    mid = InputFile(ARCHIVE, str(shared_data / "warc/web_crawls/pywb__dupes.warc.gz"))
    assert order_for_workers([shards[1], small, shards[0], mid]) == [mid, small, shards[0], shards[1]]
