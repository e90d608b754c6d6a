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
