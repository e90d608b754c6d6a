"""Filter options that type and range checks let through but that would drop every document (or never match)
are refused when the recipe is loaded, with one line naming the stage, the option, the value and what to write.

Each case builds the recipe through the real loader (`parse_recipe`, which builds every stage once) and checks
that the corresponding good value still loads.
"""
from __future__ import annotations

import logging
import pickle

import pytest

from pipelines.jobs.recipe import RecipeError, parse_recipe


def _refusal(options_by_stage) -> str:
    with pytest.raises(RecipeError) as info:
        parse_recipe(options_by_stage)
    message = str(info.value)
    assert "\n" not in message, message
    return message


# --- language: codes lid.176 never produces ------------------------------------------------------------------

def test_language_codes_the_model_never_produces_fail_at_load(lid_model_file):
    message = _refusal({"language": {"languages": ["EN"]}})
    assert message == ("recipe custom: stage 'language': option 'languages' = ['EN'] is not allowed: 'EN' is not a "
                       "language lid.176 labels, so no document would ever match it; write 'en'"), message
    message = _refusal({"language": {"languages": ["de", "eng"]}})
    assert "option 'languages' = ['de', 'eng'] is not allowed: 'eng' is not a language lid.176 labels" in message
    assert "ISO 639-1 where one exists ('en', not 'eng')" in message and "(176 in all)" in message
    message = _refusal({"language": {"per_language_min_score": {"EN": 0.5}}})
    assert "stage 'language': option 'per_language_min_score' = {'EN': 0.5} is not allowed: 'EN'" in message
    assert message.endswith("write 'en'"), message
    message = _refusal({"language": {"languages": ["en"], "model_path": str(lid_model_file),
                                     "per_language_min_score": {"__label__de": 0.5}}})
    assert f"is not a language the model {lid_model_file} labels" in message and message.endswith("write 'de'")

    recipe = parse_recipe({"language": {"languages": ["en", "de", "ceb"], "per_language_min_score": {"de": 0.8}}})
    assert recipe.options("language")["languages"] == ["en", "de", "ceb"]


def test_language_filter_checks_its_model_without_holding_a_copy():
    from filters.language import LanguageFilter

    f = LanguageFilter(languages=["en"], min_score=0.5)
    # the codes were checked against labels read in a child process (filters/fasttext_files.py), so neither the
    # recipe check nor the driver holds a model; a worker loads it once in setup()
    assert f._model is None
    assert pickle.loads(pickle.dumps(f))._model is None
    f.setup()
    model = f._model
    assert f.predict("The weather was fine and the boats came back to the harbour.")[0][0] == "en"
    assert f._model is model  # not loaded a second time


# --- classifier: a fastText model without the label it reads ------------------------------------------------

def test_classifier_model_without_the_hq_label_fails_at_load(lid_model_file, hq_model):
    message = _refusal({"classifier": {"model_path": str(lid_model_file)}})
    assert message.startswith(f"recipe custom: stage 'classifier': option 'model_path' = '{lid_model_file}' is not "
                              f"allowed: the model's labels are __label__en, __label__ru, "), message
    assert "(176 in all), without the __label__hq (and __label__lq) of a quality classifier" in message
    assert message.endswith("give the model.bin that `winnow classifier train` writes"), message

    assert parse_recipe({"classifier": {"model_path": str(hq_model), "threshold": 0.4}}).stage_names == ("classifier",)
    from filters.classifier import QualityClassifierFilter

    f = QualityClassifierFilter(model_path=str(hq_model))
    assert f._model is None  # its labels came from model_path's check (fasttext_files.py): no copy held here
    f.setup()
    model = f._model
    f.setup()
    assert f._model is model  # loaded once
    worker = pickle.loads(pickle.dumps(f))  # and not pickled to the workers, which load it in setup()
    assert worker._model is None
    worker.setup()
    doc = {"id": "a", "source": "web", "text": "the harbour town kept its lighthouse"}
    assert worker.apply(dict(doc)) == f.apply(dict(doc))


# --- WINNOW_LID_MODEL: a file that is not a fastText model --------------------------------------------------

def test_lid_model_variable_naming_a_file_that_is_not_a_fasttext_model_fails_at_load(
        tmp_path, monkeypatch, lid_model_file):
    from filters.models import ENV_LID_MODEL, ModelMissingError

    not_a_model = tmp_path / "docs.jsonl"
    not_a_model.write_text('{"id": "a", "text": "hello"}\n')
    monkeypatch.setenv(ENV_LID_MODEL, str(not_a_model))
    for options in ({}, {"languages": ["en"]}):
        with pytest.raises(ModelMissingError) as info:
            parse_recipe({"language": options})
        assert str(info.value) == (f"$WINNOW_LID_MODEL={not_a_model} (the model of the language stage) is no "
                                   f"usable fastText model (the file is not a fastText model (wrong header)): set "
                                   f"it to the path of a lid.176.ftz/.bin, or unset it to use the packaged lid.176")
    # An explicit model_path wins over the variable, as before; a real model in the variable loads.
    assert parse_recipe({"language": {"languages": ["en"], "model_path": str(lid_model_file)}})
    monkeypatch.setenv(ENV_LID_MODEL, str(lid_model_file))
    assert parse_recipe({"language": {"languages": ["en"]}}).stage_names == ("language",)


# --- code: a blank autogenerated marker ---------------------------------------------------------------------

