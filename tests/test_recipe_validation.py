"""Recipes are checked by type and range when they are loaded, before any work starts.

Every stage's options are the keyword arguments of its class, typed and ranged in the class's own signature
(filters/stage_options.py). A bad value stops `winnow curate` with one line naming the stage, the option, the
value and what is allowed; the YAML itself is read with bounded alias expansion; a recipe for text inputs
needs no `extract` stage; and building a stage with `{}` gives what recipes/default.yaml sets.
"""
from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import sys
import textwrap

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from pipelines.jobs.recipe import DEFAULT_RECIPE, KNOWN_STAGES, RecipeError, load_recipe, parse_recipe

WINNOW = [sys.executable, "-m", "pipelines.cli"]


def _refusal(options_by_stage) -> str:
    # behind a valid extract stage, so that nothing but the option under test can be refused
    recipe = {"extract": {}} if "extract" not in options_by_stage else {}
    recipe.update(options_by_stage)
    with pytest.raises(RecipeError) as info:
        parse_recipe(recipe)
    message = str(info.value)
    assert "\n" not in message, message
    return message


# (stage, options, option named in the message, what the message says is allowed). One bad type and one bad
# range for every stage, including each of quality's rule sets.
BAD_OPTIONS = [
    ("extract", {"max_seconds": -1}, "max_seconds", "> 0"),
    ("extract", {"fast": "yes"}, "fast", "true or false"),
    ("extract", {"recall_fallback": 1.5}, "recall_fallback", "within [0, 1]"),
    ("url", {"domains": "example.com"}, "domains", "a list of strings"),
    ("url", {"banned_words_file": "/nonexistent/words.txt"}, "banned_words_file", "no such file"),
    ("language", {"min_score": "0.5"}, "min_score", "a number within [0, 1]"),
    ("language", {"min_score": -5}, "min_score", "a number within [0, 1]"),
    ("language", {"languages": "en"}, "languages", "a list of strings"),
    ("language", {"sources": ["txt"]}, "sources", "one of 'web', 'text', 'code'"),
    ("language", {"max_batch": 0}, "max_batch", ">= 1"),
    ("quality", {"sources": "web"}, "sources", "a list"),
    ("quality", {"gopher": {"min_doc_words": -5}}, "gopher.min_doc_words", ">= 0"),
    ("quality", {"gopher_repetition": {"dup_line_frac": 2}}, "gopher_repetition.dup_line_frac", "within [0, 1]"),
    ("quality", {"gopher_repetition": {"top_n_grams": [[2, "0.2"]]}}, "gopher_repetition.top_n_grams", "within [0, 1]"),
    ("quality", {"c4": {"min_num_sentences": "5"}}, "c4.min_num_sentences", "an integer"),
    ("quality", {"fineweb": {"line_punct_thr": -0.1}}, "fineweb.line_punct_thr", "within [0, 1]"),
    ("classifier", {"model_path": "/nonexistent/model.bin"}, "model_path", "no such file"),
    ("code", {"max_line_length": 0}, "max_line_length", ">= 1"),
    ("code", {"min_alnum_fraction": "high"}, "min_alnum_fraction", "within [0, 1]"),
    ("pii", {"max_pii": -1}, "max_pii", ">= 0"),
    ("pii", {"emails": "yes"}, "emails", "true or false"),
    ("decontaminate", {"sets": [], "action": "delete"}, "action", "one of 'drop', 'drop_lines', 'mark'"),
    ("decontaminate", {"sets": [], "ngram": 0}, "ngram", "an integer within [1, 64]"),
    ("dedup_exact", {"normalize": "true"}, "normalize", "true or false"),
    ("dedup_exact", {"representative": "biggest"}, "representative", "one of 'smallest_id', 'longest', 'quality'"),
    ("dedup_minhash", {"verify_threshold": 0}, "verify_threshold", "within (0, 1]"),
    ("dedup_minhash", {"num_perm": "112"}, "num_perm", "an integer within [1, 8192]"),
    ("dedup_minhash", {"threshold": "1e-3"}, "threshold", "write 1.0e-3"),
    ("dedup_lines", {"unit": "word"}, "unit", "one of 'line', 'paragraph'"),
    ("dedup_lines", {"max_docs": 0}, "max_docs", ">= 1"),
]


def test_every_stage_is_covered_by_the_bad_option_cases():
    assert {stage for stage, *_ in BAD_OPTIONS} == set(KNOWN_STAGES)


