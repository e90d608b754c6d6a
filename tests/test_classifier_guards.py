"""The fastText quality classifier's guards (filters/classifier.py): texts cannot add labels, both classes must be
trained on, a text without words scores 0.0, P(hq) stays within [0, 1], the stage keeps no model in the process
that builds the recipe, and `winnow classifier train` says what is wrong with its inputs and options.

Real fastText training throughout, on generated sentences: `word_ngrams=1` (fastText then allocates no n-gram
buckets) and a small `dim` keep each model well under a megabyte and each training run in milliseconds.
"""
from __future__ import annotations

import json
import pickle
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from filters import classifier
from filters.classifier import NEGATIVE, POSITIVE, QualityClassifierFilter, fasttext_line, train_quality_classifier
from pipelines.jobs.recipe import parse_recipe
from schemas.documents import DOCUMENTS_SCHEMA
from tests.clirun import last_error_line, winnow as _winnow

SMALL = {"word_ngrams": 1, "dim": 16, "epoch": 5}

_SUBJECTS = ("the old harbour master", "my grandmother", "the village doctor", "a young officer", "the keeper",
             "her eldest sister", "the parish clerk", "our neighbour", "the ship's carpenter", "a travelling painter")
_VERBS = ("remembered", "described", "wrote about", "walked along", "spoke quietly of", "returned to",
          "watched", "admired", "repaired", "often visited")
_OBJECTS = ("the grey stone lighthouse", "the long winter evenings", "the narrow road to the church",
            "the letters from abroad", "the orchard behind the mill", "the storm of that autumn",
            "the small library upstairs", "the fishing boats at dawn", "the garden wall", "the bells of the town")
_TAILS = ("with great care.", "before the rain began.", "for many years afterwards.", "as the tide turned.",
          "while the others slept.", "in a clear and steady hand.", "until the lamps were lit.")
_SPAM = "click here buy now free cheap casino login cookie accept subscribe share tweet menu home deal win".split()


def _prose(n: int, seed: int = 0) -> list:
    rng = random.Random(seed)
    return [" ".join(f"{rng.choice(_SUBJECTS).capitalize()} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} "
                     f"{rng.choice(_TAILS)}" for _ in range(rng.randint(2, 5))) for _ in range(n)]


def _spam(n: int, seed: int = 1) -> list:
    rng = random.Random(seed)
    return [" ".join(rng.choice(_SPAM) for _ in range(rng.randint(10, 40))) for _ in range(n)]


def _jsonl(path, texts) -> str:
    with open(path, "w", encoding="utf-8") as f:
        for i, text in enumerate(texts):
            f.write(json.dumps({"id": f"d{i}", "text": text}) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("clf")
    meta = train_quality_classifier(_prose(200), _spam(200), str(out), **SMALL)
    assert meta["held_out_auc"] > 0.95, meta
    return out / "model.bin"


def _fasttext():
    import fasttext

    fasttext.FastText.eprint = lambda *a, **k: None
    return fasttext


def _train_directly(lines, **options):
    """A model trained by fastText itself on `lines` (as the project's training does, from zero-filled memory)."""
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))
        f.flush()
        with classifier._zero_filled_allocations():
            return _fasttext().train_supervised(input=f.name, wordNgrams=1, dim=8, epoch=2, thread=1, verbose=0,
                                                **options)


def winnow(capsys, *args):
    """(exit status, stdout, stderr) of `winnow ARGS` in this process, usage errors included."""
    try:
        return _winnow(capsys, *args)
    except SystemExit as exc:  # argparse's usage errors
        out = capsys.readouterr()
        return exc.code, out.out, out.err


# --- 2: `__label__` words in a text -------------------------------------------------------------------------