def test_blank_autogenerated_marker_fails_at_load():
    message = _refusal({"code": {"autogenerated_markers": [""]}})
    assert message == ("recipe custom: stage 'code': option 'autogenerated_markers' = [''] is not allowed: '' is "
                       "blank, found in the first lines of (nearly) every file, which would all be dropped; write "
                       "the marker text (e.g. ['do not edit']), [] for no markers, or leave the option out for the "
                       "defaults"), message
    assert "option 'autogenerated_markers' = ['do not edit', ' ']" in _refusal(
        {"code": {"autogenerated_markers": ["do not edit", " "]}})

    for good in (["do not edit"], []):
        assert parse_recipe({"code": {"autogenerated_markers": good}}).stage_names == ("code",)


# --- gopher: a minimum above its maximum --------------------------------------------------------------------

def test_gopher_minimum_above_its_maximum_fails_at_load():
    message = _refusal({"quality": {"gopher": {"min_doc_words": 500, "max_doc_words": 100}}})
    assert message == ("recipe custom: stage 'quality': option 'gopher.min_doc_words' = 500 is not allowed: it is "
                       "above max_doc_words = 100, so every document would be dropped; write min_doc_words <= 100 "
                       "or raise max_doc_words"), message
    message = _refusal({"quality": {"gopher": {"min_avg_word_length": 12}}})  # the default maximum is 10
    assert ("option 'gopher.min_avg_word_length' = 12 is not allowed: it is above max_avg_word_length = 10" in message
            and message.endswith("write min_avg_word_length <= 10 or raise max_avg_word_length")), message
    message = _refusal({"quality": {"gopher": {"stop_words": ["the"]}}})  # the default minimum is 2
    assert ("option 'gopher.min_stop_words' = 2 is not allowed: it is above the 1 distinct stop_words a document "
            "can contain" in message and message.endswith("write min_stop_words <= 1 (or null to turn the rule off)"))

    for good in ({"min_doc_words": 100, "max_doc_words": 100}, {"min_doc_words": 500, "max_doc_words": None},
                 {"min_avg_word_length": 6}, {"stop_words": ["the"], "min_stop_words": 1}):
        assert parse_recipe({"quality": {"gopher": good}}).stage_names == ("quality",)


# --- fineweb: stop_chars that are not single characters -----------------------------------------------------

def test_fineweb_stop_chars_that_are_not_single_characters_fail_at_load():
    message = _refusal({"quality": {"fineweb": {"stop_chars": [".!?"]}}})
    assert message == ("recipe custom: stage 'quality': option 'fineweb.stop_chars' = ['.!?'] is not allowed: each "
                       "entry is one character a line may end with, and '.!?' has 3; write ['.', '!', '?']"), message
    message = _refusal({"quality": {"fineweb": {"stop_chars": []}}})
    assert message.startswith("recipe custom: stage 'quality': option 'fineweb.stop_chars' = [] is not allowed: no "
                              "line would end in one of them, so every document would be dropped; list the "
                              "characters, e.g. ['.', '!', '?']"), message

    assert parse_recipe({"quality": {"fineweb": {"stop_chars": [".", "!", "?"]}}}).stage_names == ("quality",)


# --- url: banned words with separators, domains with a path -------------------------------------------------

def test_url_banned_words_with_separators_and_domains_with_a_path_fail_at_load(tmp_path, caplog):
    message = _refusal({"url": {"banned_words": ["sex-shop", "online casino"]}})
    assert message == ("recipe custom: stage 'url': option 'banned_words' = ['sex-shop', 'online casino'] is not "
                       "allowed: 'sex-shop' has '-', but URLs are split into words at every character other than "
                       "a-z and 0-9, so it never matches a word; use banned_subwords: ['sex-shop'] to match it "
                       "anywhere in the URL (separators ignored), or list the words ['sex', 'shop'] separately"), message
    assert "'online casino' has ' '" in _refusal({"url": {"banned_words": ["casino", "online casino"]}})
    message = _refusal({"url": {"domains": ["example.com/path"]}})
    assert message == ("recipe custom: stage 'url': option 'domains' = ['example.com/path'] is not allowed: "
                       "'example.com/path' has a path, so it is not a host name and never matches; write "
                       "'example.com' to block the host, or list the page's full URL under urls: (e.g. "
                       "'https://example.com/path')"), message
    message = _refusal({"url": {"domains": ["https://example.com/path"]}})
    assert message == ("recipe custom: stage 'url': option 'domains' = ['https://example.com/path'] is not allowed: "
                       "'https://example.com/path' has a path, but a domain entry blocks a whole host (here all of "
                       "example.com); write 'example.com' to block the host, or list the page under urls: "
                       "['https://example.com/path']"), message
    listed = tmp_path / "domains.txt"
    listed.write_text("# blocked\nfine.example\nexample.com/path\n")
    # a list file (thousands of downloaded lines) is not refused for one entry: the log says what cannot match
    with caplog.at_level(logging.WARNING, logger="filters.url"):
        assert parse_recipe({"url": {"domains_file": str(listed)}}).stage_names == ("url",)
    assert f"url: 1 entry of domains_file {listed} cannot match as written, e.g. 'example.com/path' has a path" \
        in caplog.text

    listed.write_text("# blocked\nfine.example\nhttps://www.example.com/\n")
    recipe = parse_recipe({"url": {"domains": ["example.org", "https://example.net"], "domains_file": str(listed),
                                   "urls": ["https://example.com/path"], "banned_words": ["casino"],
                                   "banned_subwords": ["sex-shop", "online casino"]}})
    assert recipe.stage_names == ("url",)
    from filters.url import UrlFilter

    f = UrlFilter(**recipe.options("url"))
    assert f.decide("https://sub.example.net/a") == "url_parent_domain"
    assert f.decide("https://example.com/b") == "url_domain"
    assert f.decide("https://a.test/sex_shop") == "url_banned_subword"
    assert f.decide("https://a.test/casino/x") == "url_banned_word"
