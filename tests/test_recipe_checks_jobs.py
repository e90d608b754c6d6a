"""Recipe checks at load for the jobs' own keys and for options that were silently ignored or mis-set.

A bad recipe stops at `parse_recipe` (or the stage constructor it calls) with one line naming the key or option,
the value and what to write instead; the shipped recipes load and behave as before. Covered here: dedup_minhash's
`threshold` with `verify_threshold`, booleans where the recipe's top level wants integers, the recipe's `seed:`
in `winnow run`, the language stage's internal stage name, dedup's `score`, and a recipe mixture's `source`.
"""
from __future__ import annotations

import json
import subprocess
import sys

import apache_beam as beam
import pytest
import yaml
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.jobs.recipe import DEFAULT_RECIPE, RECIPES_DIR, RecipeError, load_recipe, parse_recipe
from schemas import ID, empty_document

WINNOW = [sys.executable, "-m", "pipelines.cli"]
SHIPPED = sorted(RECIPES_DIR.glob("*.yaml")) + sorted((RECIPES_DIR.parents[1] / "recipes").glob("*.yaml"))


def _refusal(recipe, name: str = "bad") -> str:
    with pytest.raises(RecipeError) as info:
        parse_recipe(recipe, name=name)
    message = str(info.value)
    assert "\n" not in message, message
    return message


# --- 1. dedup_minhash: verify_threshold never above threshold; threshold alone verifies at threshold ---------

def test_minhash_verify_threshold_above_threshold_is_refused_and_threshold_alone_verifies_there():
    from pipelines.transforms.dedup import DedupMinhash

    message = _refusal({"dedup_minhash": {"threshold": 0.5, "verify_threshold": 0.75}})
    assert message.startswith("recipe bad: stage 'dedup_minhash': option 'verify_threshold' = 0.75 is above "
                              "threshold 0.5"), message
    assert "lower verify_threshold to at most 0.5, or set it to null" in message
    # threshold alone: candidate pairs are verified at that threshold, not at the 0.75 default
    recipe = parse_recipe({"dedup_minhash": {"threshold": 0.5}})
    assert DedupMinhash(**recipe.options("dedup_minhash"))._verify == 0.5
    # at or below threshold, or off, as written
    for verify in (0.5, 0.4, None):
        stage = DedupMinhash(**parse_recipe({"dedup_minhash": {"threshold": 0.5, "verify_threshold": verify}})
                             .options("dedup_minhash"))
        assert stage._verify == verify
    # bands x rows (the shipped recipes' way) keep the 0.75 default, with or without it written
    assert DedupMinhash()._verify == 0.75 and DedupMinhash(bands=14, rows=8, num_perm=112)._verify == 0.75
    assert DedupMinhash(bands=14, rows=8, num_perm=112, verify_threshold=0.9)._verify == 0.9


def test_shipped_recipes_minhash_stage_is_unchanged():
    from filters.minhash import MinHashParams
    from pipelines.transforms.dedup import DedupMinhash

    assert SHIPPED and DEFAULT_RECIPE in SHIPPED
    expected = {"default": 0.75, "fineweb-en": None}
    for path in SHIPPED:
        stage = DedupMinhash(**load_recipe(path).options("dedup_minhash"))
        assert stage.params == MinHashParams(ngram=5, num_perm=112, bands=14, rows=8, seed=1), path
        assert stage._verify == expected[path.stem], path


# --- 2. booleans are not integers at the recipe's top level ---------------------------------------------------

def test_booleans_are_refused_where_the_recipe_wants_integers():
    message = _refusal({"dedup_exact": {}, "rejected": {"sample_per_reason": False}})
    assert message == ("recipe bad: rejected.sample_per_reason must be a non-negative integer, got False; write a "
                       "number of rows (0 keeps none), or null to keep every rejected row")
    message = _refusal({"dedup_exact": {}, "seed": True})
    assert message == ("recipe bad: seed must be an integer, got True; write a number (e.g. `seed: 0`), or leave "
                       "`seed` out for 0")
    good = parse_recipe({"dedup_exact": {}, "seed": 3, "rejected": {"sample_per_reason": 0}})
    assert (good.seed, good.rejected_sample_per_reason) == (3, 0)
    assert parse_recipe({"dedup_exact": {}, "rejected": {"sample_per_reason": None}}).rejected_sample_per_reason is None