def test_label_words_in_training_texts_add_no_labels(tmp_path):
    """A positive text holding `__label__spam __label__ham` made a four-label model (meta said two, AUC 1.0) whose
    P(hq) was shared with the extra labels: it dropped every good document."""
    positive = [text + " (fastText lines look like __label__spam __label__ham text)" for text in _prose(200)]
    meta = train_quality_classifier(positive, _spam(200), str(tmp_path), **SMALL)
    model = _fasttext().load_model(str(tmp_path / "model.bin"))
    assert sorted(model.get_labels()) == [POSITIVE, NEGATIVE], model.get_labels()
    written = json.loads((tmp_path / "classifier_meta.json").read_text())
    assert sorted(written["labels"]) == sorted(meta["labels"]) == [POSITIVE, NEGATIVE]
    assert written["labels"] == model.get_labels()  # the model's own labels, not a constant
    # ... and the good documents, __label__ words included, are kept
    f = QualityClassifierFilter(model_path=str(tmp_path / "model.bin"))
    kept = sum(f.apply({"id": str(i), "source": "text", "text": t}) is None for i, t in enumerate(positive[:50]))
    assert kept >= 45, kept


def test_fasttext_line_neutralises_label_words_and_splits_at_nul():
    line = fasttext_line("keep __label__spam\tand\x00__label__ham __label__ here_label__ ok")
    assert not any(word.startswith("__label__") for word in line.split()), line
    assert line == "keep label__spam and label__ham label__ here_label__ ok"


def test_classifier_stage_refuses_a_model_with_other_labels_than_hq_and_lq(tmp_path):
    path = tmp_path / "three.bin"
    model = _train_directly([f"{POSITIVE} __label__spam {text}" for text in _prose(60)]
                            + [f"{NEGATIVE} {text}" for text in _spam(60)])
    model.save_model(str(path))
    assert POSITIVE in model.get_labels() and len(model.get_labels()) == 3
    with pytest.raises(ValueError) as info:
        parse_recipe({"classifier": {"model_path": str(path)}})
    message = str(info.value)
    assert "\n" not in message
    assert f"option 'model_path' = '{path}' is not allowed: the model's labels are " in message, message
    assert "__label__spam" in message and f"not exactly the {POSITIVE} and {NEGATIVE}" in message, message


# --- 3: one class in the training split; P(hq) above 1 ------------------------------------------------------

def _negatives_all_held_out(n: int) -> list:
    rng, held, i = random.Random(3), [], 0
    while len(held) < n:
        text = " ".join(rng.choice(_SPAM) for _ in range(20)) + f" x{i}"
        i += 1
        if classifier._held_out(fasttext_line(text), 0.1):
            held.append(text)
    return held


def test_training_needs_both_classes_in_the_training_split(tmp_path):
    """2 negatives, both in the held-out 10 %: training exited 0 with a one-label model that kept everything."""
    with pytest.raises(ValueError) as info:
        train_quality_classifier(_prose(200), _negatives_all_held_out(2), str(tmp_path / "m"), **SMALL)
    message = str(info.value)
    assert "negative side has too few documents with text (2)" in message, message
    assert "none of this class to train on" in message, message
    assert not (tmp_path / "m" / "model.bin").exists()


def test_p_hq_is_clipped_to_one():
    """fastText's softmax gives a one-label model 1.0000100135803223."""
    model = _train_directly([f"{POSITIVE} {text}" for text in _prose(30)])
    assert model.predict("the keeper", k=2)[1][0] > 1.0  # what fastText itself says
    assert classifier._p_hq(model, "the keeper") == 1.0


# --- 5: documents without words -----------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", "     ", "\n\n\n\r\n", "\t\x0b\x0c", "\x00\x00\x00", "... --- !!!"])
def test_a_text_without_words_scores_zero_and_is_dropped(small_model, text):
    """Such texts scored ~0.95 (fastText's answer for an empty line) and were kept as high quality."""
    f = QualityClassifierFilter(model_path=str(small_model), threshold=0.01)
    doc = {"id": "a", "source": "text", "text": text}
    assert f.apply(doc) == "classifier_low_score"
    assert doc["scores"]["classifier_hq"] == 0.0
    good = {"id": "b", "source": "text", "text": _prose(1, seed=9)[0]}
    assert f.apply(good) is None and 0.5 < good["scores"]["classifier_hq"] <= 1.0


# --- 10: the stage keeps no model in the process that builds it ---------------------------------------------

