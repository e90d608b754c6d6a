"""Curate: the counted stage shell, the dedup composites, recipes, and real curate runs."""
from __future__ import annotations

import glob
import os

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from filters.base import DocumentFilter
from pipelines.jobs.curate import run_curate
from pipelines.transforms.dedup import DedupExact, DedupMinhash
from pipelines.jobs.recipe import RecipeError, load_recipe, parse_recipe
from pipelines.transforms.counters import counters_by_stage, stage_counts
from pipelines.transforms.stages import ERRORS, REJECTED, ApplyFilter
from schemas import (DEDUP_CLUSTER_ID, DEDUP_CLUSTER_SIZE, DOCUMENTS_SCHEMA, DUPLICATE_OF, ERROR, ID, REASON,
                     REJECTED_SCHEMA, STAGE, TEXT, Report, empty_document)


def _pipeline():
    return TestPipeline(runner=FnApiRunner())


class _ShortOrBroken(DocumentFilter):
    name = "toy"

    def apply(self, doc):
        if "boom" in doc[TEXT]:
            raise ValueError("cannot score this document")
        if len(doc[TEXT]) < 10:
            return "too_short"
        self.set_score(doc, "length", len(doc[TEXT]))
        return None


def _counts(result, stage):
    return stage_counts(counters_by_stage(result), [stage])[0]


def test_apply_filter_routes_kept_rejected_errors_and_counts_every_document():
    docs = [empty_document("a", "web", "a long enough text"), empty_document("b", "web", "short"),
            empty_document("c", "web", "this one goes boom"), empty_document("d", "code", "tiny")]
    p = _pipeline()
    out = p | beam.Create(docs) | ApplyFilter("toy", _ShortOrBroken(sources=["web"]))
    assert_that(out["kept"] | "KeptIds" >> beam.Map(lambda d: d[ID]), equal_to(["a", "d"]), label="kept")
    assert_that(out[REJECTED] | beam.Map(lambda r: (r[ID], r[STAGE], r[REASON])), equal_to([("b", "toy", "too_short")]),
                label="rejected")
    assert_that(out[ERRORS] | beam.Map(lambda r: (r[ID], r[STAGE], r[ERROR].split(":")[0])),
                equal_to([("c", "toy", "ValueError")]), label="errors")
    result = p.run()
    result.wait_until_finish()
    c = _counts(result, "toy")
    assert (c.in_, c.kept, c.dropped, c.errors) == (4, 2, {"too_short": 1}, 1)
    assert c.balanced


def test_dedup_exact_keeps_smallest_id_and_names_it_in_rejected_rows():
    docs = [empty_document("d2", "web", "Hello   World.\nSame text"), empty_document("d1", "web", "hello world. same TEXT"),
            empty_document("d3", "web", "hello world same text"), empty_document("u", "web", "something else entirely")]
    p = _pipeline()
    out = p | beam.Create(docs) | DedupExact(normalize=True)
    assert_that(out["kept"] | beam.Map(lambda d: (d[ID], d[DEDUP_CLUSTER_ID], d[DEDUP_CLUSTER_SIZE])),
                equal_to([("d1", "d1", 3), ("u", "u", 1)]), label="kept")
    assert_that(out[REJECTED] | beam.Map(lambda r: (r[ID], r[REASON], r[DUPLICATE_OF])),
                equal_to([("d2", "exact_duplicate", "d1"), ("d3", "exact_duplicate", "d1")]), label="rejected")
    result = p.run()
    result.wait_until_finish()
    c = _counts(result, "dedup_exact")
    assert (c.in_, c.kept, c.dropped, c.errors) == (4, 2, {"exact_duplicate": 2}, 0)


def test_dedup_exact_without_normalisation_keeps_case_variants():
    docs = [empty_document("a", "web", "Hello world"), empty_document("b", "web", "hello world")]
    p = _pipeline()
    out = p | beam.Create(docs) | DedupExact(normalize=False)
    assert_that(out["kept"] | beam.Map(lambda d: d[ID]), equal_to(["a", "b"]))
    p.run().wait_until_finish()