# --- 3. `winnow run` takes the recipe's seed unless --seed is given -------------------------------------------

def test_run_seed_defaults_to_none_and_its_help_says_the_recipe_gives_it():
    from pipelines.cli import _configure, build_parser

    for argv, seed in ((["run"], None), (["run", "--seed", "3"], 3)):
        parser = build_parser()
        _configure(parser, argv)
        assert parser.parse_known_args(argv)[0].seed == seed
    help_text = " ".join(subprocess.run(WINNOW + ["run", "--help"], capture_output=True, text=True,
                                        timeout=120).stdout.split())
    assert "(default: the recipe's `seed:`, 0 when it has none" in help_text, help_text


@pytest.mark.slow
def test_winnow_run_uses_the_recipes_seed_and_records_the_seed_it_used(tmp_path, word_corpus):
    recipe = tmp_path / "seeded.yaml"
    recipe.write_text(yaml.safe_dump({"seed": 7, "inputs": [str(word_corpus / "documents" / "*.parquet")],
                                      "dedup_exact": {}}))
    small = ["--vocab-size", "300", "--seq-len", "64", "--train-steps", "2"]
    runs = {"recipe": (7, []), "cli": (3, ["--seed", "3"])}
    for name, (want, extra) in runs.items():
        out = tmp_path / name
        proc = subprocess.run(WINNOW + ["run", "--recipe", str(recipe), "-o", str(out)] + small + extra,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        manifest = json.loads((out / "shards" / "manifest.json").read_text())
        recorded = yaml.safe_load((out / "curated" / "recipe.yaml").read_text())
        report = json.loads((out / "curated" / "report.json").read_text())
        assert (manifest["seed"], recorded["seed"], report["recipe"]["seed"]) == (want, want, want), name


# --- 4. the language stage's name is not an option -------------------------------------------------------------

def test_language_stage_name_cannot_be_set_from_a_recipe():
    from pipelines.transforms.language import FilterLanguage

    message = _refusal({"language": {"languages": ["en"], "stage": "quality"}})
    assert message.startswith("recipe bad: stage 'language': option 'stage' is not an option here; options are "), message
    assert "min_batch" in message and "languages" in message
    recipe = parse_recipe({"language": {"languages": ["en"], "min_batch": 8}})
    assert FilterLanguage(**recipe.options("language"))._stage == "language"


# --- 5. dedup `score`: only with representative quality; documents without it are counted --------------------

def test_dedup_score_without_representative_quality_is_refused():
    for stage in ("dedup_exact", "dedup_minhash"):
        message = _refusal({stage: {"score": "lang_en"}})
        assert message == (f"recipe bad: stage {stage!r}: option 'score' = 'lang_en' is used only with "
                           f"representative 'quality' (here 'smallest_id'): add `representative: quality`, or "
                           f"remove `score`"), message
        assert _refusal({stage: {"representative": "longest", "score": "q"}}).startswith(
            f"recipe bad: stage {stage!r}: option 'score' = 'q' is used only with representative 'quality'")
        assert parse_recipe({stage: {"representative": "quality", "score": "lang_en"}})
        assert parse_recipe({stage: {"representative": "smallest_id"}})


def _score_docs():
    text = "the same words in the same order make the same document for exact and near dedup alike " * 3
    docs = []
    for i, value in enumerate([0.2, 0.9, None, 0.5]):
        docs.append(empty_document(f"d{i}", "text", text, scores={} if value is None else {"q": value}))
    return docs


@pytest.mark.parametrize("stage", ["dedup_exact", "dedup_minhash"])
def test_dedup_counts_documents_without_the_quality_score(stage):
    from pipelines.jobs.stage_registry import build_stage
    from pipelines.transforms.counters import breakdowns_by_stage, counters_by_stage

    results = {}
    for score, kept in (("q", "d1"), ("q_misspelt", "d0")):  # the highest score wins; none at all: smallest id
        opts = {"representative": "quality", "score": score}
        if stage == "dedup_minhash":
            opts["rounds"] = 2
        p = TestPipeline(runner=FnApiRunner())
        outs = p | beam.Create(_score_docs()) | build_stage(stage, opts)
        assert_that(outs["kept"] | beam.Map(lambda d: d[ID]), equal_to([kept]))
        result = p.run()
        result.wait_until_finish()
        results[score] = breakdowns_by_stage(counters_by_stage(result)).get(stage, {})
    assert results["q"] == {"score_missing": {"q": 1}}  # d2 has no scores
    assert results["q_misspelt"] == {"score_missing": {"q_misspelt": 4}}


# --- 6. a recipe mixture's `source` is one of the curated documents' sources -----------------------------------

def test_recipe_mixture_source_must_be_a_curated_documents_source(tmp_path):
    from filters.stage_options import DOCUMENT_SOURCES
    from pipelines.ingest.inputs import SOURCE_CODE, SOURCE_TEXT, SOURCE_WEB

    message = _refusal({"dedup_exact": {}, "mixture": {"sources": [{"name": "w", "source": "webpages", "weight": 1}]}})
    assert message == ("recipe bad: mixture: source 'w': `source` must be one of web, text, code (the sources of "
                       "curated documents), got 'webpages'; write one of those, or leave `source` out to take every "
                       "document"), message
    from tokenizer.mixture import CURATED_SOURCES

    assert set(CURATED_SOURCES) == set(DOCUMENT_SOURCES) == {SOURCE_WEB, SOURCE_TEXT, SOURCE_CODE}
    for source in CURATED_SOURCES:
        assert parse_recipe({"dedup_exact": {}, "mixture": {"sources": [{"name": "w", "source": source, "weight": 1}]}})
    # another documents input may carry sources of its own (a Parquet file's `source` column): not refused
    (tmp_path / "books.jsonl").write_text('{"id": "b", "text": "a book", "source": "books"}\n')
    other = parse_recipe({"dedup_exact": {}, "mixture": {"sources": [
        {"name": "w", "source": "web", "weight": 1},
        {"name": "b", "input": str(tmp_path / "books.jsonl"), "source": "books", "weight": 1}]}})
    assert [s["source"] for s in other.mixture["sources"]] == ["web", "books"]


def test_recipe_mixture_inputs_resolve_from_where_the_run_starts(tmp_path, monkeypatch):
    # `inputs:` were read from the working directory, a mixture source's `input` from OUT (written into
    # OUT/mixture.yaml): `input: d/b.jsonl` failed after curate and tokenizer training, or read another file
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "b.jsonl").write_text('{"id": "b", "text": "b"}\n')
    recipe = parse_recipe({"dedup_exact": {}, "inputs": ["d/a.jsonl"], "mixture": {"sources": [
        {"name": "w", "source": "web", "weight": 1}, {"name": "b", "input": "d/b.jsonl", "weight": 1},
        {"name": "g", "input": "gs://bucket/docs/*.parquet", "weight": 1}]}})
    assert [s["input"] for s in recipe.mixture["sources"]] == ["curated", str(tmp_path / "d" / "b.jsonl"),
                                                                "gs://bucket/docs/*.parquet"]


def test_a_recipe_mixture_input_without_documents_stops_the_recipe_before_any_job(tmp_path):
    """Found when the mixture was tokenized, a missing `input` lost the curate and tokenizer training before it."""
    message = _refusal({"dedup_exact": {}, "mixture": {"sources": [
        {"name": "w", "weight": 1}, {"name": "extra", "input": str(tmp_path / "missing.jsonl"), "weight": 1}]}})
    assert "mixture: source 'extra': no documents found at" in message and "missing.jsonl" in message, message
    message = _refusal({"dedup_exact": {}, "mixture": {"sources": [
        {"name": "w", "weight": 1}, {"name": "src", "input": f"code:{tmp_path}", "weight": 1}]}})
    assert "source 'src': input 'code:" in message and "is a source tree" in message, message