def test_stage_build_loads_no_model_in_this_process(small_model, monkeypatch):
    """The recipe check, the stage's __init__ and setup() each loaded the model (up to three 513 MB copies in
    `curate --workers 1`); now the labels come from model_path's check, made in a child process."""
    fasttext = _fasttext()
    loads = []
    real = fasttext.load_model
    monkeypatch.setattr(fasttext, "load_model", lambda path: loads.append(path) or real(path))
    f = QualityClassifierFilter(model_path=str(small_model))
    assert f._model is None and loads == []
    worker = pickle.loads(pickle.dumps(f))
    worker.setup()
    worker.setup()
    assert loads == [str(small_model)]  # once, in setup()
    doc = {"id": "a", "source": "text", "text": _prose(1, seed=5)[0]}
    assert worker.apply(dict(doc)) == f.apply(dict(doc)) is None  # apply() without setup() loads it itself


# --- the command --------------------------------------------------------------------------------------------

def test_train_refuses_a_seed_fasttext_cannot_take(tmp_path, capsys):
    """--seed 99999999999 was a TypeError traceback from fastText, after an empty output directory was made."""
    pos, neg = _jsonl(tmp_path / "pos.jsonl", _prose(200)), _jsonl(tmp_path / "neg.jsonl", _spam(200))
    code, _, err = winnow(capsys, "classifier", "train", "--positive", pos, "--negative", neg,
                          "--output", tmp_path / "m", "--seed", "99999999999")
    assert code == 2 and "argument --seed: 99999999999 is not a seed (0 to 2,147,483,647)" in err, err
    assert not (tmp_path / "m").exists()


def _empty_curate_output(path):
    (path / "documents").mkdir(parents=True)
    empty = pa.Table.from_pylist([], schema=DOCUMENTS_SCHEMA)
    pq.write_table(empty, path / "documents" / "part-00000-of-00001.parquet")
    return str(path)


@pytest.mark.parametrize("kind", ["empty file", "whitespace texts", "curate output with 0 documents"])
def test_train_names_a_side_without_text(tmp_path, capsys, kind):
    """An empty side was told "no positive document fell in the held-out 10%... give more (or a larger
    --max-docs)"."""
    if kind == "empty file":
        empty = _jsonl(tmp_path / "empty.jsonl", [])
    elif kind == "whitespace texts":
        empty = _jsonl(tmp_path / "blank.jsonl", ["   \n ", "", "\t"])
    else:
        empty = _empty_curate_output(tmp_path / "curated")
    neg = _jsonl(tmp_path / "neg.jsonl", _spam(50))
    code, _, err = winnow(capsys, "classifier", "train", "--positive", empty, "--negative", neg,
                          "--output", tmp_path / "m")
    line = last_error_line(err, "classifier train")
    assert code == 1 and f"--positive {empty} has no document with text" in line, err
    assert "held-out" not in line and "--max-docs" not in line, line
    assert not (tmp_path / "m").exists()


def test_train_summary_names_the_model_path(tmp_path, capsys, monkeypatch):
    """The summary printed "model": "model.bin" (meta's key, relative to the output directory, overwrote the
    path)."""
    real = classifier.train_quality_classifier
    monkeypatch.setattr(classifier, "train_quality_classifier", lambda *a, **k: real(*a, **{**k, **SMALL}))
    pos, neg = _jsonl(tmp_path / "pos.jsonl", _prose(200)), _jsonl(tmp_path / "neg.jsonl", _spam(200))
    out = tmp_path / "m"
    code, stdout, err = winnow(capsys, "classifier", "train", "--positive", pos, "--negative", neg, "--output", out)
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["model"] == str(out / "model.bin"), summary
    assert json.loads((out / "classifier_meta.json").read_text())["model"] == "model.bin"  # beside the model