@pytest.mark.parametrize("stage, options, option, allowed", BAD_OPTIONS,
                         ids=[f"{s}-{o}" for s, _, o, _ in BAD_OPTIONS])
def test_bad_option_fails_at_load_with_stage_option_value_and_what_is_allowed(stage, options, option, allowed):
    message = _refusal({stage: options})
    leaf = options
    for part in option.split("."):
        leaf = leaf[part]
    assert f"stage {stage!r}: option {option!r} = {leaf!r}" in message, message
    assert allowed in message, message


def test_unknown_and_missing_options_name_themselves():
    message = _refusal({"language": {"min_scor": 0.5}})
    # the language stage's own options and those it hands to its filter, all named
    assert "option 'min_scor' is not an option here; options are min_batch, max_batch, languages, min_score" in message
    message = _refusal({"dedup_minhash": {"treshold": 0.5}})  # the composite's options and its MinHash's
    assert "options are threshold, verify_threshold" in message and "num_perm, bands, rows" in message
    assert "option 'model_path' is required" in _refusal({"classifier": {}})
    assert "option 'gopher.min_words' is not an option" in _refusal({"quality": {"gopher": {"min_words": 3}}})


def test_a_stage_given_twice_is_refused_not_silently_replaced(tmp_path):
    # PyYAML keeps the last of two equal keys: the first `language:`'s options were lost without a word
    recipe = tmp_path / "twice.yaml"
    recipe.write_text("language: {min_score: 0.5}\nquality: {}\nlanguage: {languages: [de]}\n")
    with pytest.raises(RecipeError, match=r"recipe twice: the key 'language' appears twice in one mapping \(lines 1 "
                                          r"and 3\)"):
        load_recipe(str(recipe))
    merged = tmp_path / "merged.yaml"  # a merged key may still be overridden by the mapping's own, as YAML intends
    merged.write_text("language:\n  <<: {min_score: 0.5, languages: [de]}\n  min_score: 0.7\n")
    assert dict(load_recipe(str(merged)).stages)["language"] == {"min_score": 0.7, "languages": ["de"]}


def test_a_file_that_is_not_a_fasttext_model_fails_at_load(tmp_path, hq_model):
    not_a_model = tmp_path / "model.bin"
    not_a_model.write_text("these are not fastText weights\n")
    for stage in ("language", "classifier"):
        message = _refusal({stage: {"model_path": str(not_a_model)}})
        assert f"stage {stage!r}: option 'model_path'" in message and "not a fastText model" in message
    # A real fastText file passes the check; the classifier's threshold is then range-checked as usual.
    assert parse_recipe({"classifier": {"model_path": str(hq_model), "threshold": 0.4}})
    assert "within [0, 1]" in _refusal({"classifier": {"model_path": str(hq_model), "threshold": 1.5}})


def test_valid_values_pass_and_every_stage_builds_from_empty_options(hq_model, tmp_path):
    eval_set = tmp_path / "eval.jsonl"  # decontaminate's one required option: an evaluation set
    eval_set.write_text('{"question": "' + " ".join(["word"] * 20) + '"}\n')
    required = {"classifier": {"model_path": str(hq_model)},
                "decontaminate": {"sets": [{"name": "eval", "path": str(eval_set)}]}}
    for stage in KNOWN_STAGES:
        options = required.get(stage, {})
        assert parse_recipe({stage: options}).stage_names == (stage,)
    recipe = parse_recipe({"extract": {"max_seconds": 5, "region_fallback": 0}, "language": {
        "languages": ["en", "de"], "min_score": 1, "per_language_min_score": {"de": 0.8}, "sources": ["web"]},
        "quality": {"gopher": {"min_doc_words": None}, "gopher_repetition": {"top_n_grams": [[2, 0.2]]}},
        "dedup_minhash": {"threshold": 0.8, "num_perm": 128, "verify_threshold": None}})
    assert recipe.stage_names == ("extract", "language", "quality", "dedup_minhash")


# Options of recipes/default.yaml that are choices about the embedded corpus, not general defaults: which
# languages to keep and FineWeb's English threshold; which quality rule sets suit API documentation (see the
# comment in default.yaml). Every other option the recipe sets must be what the class does with `{}`.
CORPUS_SPECIFIC = {
    "language": {"languages", "min_score"},
    "quality": {"gopher_repetition", "gopher", "c4", "fineweb"},
}


