"""fastText model files are checked whole before a job uses them, and the language stage labels only text.

Before: a lid.176.ftz cut short segfaulted `winnow curate` (exit 139, nothing written) or made it read past the
end forever, growing ~0.1 GB a second; a cut that fastText loaded scored with zero weights; a quality classifier
given as the language model labelled documents' language "hq"/"lq"; `languages: []` meant every language; and
texts with no words (empty, spaces, NUL, emoji) were labelled 'en' at 0.12. The cuts below are of the real
packaged lid.176.ftz; the quality model is a real one, trained by `train_quality_classifier` (conftest).
"""
from __future__ import annotations

import time

import pytest

from filters import fasttext_files
from filters.fasttext_files import fasttext_model_labels, model_problem
from filters.language import LanguageFilter
from pipelines.jobs.recipe import parse_recipe
from pipelines.jobs.stage_registry import RecipeError
from tests.clirun import last_error_line, winnow


@pytest.fixture()
def quick_limit(monkeypatch):
    """A 3 s load limit, so that the cut that makes fastText read forever is judged quickly."""
    monkeypatch.setattr(fasttext_files, "LOAD_SECONDS_BASE", 3.0)
    fasttext_files._load_in_child.cache_clear()
    yield
    fasttext_files._load_in_child.cache_clear()


# What fastText does with a cut depends on the memory it reads past the end (a hang, a huge allocation, a
# length_error, SIGSEGV): every outcome is named a damaged or cut-short file.
@pytest.mark.parametrize("keep, why", [
    (2_000, "cut short"),                             # read past the end forever before
    (600_000, "cut short"),                           # an impossible allocation
    (920_000, "cut short"),                           # crashed at load or prediction (SIGSEGV) before
    (930_000, "fewer than the 938,013 its header promises"),  # loaded without complaint before
])
def test_a_lid_model_cut_short_is_refused_at_recipe_load(tmp_path, lid_model_file, quick_limit, keep, why):
    data = lid_model_file.read_bytes()
    assert len(data) == 938_013  # the packaged lid.176.ftz
    cut = tmp_path / "lid.ftz"
    cut.write_bytes(data[:keep])
    started = time.monotonic()
    with pytest.raises(RecipeError) as info:
        parse_recipe({"language": {"model_path": str(cut), "languages": ["en"]}})
    assert "stage 'language': option 'model_path'" in str(info.value)
    assert why in str(info.value), str(info.value)
    assert time.monotonic() - started < 30
    assert model_problem(str(lid_model_file)) is None
    assert "__label__en" in fasttext_model_labels(str(lid_model_file))


def test_curate_with_a_cut_model_exits_with_one_line_not_a_crash(tmp_path, lid_model_file, capsys, quick_limit):
    cut = tmp_path / "lid.ftz"
    cut.write_bytes(lid_model_file.read_bytes()[:920_000])
    docs = tmp_path / "in.jsonl"
    docs.write_text('{"id": "a", "text": "The harbour town kept its lighthouse burning all night."}\n')
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"language: {{model_path: {cut}}}\n")
    code, _, err = winnow(capsys, "curate", "--input", docs, "--output", tmp_path / "out", "--recipe", recipe)
    line = last_error_line(err, "curate")  # before: Segmentation fault, exit 139
    assert code == 1 and str(cut) in line and "cut short" in line, line  # a recipe error's status
    assert not (tmp_path / "out").exists()


def test_a_quality_classifier_given_as_the_language_model_is_refused(hq_model):  # tests/conftest.py
    for options in ({}, {"languages": ["en"]}):  # before: accepted; every document's language was hq or lq
        with pytest.raises(RecipeError) as info:
            parse_recipe({"language": {"model_path": str(hq_model), **options}})
        assert "is a quality classifier (labels __label__hq, __label__lq), not a language-ID model" in str(info.value)
        assert "classifier: {model_path: ...}" in str(info.value)


def test_an_empty_languages_list_is_refused():
    with pytest.raises(RecipeError) as info:  # before: it meant every language
        parse_recipe({"language": {"languages": [], "min_score": 0.5}})
    assert "languages" in str(info.value) and "at least one" in str(info.value)


def test_texts_without_letters_or_digits_get_no_language(lid_model_file):
    texts = ["", "   ", "\n\n\t", "\x00\x00", "\U0001F600\U0001F389 !!", "The harbour town kept its lighthouse."]
    keep_all = LanguageFilter(model_path=str(lid_model_file))
    docs = [{"id": str(i), "source": "text", "text": t} for i, t in enumerate(texts)]
    reasons = keep_all.apply_batch(docs)
    assert [(d["language"], d["language_score"]) for d in docs[:5]] == [("", 0.0)] * 5  # before: ('en', 0.12)
    assert reasons == [None] * 6 and docs[5]["language"] == "en" and docs[5]["language_score"] > 0.8
    english = LanguageFilter(languages=["en"], model_path=str(lid_model_file))
    assert english.apply_batch([dict(d) for d in docs]) == ["language"] * 5 + [None]
    one = dict(docs[5])
    assert english.apply(one) is None and one["language_score"] == docs[5]["language_score"]  # batch == single
    assert english.predict("") == [] and english.predict_languages(["", "Bonjour à tous les amis"])[0] == ("", 0.0)
