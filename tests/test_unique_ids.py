"""Ids are unique per run by construction (issue 16, item 5): inputs that repeat an id (two JSONL files numbered
from 0, a tarball with a member twice) reach the dedup stages with unique ids, so every document is kept,
rejected with a reason or an error row, and report.json balances."""
from __future__ import annotations

import glob
import io
import json
import random
import tarfile

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.jobs.curate import run_curate
from pipelines.transforms.ids import RENAMED_COUNTER, UniqueIds, order_key, plan_ids
from pipelines.jobs.recipe import parse_recipe
from pipelines.transforms.counters import counters_by_stage
from pipelines.tools.stats import compute_stats
from schemas import ID, INPUT_OFFSET, INPUT_PATH, TEXT, URL

WORDS = ("the river runs past an old mill and the town keeps its market on the square where farmers sell "
         "apples bread cheese honey wool and timber while children play near the fountain beside a church "
         "whose bell rings every hour through summer and winter").split()


def _record(doc_id, path, offset, text, url=None):
    return {ID: doc_id, "source": "text", URL: url, INPUT_PATH: path, INPUT_OFFSET: offset, "record_type": None,
            "content_type": None, "http_status": None, "body": None, TEXT: text, "code_language": None,
            "warc_date": None}


def test_plan_keeps_the_first_pointer_and_names_the_others_after_theirs():
    a, b, c = (order_key(_record("0", p, 0, t)) for p, t in (("/d/b.jsonl", "x"), ("/d/a.jsonl", "y"), ("/d/c.jsonl", "z")))
    plan = plan_ids("0", [a, b, c])
    assert plan == {b: ["0"], a: ["0@/d/b.jsonl:0"], c: ["0@/d/c.jsonl:0"]}
    assert plan_ids("0", [c, b, a]) == plan  # the order records arrive in does not matter


def test_plan_tells_apart_one_pointer_by_content_and_numbers_identical_copies():
    one = order_key(_record("code:t/x.py", "t.tar!x.py", None, "print(1)\n"))
    two = order_key(_record("code:t/x.py", "t.tar!x.py", None, "print(2)\n"))
    plan = plan_ids("code:t/x.py", [one, two, two])
    first, second = sorted([one, two])
    assert plan[first] == ["code:t/x.py"]
    assert plan[second] == [f"code:t/x.py@t.tar!x.py#{second[2]}", f"code:t/x.py@t.tar!x.py#{second[2]}#2"]
    assert len({i for ids in plan.values() for i in ids}) == 3


@pytest.mark.parametrize("reverse", [False, True])
def test_unique_ids_renames_repeats_only_and_counts_them(reverse):
    unique = [_record(f"u{i}", "/d/a.jsonl", 10 + i, f"unique {i}") for i in range(3)]
    repeats = [_record("0", "/d/a.jsonl", 0, "first file"), _record("0", "/d/b.jsonl", 0, "second file"),
               _record("m", "t.tar!x.py", None, "same"), _record("m", "t.tar!x.py", None, "same"),
               _record("m", "t.tar!x.py", None, "other")]
    m_plan = plan_ids("m", [order_key(r) for r in repeats[2:]])
    same, other = m_plan[order_key(repeats[2])], m_plan[order_key(repeats[4])]
    expected = [(r[ID], r[TEXT]) for r in unique] + [("0", "first file"), ("0@/d/b.jsonl:0", "second file"),
                                                      (same[0], "same"), (same[1], "same"), (other[0], "other")]
    assert len({i for i, _ in expected}) == 8
    records = unique + repeats
    p = TestPipeline(runner=FnApiRunner())
    out = p | beam.Create(records[::-1] if reverse else records) | UniqueIds()
    assert_that(out | "IdText" >> beam.Map(lambda d: (d[ID], d[TEXT])), equal_to(expected), label="ids")
    # records whose id is not repeated come out exactly as they went in
    assert_that(out | beam.Filter(lambda d: d[ID].startswith("u")), equal_to(unique), label="untouched")
    result = p.run()
    result.wait_until_finish()
    assert counters_by_stage(result)["read"][RENAMED_COUNTER] == 3


def _write_jsonl(path, texts):
    with open(path, "w", encoding="utf-8") as f:
        for i, text in enumerate(texts):
            f.write(json.dumps({"id": str(i), "text": text}) + "\n")