def _stage_defaults(stage):
    """The defaults a stage's classes apply to `{}`, including what a stage forwards to its inner class."""
    from filters.code_rules import CodeFilter
    from filters.language import LanguageFilter
    from filters.minhash import MinHashParams
    from filters.pii import PIIFilter
    from filters.quality import QualityFilter
    from filters.stage_options import option_defaults
    from pipelines.transforms.dedup import DedupExact, DedupLines, DedupMinhash
    from pipelines.ingest.html import ExtractConfig
    from pipelines.transforms.language import FilterLanguage

    classes = {"extract": [ExtractConfig], "language": [FilterLanguage, LanguageFilter], "quality": [QualityFilter],
               "code": [CodeFilter], "pii": [PIIFilter], "dedup_exact": [DedupExact],
               "dedup_minhash": [DedupMinhash, MinHashParams], "dedup_lines": [DedupLines]}[stage]
    defaults = {}
    for cls in classes:
        defaults.update(option_defaults(cls))
    return defaults


def _plain(value):
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def test_class_defaults_equal_the_shipped_recipe():
    recipe = yaml.safe_load(DEFAULT_RECIPE.read_text())
    stages = [s for s in recipe if s in KNOWN_STAGES]
    assert stages, "default.yaml lists no stages"
    for stage in stages:
        defaults = _stage_defaults(stage)
        for option, value in (recipe[stage] or {}).items():
            if option in CORPUS_SPECIFIC.get(stage, ()):
                continue
            assert option in defaults, f"{stage}.{option} is not an option with a default"
            assert _plain(defaults[option]) == _plain(value), (
                f"{stage}: `{{}}` gives {option}={defaults[option]!r}, recipes/default.yaml sets {value!r}")


def test_dedup_minhash_with_empty_options_verifies_like_the_shipped_recipe():
    from pipelines.transforms.dedup import DedupMinhash

    shipped = DedupMinhash(**load_recipe().options("dedup_minhash"))
    empty = DedupMinhash()
    assert (empty.params, empty._verify) == (shipped.params, shipped._verify) and empty._verify == 0.75


# --- YAML bombs -------------------------------------------------------------------------------------------

