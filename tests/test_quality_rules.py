"""Pure tier: Gopher repetition, C4 and FineWeb rules and the composite `quality` stage, asserted by reason."""
from __future__ import annotations

import pytest

from filters.c4 import C4QualityFilter
from filters.fineweb import FineWebQualityFilter
from filters.quality import QualityFilter
from filters.repetition import GopherRepetitionFilter, duplicated_ngram_chars, top_ngram_chars
from schemas import SCORES, TEXT
from tests.test_filters import PARAGRAPH

# Our own prose: five different paragraphs, one sentence per line, no repetition.
ARTICLE = "\n".join([
    "The ferry left the harbour at dawn, carrying mail, bread and a few sleepy passengers.",
    "On the far shore, the island's only school had opened its doors for the new term.",
    "Teachers had painted the classrooms during the summer and repaired the old wooden desks.",
    "Most of the children arrived on foot, although a few came by bicycle along the coast road.",
    "By noon the wind had risen, and the captain decided to wait before making the return trip.",
    "Nobody minded the delay, because the café by the pier served soup and fresh bread all afternoon.",
])


def doc(text):
    return {TEXT: text}


# ---------------------------------------------------------------- Gopher repetition

def test_ngram_measures():
    words = "a b c a b c a b c".split()
    assert top_ngram_chars(words, 2) == 3 * 3  # "a b" x3
    # greedy: 5-gram "abcab" at 0 is new ... "abcab" at 3 repeats -> 5 chars, skip 5 words
    assert duplicated_ngram_chars(words, 5) == 5
    assert top_ngram_chars(["a"], 2) == 0 and duplicated_ngram_chars([], 5) == 0


@pytest.mark.parametrize("text, reason", [
    ("\n\n".join(["The same paragraph again and again, it says."] * 3 + [ARTICLE]), "gopher_rep_dup_para_frac"),
    ("\n\n".join([ARTICLE, "First note.", "Second note.", "Third note.", ARTICLE]), "gopher_rep_dup_para_char_frac"),
    ("\n".join(["Buy now."] * 5 + ARTICLE.split("\n")), "gopher_rep_dup_line_frac"),
    (ARTICLE + "\n" + ARTICLE.split("\n")[5] + "\n" + ARTICLE.split("\n")[4], "gopher_rep_dup_line_char_frac"),
    (ARTICLE.replace("\n", " ") + " " + "of the " * 60, "gopher_rep_top_2_gram"),
    (ARTICLE.replace("\n", " ") + " " + " ".join(f"wonderful northern lighthouse w{i}" for i in range(8)),
     "gopher_rep_top_3_gram"),
])
def test_repetition_reasons(text, reason):
    assert GopherRepetitionFilter().apply(doc(text)) == reason


def test_repetition_keeps_prose_and_scores_every_fraction():
    d = doc(ARTICLE)
    assert GopherRepetitionFilter().apply(d) is None
    keys = {k for k in d[SCORES] if k.startswith("gopher_rep_")}
    assert len(keys) == 4 + 3 + 6 and all(0 <= d[SCORES][k] < 0.1 for k in keys)
    assert GopherRepetitionFilter().apply(doc("")) == "gopher_rep_empty"


def test_repetition_duplicated_ngrams_and_disabling():
    # One 12-word phrase repeated within running text: duplicated 5..10-grams, no line or top-gram trip.
    phrase = "lanterns swung above narrow cobbled lanes while merchants counted silver coins beside fountains"
    text = ARTICLE.replace("\n", " ") + " " + phrase + " " + phrase + " " + phrase
    f = GopherRepetitionFilter(top_n_grams=())
    assert f.apply(doc(text)) == "gopher_rep_dup_5_gram"
    assert GopherRepetitionFilter(top_n_grams=(), dup_n_grams=()).apply(doc(text)) is None


# ---------------------------------------------------------------- C4

def test_c4_removes_lines_and_counts_them():
    text = "\n".join(["Home | About | Contact", ARTICLE, "Please enable JavaScript to view the comments.",
                      "This site uses cookies to improve your experience.", "Read more",
                      "See the map [1] for the route.", "x" * 1001 + " is one very long word."])
    d = doc(text)
    assert C4QualityFilter().apply(d) is None
    s = d[SCORES]
    assert (s["c4_removed_no_terminal_punct"], s["c4_removed_javascript"], s["c4_removed_policy"],
            s["c4_removed_too_long_word"]) == (2, 1, 1, 1)
    assert s["c4_lines_removed"] == 5 and s["c4_sentences"] == 7
    assert d[TEXT] == ARTICLE + "\nSee the map  for the route."
    # FineWeb's setting keeps lines without end punctuation.
    d2 = doc(text)
    assert C4QualityFilter(filter_no_terminal_punct=False).apply(d2) is None
    assert "Home | About | Contact" in d2[TEXT] and "Read more" not in d2[TEXT]  # 2 words: too few