def _essay(seed_words, n=220):
    words = []
    for i in range(n):
        words.append(seed_words[(i * 7 + i // 3) % len(seed_words)] + str(i % 13))
    return " ".join(words)


def test_dedup_minhash_drops_near_duplicates_towards_the_smallest_id():
    vocab = ("river stone market winter lantern harbor copper meadow signal orchard velvet thunder "
             "pepper granite saddle willow ember canyon").split()
    base = _essay(vocab)
    near = base.replace("market0", "bazaar0", 1)  # one word changed out of 220
    other = _essay(list(reversed(vocab)), 180) + " completely different ordering of words here"
    docs = [empty_document("n2", "web", near), empty_document("n1", "web", base), empty_document("z", "web", other)]
    p = _pipeline()
    out = p | beam.Create(docs) | DedupMinhash(ngram=5, num_perm=112, bands=14, rows=8, seed=1)
    assert_that(out["kept"] | beam.Map(lambda d: (d[ID], d[DEDUP_CLUSTER_SIZE])), equal_to([("n1", 2), ("z", 1)]),
                label="kept")
    assert_that(out[REJECTED] | beam.Map(lambda r: (r[ID], r[REASON], r[DUPLICATE_OF])),
                equal_to([("n2", "near_duplicate", "n1")]), label="rejected")
    result = p.run()
    result.wait_until_finish()
    c = _counts(result, "dedup_minhash")
    assert (c.in_, c.kept, c.dropped, c.errors) == (3, 2, {"near_duplicate": 1}, 0)


@pytest.mark.parametrize("data, message", [
    ({"extract": {}, "spam": {}}, "unknown stage 'spam'"),
    ({"language": {}, "extract": {}}, "'extract' must come first"),
    ({"extract": {}, "language": {"min_scor": 0.5}}, "stage 'language': option 'min_scor' is not an option"),
    ({"extract": {}, "dedup_exact": {}, "quality": {}}, "comes after deduplication"),
    ({"extract": {}, "quality": "yes"}, "must be a mapping"),
])
def test_bad_recipes_fail_before_anything_runs(data, message):
    with pytest.raises(RecipeError, match=message):
        parse_recipe(data)


def test_default_recipe_loads_with_its_stages_in_order():
    recipe = load_recipe()
    assert recipe.stage_names == ("extract", "language", "quality", "code", "pii", "dedup_exact", "dedup_minhash")
    assert parse_recipe(__import__("yaml").safe_load(recipe.to_yaml())).stages == recipe.stages


def _read(path):
    files = sorted(glob.glob(os.path.join(path, "*.parquet")))
    return [row for f in files for row in pq.read_table(f).to_pylist()]


@pytest.fixture(scope="module")
def code_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("code")
    (root / "pkg").mkdir()
    (root / "pkg" / "a.py").write_text("def add(a, b):\n    return a + b\n\n\nprint(add(1, 2))\n")
    (root / "pkg" / "b.py").write_text("def add(a, b):\n    return a + b\n\n\nprint(add(1, 2))\n")  # exact duplicate
    (root / "main.c").write_text("#include <stdio.h>\nint main(void) {\n  puts(\"hi\");\n  return 0;\n}\n")
    return root


@pytest.mark.slow
@pytest.mark.shared_data
def test_curate_real_warc_accounts_for_every_record(shared_data, tmp_path, code_tree):
    warc = shared_data / "warc" / "web_crawls" / "pywb__iana.warc.gz"
    out = tmp_path / "curated"
    report = run_curate([str(warc), f"code:{code_tree}"], str(out), load_recipe())
    names = [s.name for s in report.stages]
    assert names == ["read", "extract", "language", "quality", "code", "pii", "dedup_exact", "dedup_minhash"]
    for stage in report.stages:
        assert stage.balanced, stage
    # Each stage's kept documents are exactly the next stage's input.
    for before, after in zip(report.stages, report.stages[1:]):
        assert before.kept == after.in_
    assert report.stage("read").in_ > report.stage("read").kept > 0
    assert report.stage("dedup_exact").dropped.get("exact_duplicate") == 1  # pkg/b.py
    docs, rejected, errors = _read(out / "documents"), _read(out / "rejected"), _read(out / "errors")
    assert len(docs) == report.stage("dedup_minhash").kept == report.outputs["documents"]
    assert len(rejected) == sum(s.dropped_total for s in report.stages[1:])
    assert len(errors) == sum(s.errors for s in report.stages)
    assert pq.read_schema(next(iter(glob.glob(str(out / "documents" / "*.parquet"))))).names == DOCUMENTS_SCHEMA.names
    assert pq.read_schema(next(iter(glob.glob(str(out / "rejected" / "*.parquet"))))).names == REJECTED_SCHEMA.names
    web = [d for d in docs if d["source"] == "web"]
    assert web and all(d["language"] == "en" and d["language_score"] >= 0.65 for d in web)
    assert {d["code_language"] for d in docs if d["source"] == "code"} >= {"Python", "C"}
    assert len({d[ID] for d in docs}) == len(docs)
    loaded = Report.load(str(out / "report.json"))
    assert [s.to_json() for s in loaded.stages] == [s.to_json() for s in report.stages]
    assert (out / "recipe.yaml").read_text().startswith("name: default")


@pytest.mark.slow
@pytest.mark.shared_data
def test_extract_only_recipe_returns_documents_untouched_by_filters(shared_data, tmp_path):
    warc = shared_data / "warc" / "web_crawls" / "pywb__iana.warc.gz"
    report = run_curate([str(warc)], str(tmp_path / "o"), parse_recipe({"extract": {}}, name="extract-only"))
    assert [s.name for s in report.stages] == ["read", "extract"]
    docs = _read(tmp_path / "o" / "documents")
    assert len(docs) == report.stage("extract").kept > 0
    assert all(d["language"] is None and d["scores"] in ([], {}, None) for d in docs)


@pytest.mark.slow
@pytest.mark.shared_data
def test_rejected_sample_per_reason_keeps_counts_complete(shared_data, tmp_path):
    warc = shared_data / "warc" / "web_crawls" / "pywb__iana.warc.gz"
    full = run_curate([str(warc)], str(tmp_path / "full"), parse_recipe({"extract": {}, "language": {"languages": ["en"]}}))
    sampled = run_curate([str(warc)], str(tmp_path / "s"), parse_recipe(
        {"extract": {}, "language": {"languages": ["en"]}, "rejected": {"sample_per_reason": 2}}))
    assert [s.to_json()["dropped"] for s in sampled.stages] == [s.to_json()["dropped"] for s in full.stages]
    rows = _read(tmp_path / "s" / "rejected")
    per_reason = {}
    for r in rows:
        per_reason[(r[STAGE], r[REASON])] = per_reason.get((r[STAGE], r[REASON]), 0) + 1
    expected = {(s.name, reason): min(2, n) for s in full.stages[1:] for reason, n in s.dropped.items()}
    assert per_reason == expected
    full_ids = {r[ID] for r in _read(tmp_path / "full" / "rejected")}
    assert {r[ID] for r in rows} <= full_ids
    again = run_curate([str(warc)], str(tmp_path / "s2"), parse_recipe(
        {"extract": {}, "language": {"languages": ["en"]}, "rejected": {"sample_per_reason": 2}}))
    assert again.outputs == sampled.outputs
    assert sorted(r[ID] for r in _read(tmp_path / "s2" / "rejected")) == sorted(r[ID] for r in rows)


def test_dedup_exact_turns_a_bad_document_into_an_error_row():
    bad = empty_document("bad", "web", "x")
    bad[TEXT] = None  # not a string: the key cannot be computed
    p = _pipeline()
    out = p | beam.Create([empty_document("ok", "web", "fine text"), bad]) | DedupExact()
    assert_that(out["kept"] | beam.Map(lambda d: d[ID]), equal_to(["ok"]), label="kept")
    assert_that(out[ERRORS] | beam.Map(lambda r: (r[ID], r[STAGE])), equal_to([("bad", "dedup_exact")]), label="errors")
    result = p.run()
    result.wait_until_finish()
    c = _counts(result, "dedup_exact")
    assert (c.in_, c.kept, c.errors) == (2, 1, 1) and c.balanced


def test_components_left_unconverged_are_a_warning_in_the_report(tmp_path, caplog):
    """A chain of versions (each edits the previous) is a long path in the near-duplicate graph; one component
    round cannot settle it. Every document is still accounted for, and report.json says so under the stage's
    `warnings` (the `cc_unconverged` counter, which only Dataflow's metrics showed) and the log asks for more
    rounds; the default rounds settle the same corpus with no warning."""
    import json
    import logging
    import random
    import string

    rng = random.Random(1)
    vocab = ["".join(rng.choice(string.ascii_lowercase) for _ in range(6)) for _ in range(20000)]
    words = [rng.choice(vocab) for _ in range(300)]
    lines = []
    for i in range(80):
        for _ in range(6):
            words[rng.randrange(len(words))] = rng.choice(vocab)
        lines.append(json.dumps({"id": f"v{i:02d}", "text": " ".join(words)}))
    src = tmp_path / "chain.jsonl"
    src.write_text("\n".join(lines) + "\n")
    reports = {}
    for rounds in (1, 8):
        out = tmp_path / f"r{rounds}"
        with caplog.at_level(logging.WARNING, logger="pipelines.jobs.curate"):
            report = run_curate([str(src)], str(out), parse_recipe({"dedup_minhash": {"rounds": rounds}}))
        assert all(s.balanced for s in report.stages)
        reports[rounds] = json.loads((out / "report.json").read_text())["stages"][-1]
    assert reports[1]["warnings"]["cc_unconverged"] > 0 and "warnings" not in reports[8]
    assert "raise dedup_minhash `rounds`" in caplog.text