def _billion_laughs(levels: int = 9) -> str:
    lines = ["extract: {}", "language:", "  languages:", '  - &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefghij", "bcdefghijk"[:levels - 1]):
        lines.append(f"  - &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_nested_aliases_are_refused_before_they_expand(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(_billion_laughs())
    assert bomb.stat().st_size < 500  # 9^9 = 387 million strings, once expanded
    with pytest.raises(RecipeError, match=r"recipe bomb: its YAML aliases expand to more than 100,000 values"):
        load_recipe(bomb)
    recursive = tmp_path / "loop.yaml"
    recursive.write_text("extract: {}\nlanguage:\n  languages: &l [en, *l]\n")
    with pytest.raises(RecipeError, match="recursive alias"):
        load_recipe(recursive)
    # Anchors that share a value (not nested into an explosion) still work.
    shared = tmp_path / "shared.yaml"
    shared.write_text("extract: {}\nlanguage: {sources: &prose [web, text]}\nquality: {sources: *prose}\n")
    assert load_recipe(shared).options("quality")["sources"] == ["web", "text"]


def test_billion_laughs_recipe_fails_in_a_small_peak_memory(tmp_path):
    """Peak resident memory of a fresh interpreter (VmHWM is per process, not inherited like ru_maxrss)."""
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(_billion_laughs())
    script = textwrap.dedent(f"""
        import resource
        from pipelines.jobs.recipe import RecipeError, load_recipe
        # if the bound ever breaks, fail with MemoryError at 3 GB instead of taking the machine's memory
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
        try:
            load_recipe({str(bomb)!r})
            outcome = "loaded"
        except RecipeError as exc:
            outcome = str(exc)
        hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
        print(outcome)
        print(int(hwm.split()[1]) // 1024)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    outcome, peak_mb = proc.stdout.strip().splitlines()
    assert "aliases expand to more than" in outcome
    assert int(peak_mb) < 200, f"peak {peak_mb} MB"


def test_recipe_file_that_is_not_a_small_regular_file_is_refused(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("language: {languages: [" + ", ".join(["en"] * 400_000) + "]}\n")
    with pytest.raises(RecipeError, match="recipes are small"):
        load_recipe(big)
    with pytest.raises(RecipeError, match="not a regular file"):
        load_recipe(tmp_path)


# --- recipes without extract ----------------------------------------------------------------------------

def _text_inputs(tmp_path):
    prose = ("The harbour town kept its lighthouse for a century, and the keepers wrote down the weather "
             "of every evening with the names of the boats that came back. ")
    jsonl = tmp_path / "docs.jsonl"
    with open(jsonl, "w") as f:
        for i in range(3):
            f.write(json.dumps({"id": f"j{i}", "text": prose * (i + 2)}) + "\n")
        f.write(json.dumps({"id": "j3", "text": prose * 2}) + "\n")  # an exact duplicate of j0
    parquet = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"id": ["p0", "p1"], "text": [prose * 5, "Ein ganz anderer Text auf Deutsch, "
                                                                      "über das Wetter und die Boote im Hafen."]}),
                   parquet)
    return jsonl, parquet


def test_recipe_for_text_inputs_needs_no_extract_stage(tmp_path):
    from pipelines.jobs.curate import run_curate

    jsonl, parquet = _text_inputs(tmp_path)
    recipe = parse_recipe({"language": {"languages": ["en"], "min_score": 0.5}, "dedup_exact": {}}, name="text-only")
    report = run_curate([str(jsonl), str(parquet)], str(tmp_path / "out"), recipe)
    by_stage = {s.name: s for s in report.stages}
    assert list(by_stage) == ["read", "language", "dedup_exact"]
    assert (by_stage["language"].in_, by_stage["language"].kept, by_stage["language"].dropped) == (6, 5, {"language": 1})
    assert (by_stage["dedup_exact"].kept, by_stage["dedup_exact"].dropped) == (4, {"exact_duplicate": 1})
    for s in report.stages:
        assert s.in_ == s.kept + s.dropped_total + s.errors
    docs = [r for f in glob.glob(str(tmp_path / "out" / "documents" / "*.parquet")) for r in pq.read_table(f).to_pylist()]
    assert sorted(d["id"] for d in docs) == ["j0", "j1", "j2", "p0"]
    assert all(d["language"] == "en" and d["dedup_cluster_size"] >= 1 and d["text"] for d in docs)
    assert {d["source"] for d in docs} == {"text"}


def test_web_archive_input_to_a_recipe_without_extract_fails_before_the_job(tmp_path):
    from pipelines.jobs.curate import run_curate

    warc = tmp_path / "page.warc"
    warc.write_bytes(b"")  # its kind (by name) is what decides; it is never read
    jsonl, _ = _text_inputs(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(RecipeError, match=r"has no `extract` stage, which web archive input .*page.warc needs"):
        run_curate([str(jsonl), str(warc)], str(out), parse_recipe({"language": {}}))
    assert not glob.glob(str(out / "*" / "*.parquet"))


# --- the command line -----------------------------------------------------------------------------------

def test_curate_with_a_bad_recipe_exits_non_zero_before_any_work(tmp_path):
    jsonl, _ = _text_inputs(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("extract: {}\nlanguage: {languages: [en], min_score: \"0.5\"}\n")
    out = tmp_path / "out"
    proc = subprocess.run(WINNOW + ["curate", "-i", str(jsonl), "-o", str(out), "--recipe", str(bad)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert lines == ["winnow curate: error: recipe bad: stage 'language': option 'min_score' = '0.5' (a string) "
                     "is not allowed: expected a number within [0, 1]; write the number without quotes"], proc.stderr
    assert not out.exists() or not any(os.scandir(out))  # nothing was read, nothing written


def test_recipe_mixture_is_checked_at_load_and_its_sources_default_to_the_curated_documents(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "a.jsonl").write_text('{"id": "a", "text": "a"}\n')
    recipe = parse_recipe({"dedup_exact": {}, "mixture": {"sources": [
        {"name": "web", "source": "web", "weight": 0.7}, {"name": "all", "input": "elsewhere", "epochs": 0.5}],
        "total_tokens": 1000}}, name="mixed")
    assert recipe.mixture["sources"][0]["input"] == "curated"
    assert recipe.mixture["sources"][1]["input"] == os.path.abspath("elsewhere")  # from where the run starts
    assert parse_recipe(yaml.safe_load(recipe.to_yaml())).mixture == recipe.mixture  # round trip
    for bad, says in [({"sources": [{"name": "web"}]}, "exactly one of `weight`"),
                      ({"sources": [{"name": "a", "weight": 1, "colour": 2}]}, "unknown key"),
                      ({"sources": "web"}, "expected {sources:")]:
        with pytest.raises(RecipeError, match=re.escape(says)):
            parse_recipe({"dedup_exact": {}, "mixture": bad}, name="mixed")


@pytest.mark.slow
def test_winnow_run_with_a_recipe_mixture_tokenizes_that_mixture(tmp_path, word_corpus):
    """`winnow run --recipe` whose recipe has `mixture:`: the run's tokenize is that mixture of its curated
    documents (a source without `input`) and of another input, recorded in the shards' manifest."""
    from pipelines.demo.run import run_chain

    recipe = tmp_path / "mixed.yaml"
    recipe.write_text(yaml.safe_dump({
        "inputs": [str(word_corpus / "documents" / "*.parquet")], "dedup_exact": {},
        "mixture": {"sources": [{"name": "curated", "weight": 0.25},  # no input: the run's curated documents
                                {"name": "books", "input": str(word_corpus / "documents"), "source": "books",
                                 "weight": 0.75}]}}))
    summary = run_chain(str(tmp_path / "out"), str(recipe), vocab_size=300, seq_len=64, train_steps=2, quiet=True)
    manifest = json.loads((tmp_path / "out" / "shards" / "manifest.json").read_text())
    shares = {s["name"]: s["share"] for s in manifest["mixture"]["sources"]}
    assert shares.keys() == {"curated", "books"} and abs(shares["curated"] - 0.25) < 0.02, shares
    assert os.path.exists(tmp_path / "out" / "mixture.yaml") and summary["documents"] > 0


def test_an_extract_option_the_engine_does_not_read_is_refused():
    # the cascade never reads prune_consent, fast, favor_recall or recall_fallback: they were accepted and did
    # nothing (a cookie banner stayed with `prune_consent: true` as with false)
    message = _refusal({"extract": {"prune_consent": False}})
    assert ("option 'prune_consent' = False does nothing with engine 'cascade', which does not read it; engines that "
            "do: trafilatura (set `engine:`)") in message
    assert "engines that do: cascade, trafilatura" in _refusal({"extract": {"engine": "resiliparse",
                                                                           "include_comments": True}})
    assert "option 'region_fallback'" in _refusal({"extract": {"engine": "resiliparse", "region_fallback": 0.3}})
    # what the engine reads, what every engine gets, and defaults written out all load
    for options in ({"favor_precision": True}, {"engine": "trafilatura", "fast": True, "prune_consent": False},
                    {"engine": "resiliparse", "include_tables": False, "max_seconds": 5.0},
                    {"prune_consent": True, "fast": False}, {"only_http_200": False, "max_tags": 10}):
        parse_recipe({"extract": options})


def test_empty_sources_and_yaml_lookalikes_are_refused_with_what_to_write():
    import yaml

    # `sources: []` meant every source (the code rules then dropped prose documents)
    for stage in ("language", "code", "quality", "pii"):
        assert "option 'sources' = [] (a list) is not allowed" in _refusal({stage: {"sources": []}}), stage
    parse_recipe({"extract": {}, "language": {"sources": ["web"]}})
    # YAML 1.1 reads `no` as false and `1e2` / `1.0e2` as text: the message says what to write
    message = _refusal(yaml.safe_load("language: {languages: [en, no]}"))
    assert "['en', False]" in message and "quote the word (e.g. 'no', Norwegian)" in message
    assert "YAML reads 1.0e2 as text: write 1.0e+2" in _refusal(yaml.safe_load("extract: {max_seconds: 1.0e2}"))
    assert "YAML reads 1e-3 as text: write 1.0e-3" in _refusal(yaml.safe_load("extract: {max_seconds: 1e-3}"))
    assert yaml.safe_load("x: [1.0e+2, 1.0e-3]") == {"x": [100.0, 0.001]}  # what the messages advise is a number
    # before: "write the number without quotes" for text that was never quoted, or for words that are no numbers
    message = _refusal(yaml.safe_load("extract: {max_seconds: 1e309}"))
    assert message.endswith("1e309 is beyond the range of a number (it reads as infinity): write a smaller one")
    assert _refusal(yaml.safe_load("extract: {max_seconds: inf}")).endswith("; YAML writes infinity .inf")
    assert "quotes" not in _refusal(yaml.safe_load("extract: {max_seconds: nan}"))