@pytest.mark.parametrize("text, reason", [
    (ARTICLE + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit.", "c4_lorem_ipsum"),
    (ARTICLE + "\nfunction f() { return 1; } is shown below.", "c4_curly_bracket"),
    ("\n".join(ARTICLE.split("\n")[:3]), "c4_too_few_sentences"),
])
def test_c4_document_reasons(text, reason):
    d = doc(text)
    assert C4QualityFilter().apply(d) == reason
    assert d[TEXT] == text  # a dropped document keeps its text for the rejected table


def test_c4_curly_bracket_in_removed_line_does_not_drop():
    assert C4QualityFilter().apply(doc(ARTICLE + "\n{menu}")) is None  # too few words: removed first


# ---------------------------------------------------------------- FineWeb

@pytest.mark.parametrize("text, reason", [
    ("\n".join(["Home", "Products and services for everyone", "Contact us today", "About the team"] * 3
               + [ARTICLE.split("\n")[0]]), "fineweb_line_punct_ratio"),
    ("\n".join(["Short line one.", "Another short one.", "Tiny.", ARTICLE.split("\n")[0]]),
     "fineweb_short_line_ratio"),
    (ARTICLE + "\n" + ARTICLE.split("\n")[0], "fineweb_char_dup_ratio"),
    # 20 distinct long lines of 3 tokens each: 19 newlines / 60 words > 0.3
    ("\n".join(f"Internationalization{i} counterrevolutionaries." for i in range(20)), "fineweb_list_ratio"),
    ("\n \n", "fineweb_empty"),
])
def test_fineweb_reasons(text, reason):
    assert FineWebQualityFilter().apply(doc(text)) == reason


def test_fineweb_keeps_prose_with_scores():
    d = doc(ARTICLE)
    assert FineWebQualityFilter().apply(d) is None
    s = d[SCORES]
    assert s["fineweb_line_punct_ratio"] == 1.0 and s["fineweb_short_line_ratio"] == 0.0
    assert s["fineweb_char_dup_ratio"] == 0.0 and 0 < s["fineweb_list_ratio"] < 0.1


# ---------------------------------------------------------------- composite

def test_quality_runs_sets_in_fineweb_order_and_omits_sets():
    q = QualityFilter(c4={"filter_no_terminal_punct": False})
    d = doc(ARTICLE + "\n" + ARTICLE)  # repeated: repetition drops it before Gopher or C4 see it
    assert q.apply(d) == "gopher_rep_dup_line_frac"
    assert not any(k.startswith(("gopher_words", "c4_")) for k in d[SCORES])
    long_article = "\n".join([ARTICLE, PARAGRAPH])
    d = doc(long_article + "\nPlease enable JavaScript to read this page fully.")
    assert q.apply(d) is None
    assert d[TEXT] == long_article  # C4 removed the javascript line
    assert {"gopher_rep_top_2_gram", "gopher_words", "c4_lines_removed", "fineweb_list_ratio"} <= set(d[SCORES])
    only_gopher = QualityFilter(gopher_repetition=None, c4=None, fineweb=None)
    assert [k for k, _ in only_gopher.rule_sets] == ["gopher"]
    assert only_gopher.apply(doc(ARTICLE + "\n" + ARTICLE)) is None
    with pytest.raises(ValueError, match="needs at least one rule set"):
        QualityFilter(gopher_repetition=None, gopher=None, c4=None, fineweb=None)
    with pytest.raises(TypeError, match="'gopher.min_words' is not an option here"):
        QualityFilter(gopher={"min_words": 3})


@pytest.mark.parametrize("line", [
    "It works! 😀", "Paid in full. $", "Shipping was fast! 👍 Would buy again.", "Costs 5 €. Cheap.",
    "Wait... what? Yes!", "End. (Note: it.) Next one!", "He said “Stop.” Then left.", "x _ y. _z", "A. B. C.",
])
def test_sentence_count_is_the_sentencizers_with_symbols_after_a_stop(line):
    """C4's sentence rule counts with spaCy's sentencizer (datatrove's C4 filter): a symbol or emoji after a full
    stop starts a sentence, because spaCy's `is_punct` is Unicode category P* only (they were taken for
    punctuation, and three-line reviews ending in emoji were dropped as c4_too_few_sentences)."""
    import spacy

    from filters.text import sentence_count, word_tokens

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    assert sentence_count(word_tokens(line)) == len(list(nlp(line).sents))


@pytest.mark.slow  # ~4 s: one curate run
def test_stored_scores_give_back_the_decision_taken(tmp_path):
    """Scores are written so thresholds can be re-tuned: decide() on the stored scores must give the decision
    the stage took. Stored as float32, a duplicate-line fraction of exactly 0.3 read back as 0.30000001 (over
    the 0.3 limit: "drop"), as a FineWeb punctuation ratio of exactly 0.12 read back as 0.11999999."""
    import glob
    import json

    import pyarrow.parquet as pq

    from filters.repetition import GopherRepetitionFilter
    from pipelines.jobs.curate import run_curate
    from pipelines.jobs.recipe import parse_recipe

    lines = ["Apples grow on tall trees in the northern orchard", "Bakers start work before the sun comes up",
             "Cold rivers carry fresh water down from mountains", "Dogs bark loudly whenever strangers approach",
             "Every winter brings heavy snow across these valleys", "Foxes hunt quietly through fields at night",
             "ok", "ok", "ok", "ok"]
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "dup_03", "text": "\n".join(lines)}) + "\n")
    out = tmp_path / "out"
    run_curate([str(src)], str(out), parse_recipe({"quality": {"gopher": None, "gopher_repetition": {}, "c4": None,
                                                              "fineweb": None}}))
    [row] = [r for f in glob.glob(str(out / "documents" / "*.parquet")) for r in pq.read_table(f).to_pylist()]
    scores = dict(row["scores"])
    assert scores["gopher_rep_dup_line_frac"] == 0.3
    assert GopherRepetitionFilter().decide(scores) is None