def test_train_bucket_option_sets_the_model_size(tmp_path, capsys):
    pos, neg = _jsonl(tmp_path / "pos.jsonl", _prose(200)), _jsonl(tmp_path / "neg.jsonl", _spam(200))
    out = tmp_path / "m"
    code, stdout, err = winnow(capsys, "classifier", "train", "--positive", pos, "--negative", neg,
                               "--output", out, "--bucket", "2000")
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["params"]["bucket"] == 2000 and summary["held_out_auc"] > 0.95, summary
    assert (out / "model.bin").stat().st_size < 5_000_000  # 513 MB at the default 2,000,000 buckets
    code, _, err = winnow(capsys, "classifier", "train", "--positive", pos, "--negative", neg,
                          "--output", out, "--bucket", "0")
    assert code == 2 and "argument --bucket: 0 is not at least 1" in err, err
    code, stdout, _ = winnow(capsys, "classifier", "train", "--help")
    assert "512 MB at the default" in " ".join(stdout.split()), stdout


# --- training starts from the same weights in any process ---------------------------------------------------

def test_training_twice_in_one_process_gives_the_same_model(tmp_path):
    """fasttext-numpy2 leaves nine tenths of the input matrix as the heap left it (one training thread): after a
    model had been freed, a second training raised "Encountered NaN" or trained on leftovers."""
    fasttext, digests = _fasttext(), []
    for run in range(3):
        out = tmp_path / str(run)
        train_quality_classifier(_prose(120), _spam(120), str(out), **SMALL)
        digests.append((out / "model.bin").read_bytes())
        fasttext.load_model(str(out / "model.bin"))  # loaded and freed: its memory is reused by the next run
    assert digests[0] == digests[1] == digests[2]


def test_the_meta_accounts_for_every_document_of_each_side(tmp_path):
    """classifier_meta.json says, per side, how many documents were read, how many had no word and were skipped,
    whether the cap stopped the reading, and how they were split (before: only the totals of the split)."""
    positive = _prose(120) + ["", "  ...  ", "12 34"]  # two without a word character (digits are word characters)
    meta = train_quality_classifier(positive, _spam(150), str(tmp_path), max_docs=100, **SMALL)
    pos, neg = meta["sides"]["positive"], meta["sides"]["negative"]
    assert (pos["documents_read"], pos["skipped_without_words"], pos["capped_at_max_docs"]) == (100, 0, True)
    assert (neg["documents_read"], neg["capped_at_max_docs"]) == (100, True)
    assert pos["train_examples"] + pos["held_out_examples"] == 100
    assert pos["train_examples"] + neg["train_examples"] == meta["train_examples"]
    assert pos["held_out_examples"] + neg["held_out_examples"] == meta["held_out_examples"]
    meta = train_quality_classifier(positive, _spam(150), str(tmp_path))
    pos = meta["sides"]["positive"]
    assert (pos["documents_read"], pos["skipped_without_words"], pos["capped_at_max_docs"]) == (123, 2, False)
    assert json.loads((tmp_path / "classifier_meta.json").read_text())["sides"] == meta["sides"]


def test_training_progress_counts_each_sides_documents_read(tmp_path):
    """`winnow classifier train` shows the documents read per side (schemas/progress.py): the counts are the
    meta's `documents_read`, the cap included, and the model is the one trained without a reporter. On a
    terminal the line ends before fastText trains (its own progress line follows)."""
    import io

    from schemas.progress import Progress

    positive = _prose(120) + ["", "12 34"]
    plain = train_quality_classifier(positive, _spam(150), str(tmp_path / "plain"), max_docs=100, **SMALL)
    for tty in (False, True):
        out = tmp_path / f"tty{tty}"
        stream = io.StringIO()
        with Progress("classifier train", ("positive", "negative"), unit="docs", stream=stream, tty=tty,
                      tty_interval=0.0, log_interval=0.0) as progress:
            meta = train_quality_classifier(positive, _spam(150), str(out), max_docs=100, progress=progress,
                                            **SMALL)
            assert progress.closed is tty
        assert progress.counts == {"positive": 100, "negative": 100}
        assert meta["sides"] == plain["sides"]
        assert (out / "model.bin").read_bytes() == (tmp_path / "plain" / "model.bin").read_bytes()
        last = stream.getvalue().replace("\r", "\n").splitlines()[-1]
        assert last.startswith("[classifier train] positive 100, negative 100;"), last