def _prose(rng, n_words=120):
    lines = []
    for _ in range(6):
        lines.append(" ".join(rng.choice(WORDS) for _ in range(n_words // 6)).capitalize() + ".")
    return "\n".join(lines)


def _read_rows(d):
    return [row for f in sorted(glob.glob(str(d / "*.parquet"))) for row in pq.read_table(f).to_pylist()]


@pytest.mark.slow  # ~7-10 s each: curate with dedup over two files
@pytest.mark.parametrize("workers", [1, 2])
def test_two_jsonl_files_numbered_from_zero_keep_every_document_through_dedup(tmp_path, workers):
    rng = random.Random(16)
    texts_a = [_prose(rng) for _ in range(6)]
    texts_b = [_prose(rng) for _ in range(6)]
    _write_jsonl(tmp_path / "a.jsonl", texts_a)
    _write_jsonl(tmp_path / "b.jsonl", texts_b)
    recipe = parse_recipe({"extract": {}, "language": {"languages": ["en"], "min_score": 0.3},
                           "dedup_exact": {"normalize": True},
                           "dedup_minhash": {"ngram": 5, "num_perm": 112, "bands": 14, "rows": 8, "seed": 1,
                                             "verify_threshold": 0.75},
                           "dedup_lines": {}}, name="ids")
    out = tmp_path / "out"
    # the ids asserted below are the same whatever the number of workers
    report = run_curate([str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")], str(out), recipe, workers=workers)
    assert all(s.balanced for s in report.stages), [s.to_json() for s in report.stages]
    for before, after in zip(report.stages, report.stages[1:]):
        assert before.kept == after.in_, (before.to_json(), after.to_json())
    docs, rejected, errors = _read_rows(out / "documents"), _read_rows(out / "rejected"), _read_rows(out / "errors")
    assert report.stage("read").kept == 12
    assert len(docs) + len(rejected) + len(errors) == 12
    assert sorted(d[TEXT].split("\n")[0] for d in docs) == sorted(t.split("\n")[0] for t in texts_a + texts_b)
    assert len({d[ID] for d in docs}) == 12
    # the first file (by path) keeps its ids; the other file's ids name where they came from
    assert {d[ID] for d in docs if d[INPUT_PATH].endswith("a.jsonl")} == {str(i) for i in range(6)}
    assert {d[ID] for d in docs if d[INPUT_PATH].endswith("b.jsonl")} == \
        {f"{i}@{tmp_path / 'b.jsonl'}:{i}" for i in range(6)}
    saved = json.loads((out / "report.json").read_text())
    assert saved["stages"][0]["renamed"] == {"duplicate_id": 6}
    assert compute_stats(str(out))["funnel_balanced"]


@pytest.mark.slow  # ~6 s: a curate run over a tarball
def test_tar_members_with_one_path_are_all_accounted_for(tmp_path):
    tar_path = tmp_path / "proj.tar"
    with tarfile.open(tar_path, "w") as tar:
        for name, body in (("x.py", b"def first():\n    return 1\n"), ("../x.py", b"def second():\n    return 2\n"),
                           ("x.py", b"def first():\n    return 1\n")):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    recipe = parse_recipe({"extract": {}, "dedup_minhash": {"ngram": 2, "verify_threshold": 0.75}, "dedup_lines": {}},
                          name="tar")
    out = tmp_path / "out"
    report = run_curate([f"code:{tar_path}"], str(out), recipe)
    assert all(s.balanced for s in report.stages), [s.to_json() for s in report.stages]
    docs, rejected = _read_rows(out / "documents"), _read_rows(out / "rejected")
    assert report.stage("read").kept == 3
    assert len(docs) + len(rejected) + len(_read_rows(out / "errors")) == 3
    assert len({r[ID] for r in docs + rejected}) == len(docs) + len(rejected)


def test_identical_records_in_one_gzip_member_get_distinct_ids_whichever_shard_reads_them(tmp_path):
    """A WARC gzipped whole holds one record twice (same WARC-Record-ID, same bytes): both carry the member's
    pointer (offset 0) and the same content. `--workers 2` reads a big archive as shards that share its records,
    so the two copies may be read in two bundles, where numbering copies in arrival order gave both the first id
    (and the dedup joins, keyed by id, lost one). Their position in the file tells them apart: every shard split
    names them the same two distinct ids."""
    import gzip

    from test_archive_damage import http_response, warc_record

    from pipelines.ingest.inputs import ARCHIVE, InputFile
    from pipelines.ingest.readers import _stride_of, read_input_file
    from pipelines.transforms.ids import _ApplyPlanFn, id_and_order_key

    records = [warc_record(http_response(b"<html><body><p>page %d</p></body></html>" % i),
                           uri=b"http://example.com/%d" % i) for i in range(12)]
    first, second = next((a, b) for a in range(12) for b in range(a + 1, 13)
                         if _stride_of(a, 2) != _stride_of(b, 2))  # positions two shards read
    records.insert(second, records[first])
    path = tmp_path / "whole.warc.gz"
    path.write_bytes(gzip.compress(b"".join(records)))

    def read(shard):
        return [v for s, v in read_input_file(InputFile(ARCHIVE, str(path), shard=shard)) if s == "kept"]

    whole = read(None)
    assert len(whole) == 13 and len({r[INPUT_OFFSET] for r in whole}) == 1  # one member: one pointer
    groups = {}
    for doc_id, key in map(id_and_order_key, whole):
        groups.setdefault(doc_id, []).append(key)
    plan = {doc_id: plan_ids(doc_id, keys) for doc_id, keys in groups.items() if len(keys) > 1}
    assert len(plan) == 1

    def apply(bundle):  # one bundle of the reading DoFn: the fn numbers identical copies within it
        fn = _ApplyPlanFn(number_in_bundle=True)
        fn.setup()
        fn.start_bundle()
        return [d[ID] for r in bundle for d in fn.process(r, plan)]

    one_bundle = apply(whole)
    two_bundles = apply(read((0, 2))) + apply(read((1, 2)))
    assert len(set(one_bundle)) == 13 and sorted(two_bundles) == sorted(one_bundle)


def test_an_input_id_starting_with_nul_is_an_error_row_not_a_failed_dedup(tmp_path):
    """The dedup indexes mark an earlier run's documents with a NUL prefix; an input id that starts with NUL
    was taken for one, and dedup failed the job parsing it. It is refused where it is read (JSONL line or
    Parquet row), and the rest is curated."""
    import pyarrow as pa

    texts = [" ".join(random.Random(i).choice(WORDS) for _ in range(60)) for i in range(4)]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in zip(["\x00x", "a", "b"], texts)))
    pq.write_table(pa.table({"id": ["\x00y", "c"], "text": [texts[3], texts[3] + " more"]}), tmp_path / "in.parquet")
    out = tmp_path / "out"
    report = run_curate([str(src), str(tmp_path / "in.parquet")], str(out),
                        parse_recipe({"dedup_exact": {}, "dedup_minhash": {}}))
    assert all(s.balanced for s in report.stages)
    read = report.stage("read")
    assert (read.in_, read.kept, read.errors) == (5, 3, 2)
    errors = [r for f in glob.glob(str(out / "errors" / "*.parquet")) for r in pq.read_table(f).to_pylist()]
    assert sorted((r[INPUT_PATH].rsplit("/", 1)[1], r[INPUT_OFFSET]) for r in errors) == [("in.jsonl", 0),
                                                                                          ("in.parquet", 0)]
    assert all("starts with a NUL character" in r["error"] for r in errors)


def test_a_new_name_that_an_input_already_holds_is_not_given_twice():
    a, b, c = (order_key(_record("0", "/d/a.jsonl", o, t)) for o, t in ((0, "x"), (1, "y"), (2, "z")))
    assert plan_ids("0", [a, b, c])[b] == ["0@/d/a.jsonl:1"]
    taken = {"0@/d/a.jsonl:1", "0@/d/a.jsonl:1~2", "0@/d/a.jsonl:2"}
    plan = plan_ids("0", [a, b, c], taken)
    assert plan == {a: ["0"], b: ["0@/d/a.jsonl:1~3"], c: ["0@/d/a.jsonl:2~2"]}
    with pytest.raises(ValueError, match="ids of their own"):
        plan_ids("0", [a, b], {"0@/d/a.jsonl:1"} | {f"0@/d/a.jsonl:1~{n}" for n in range(2, 17)})


@pytest.mark.parametrize("reverse", [False, True])
def test_unique_ids_steps_around_an_input_that_holds_the_new_name(reverse):
    # an earlier run's renamed document (`0@/d/a.jsonl:1`) curated again beside the file it came from
    records = [_record("0", "/d/a.jsonl", 0, "first"), _record("0", "/d/a.jsonl", 1, "second"),
               _record("0@/d/a.jsonl:1", "/d/old.jsonl", 0, "earlier run")]
    p = TestPipeline(runner=FnApiRunner())
    out = p | beam.Create(records[::-1] if reverse else records) | UniqueIds()
    assert_that(out | beam.Map(lambda d: (d[ID], d[TEXT])),
                equal_to([("0", "first"), ("0@/d/a.jsonl:1~2", "second"), ("0@/d/a.jsonl:1", "earlier run")]))
    p.run().wait_until_finish()


@pytest.mark.slow  # ~5 s: a curate run with dedup
def test_a_renamed_id_that_an_input_holds_loses_no_document_in_dedup(tmp_path):
    # Three lines, the third holding the id the second is renamed to: dedup_minhash kept 2 of 3 with no row
    texts = [" ".join(random.Random(i).choice(WORDS) for _ in range(60)) for i in range(3)]
    src = tmp_path / "a.jsonl"
    src.write_text("".join(json.dumps({"id": i, "text": t}) + "\n"
                           for i, t in zip(["0", "0", f"0@{src}:1"], texts)))
    out = tmp_path / "out"
    report = run_curate([str(src)], str(out), parse_recipe({"dedup_exact": {"normalize": True},
                                                            "dedup_minhash": {}}))
    assert all(s.balanced for s in report.stages), [s.to_json() for s in report.stages]
    docs = _read_rows(out / "documents")
    assert sorted(d[TEXT] for d in docs) == sorted(texts)
    assert sorted(d[ID] for d in docs) == sorted(["0", f"0@{src}:1", f"0@{src}:1~2"])
