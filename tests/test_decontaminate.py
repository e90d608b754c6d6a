"""Decontamination (issue 19, item 2): evaluation items planted in real documents are caught, near misses are not.

Documents are paragraphs of a Project Gutenberg novel (Pride and Prejudice); evaluation items are built from the
paragraphs of two other books (Frankenstein, Alice), so both sides are real prose. Plants: an item whole, with
changed case and punctuation, split over lines, a bare 13-word run of it; near misses: 12 of its words in a row.
One real curate run (in-process Beam) checks rejected rows, their detail and report.json's per-set counts.
"""
from __future__ import annotations

import glob
import gzip
import json
import os
import re

import numpy as np
import pyarrow.parquet as pq
import pytest

from filters.decontam import (build_index, find_matches, normalize_words, parse_eval_sets, remove_matched_lines)
from pipelines.jobs.recipe import RecipeError, parse_recipe

N = 13


def _body(path) -> str:
    text = path.read_text(encoding="utf-8")
    start = text.index("***", text.index("START OF")) + 3
    return text[start:text.index("*** END OF")]


def _paragraphs(path, min_words=40):
    paras = [" ".join(p.split()) for p in re.split(r"\n\s*\n", _body(path))]
    return [p for p in paras if len(p.split()) >= min_words]


@pytest.fixture(scope="module")
def books(shared_data):
    root = shared_data / "text" / "gutenberg"
    names = {"docs": "pg1342__Pride-and-Prejudice.txt", "frank": "pg84__Frankenstein.txt",
             "alice": "pg11__Alice-s-Adventures-in-Wonderland.txt"}
    missing = [n for n in names.values() if not (root / n).exists()]
    if missing:
        pytest.skip(f"shared books {missing} not found under {root}")
    return {k: root / v for k, v in names.items()}


def _items(paras, count, offset=0):
    """Evaluation-like items: a question (a paragraph's first sentences), four choices, an answer index."""
    items = []
    for i in range(count):
        words = paras[offset + 2 * i].split()
        other = paras[offset + 2 * i + 1].split()
        items.append({"question": " ".join(words[:40]),
                      "choices": [" ".join(other[k:k + 16]) for k in (0, 16, 32)] + ["None of the above."],
                      "answer": 1, "id": f"q{i}"})
    return items


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def eval_sets(books, tmp_path_factory):
    d = tmp_path_factory.mktemp("evalsets")
    frank = _items(_paragraphs(books["frank"]), 20)
    alice = _items(_paragraphs(books["alice"]), 10)
    text_dir = d / "alice_text"
    text_dir.mkdir()
    for i, item in enumerate(alice[:3]):  # a directory of plain text: each file one item
        (text_dir / f"{i}.txt").write_text(item["question"], encoding="utf-8")
    return {"frank": (frank, _write_jsonl(d / "frank.jsonl", frank)),
            "alice": (alice, _write_jsonl(d / "alice.jsonl", alice)), "alice_text": str(text_dir)}


def _shout(text: str) -> str:
    """Changed case and punctuation: upper case, commas and full stops gone, quotes and dashes added."""
    words = text.upper().replace(",", "").replace(".", "").split()
    return " ".join(f'"{w}!"' if i % 5 == 0 else (w + " --" if i % 7 == 3 else w) for i, w in enumerate(words))


def _split_lines(text: str, every: int = 4) -> str:
    words = text.split()
    return "\n".join(" ".join(words[i:i + every]) for i in range(0, len(words), every))


def _plant(doc: str, insert: str) -> str:
    words = doc.split()
    mid = len(words) // 2
    return " ".join(words[:mid]) + " " + insert + " " + " ".join(words[mid:])


@pytest.fixture(scope="module")
def docs(books):
    paras = _paragraphs(books["docs"], min_words=20)
    return [" ".join(paras[i:i + 4]) for i in range(0, 4 * 60, 4)]


def test_normalisation_is_gpt3_datatrove_style():
    assert normalize_words("The Café, in 1999: “well-known” DON'T\nstop at 3.14") == [
        b"the", b"cafe", b"in", b"0", b"well", b"known", b"don", b"t", b"stop", b"at", b"0"]
    assert normalize_words("a\u00a0b\tc\x1dd") == [b"a", b"b", b"c", b"d"]  # every separator str.split knows


def test_a_chinese_or_japanese_item_is_compared_by_letters_and_caught(tmp_path):
    """Scripts written without spaces: each letter is a word that counts half, so an n-gram there is 2n letters.
    A Chinese question (one or two whitespace "words", no 13-gram: never found before) is caught inside a
    document; 2n - 1 of its letters are not, nor a clean clause that quotes the same stock phrase (the name of
    a law, 15 letters: flagged when a letter counted whole)."""
    item_zh = "下列哪一项是中国古代四大发明之一，并且最早出现在汉朝的造纸技术相关记载中？"
    item_ja = "次のうち、日本で最も長い川はどれですか。信濃川、利根川、石狩川の中から選びなさい。"
    item_law = "根据《中华人民共和国民法典》的规定，下列关于合同无效情形的说法中，哪一项是正确的？"
    path = tmp_path / "cjk.jsonl"
    path.write_text("".join(json.dumps({"question": q}, ensure_ascii=False) + "\n" for q in (item_zh, item_ja, item_law)),
                    encoding="utf-8")
    index = build_index(parse_eval_sets([{"name": "cjk", "path": str(path)}]), N)
    assert index.items == (3,) and index.short_items == (0,)
    assert normalize_words("中国 abc")[:2] == ["中".encode(), "国".encode()]
    letters = "".join(c for c in item_zh if c not in "，？")
    doc = "今天我们复习历史。" + letters[3:3 + 2 * N + 1] + "明天继续学习地理。"
    found = find_matches(doc, index)
    assert found and found[0].set_name == "cjk" and len(found[0].ngram.split()) == 2 * N
    assert find_matches("昨日は雨でした。" + "".join(c for c in item_ja if c not in "、。")[4:4 + 2 * N] + "以上です。", index)
    assert not find_matches("今天我们复习历史。" + letters[3:3 + 2 * N - 1] + "明天继续学习地理。", index)
    assert not find_matches("根据《中华人民共和国民法典》的规定，本合同自双方签字盖章之日起生效，任何一方不得擅自变更。", index)
    # mixed with English words: a word counts whole, a letter half
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(json.dumps({"question": "The 中华人民共和国 constitution was adopted in the year 0 by the national "
                                             "people congress of the country"}, ensure_ascii=False) + "\n", encoding="utf-8")
    index = build_index(parse_eval_sets([{"name": "mixed", "path": str(mixed)}]), N)
    assert find_matches("Notes: the 中华人民共和国 constitution was adopted in the year 1982 by the national people", index)


def test_planted_items_are_caught_and_near_misses_are_not(eval_sets, docs):
    frank, frank_path = eval_sets["frank"]
    sets = parse_eval_sets([{"name": "frank", "path": frank_path, "fields": ["question", "choices"]},
                            {"name": "alice_text", "path": eval_sets["alice_text"]}])
    index = build_index(sets, N)
    assert index.items == (20, 3) and index.short_items == (0, 0)
    assert index.false_positive_rate() < 1e-15 and index.nbytes == 10 * len(index.hashes)
    clean = [d for d in docs if not find_matches(d, index)]
    assert len(clean) == len(docs), "real prose of another book shares no 13-gram with the items"

    alice_item = eval_sets["alice"][0][1]["question"]
    planted = {
        "whole": frank[0]["question"],
        "case_and_punctuation": _shout(frank[1]["question"]),
        "split_over_lines": _split_lines(frank[2]["question"]),
        "a_choice": frank[3]["choices"][1],
        "thirteen_words": " ".join(frank[4]["question"].split()[10:10 + N]),
        "choice_split_over_lines": _split_lines(frank[5]["choices"][0], every=3),
        "text_file_item": _shout(alice_item),
    }
    for i, (kind, insert) in enumerate(planted.items()):
        matches = find_matches(_plant(clean[i], insert), index)
        assert matches, f"{kind} not caught"
        expected_set = "alice_text" if kind == "text_file_item" else "frank"
        assert matches[0].set_name == expected_set, kind
        assert matches[0].ngram.split() == [w.decode() for w in normalize_words(insert)][
            :N] or matches[0].ngram in " ".join(w.decode() for w in normalize_words(insert)), kind

    def words(text):  # words as normalisation counts them ("enemy's" is two)
        return [w.decode() for w in normalize_words(text)]

    near = {
        "twelve_words": " ".join(words(frank[6]["question"])[5:5 + N - 1]),
        "twelve_words_shouted": _shout(" ".join(words(frank[7]["question"])[0:N - 1])),
        "twelve_words_of_a_choice": " ".join(words(frank[8]["choices"][0])[:N - 1]),
        # two 12-word runs of one item that are not contiguous in it
        "two_separate_runs": " ".join(words(frank[9]["question"])[0:12]) + " however "
                             + " ".join(words(frank[9]["question"])[13:25]),
    }
    for i, (kind, insert) in enumerate(near.items()):
        doc = _plant(clean[20 + i], insert)
        assert not find_matches(doc, index), f"near miss {kind} was flagged"
        assert find_matches(doc, build_index(sets, N - 1)), f"{kind}: caught with ngram {N - 1}"


def test_a_long_document_is_read_in_pieces_with_the_same_windows_and_matches(shared_data, eval_sets, docs,
                                                                            monkeypatch):
    """A long document is split into words a piece at a time (its words as Python objects took ~11 bytes of
    memory per byte of text, 435 MB over a 40 MB document): the windows, matches and removed lines are those of
    the whole text, in every script of the language-ID sentences, however small the pieces and window blocks."""
    from filters import decontam

    sentences = sorted((shared_data / "langid" / "lingua_testdata" / "sentences").glob("*.txt"))
    assert len(sentences) > 50
    texts = [path.read_text(encoding="utf-8")[:6000] for path in sentences]
    texts += ["\n".join(texts), "x" * 3000 + " a b", "", " \n "]

    def whole(text):
        words, weights = decontam.weighted_words(text)
        return words, decontam.ngram_windows(decontam.word_hashes(words), weights, N)

    expected = [whole(text) for text in texts]
    frank, frank_path = eval_sets["frank"]
    index = build_index(parse_eval_sets([{"name": "frank", "path": frank_path}]), N)
    planted = docs[0] + "\n" + _split_lines(frank[0]["question"], 5) + "\n" + docs[1]
    before = (find_matches(planted, index, first_only=False), remove_matched_lines(planted, index))
    monkeypatch.setattr(decontam, "_WINDOW_BLOCK", 7)
    for size in (1, 50, 997):
        monkeypatch.setattr(decontam, "PIECE_CHARS", size)
        for text, (words, (hashes, ends)) in zip(texts, expected):
            got = decontam.document_windows(text, N)
            assert np.array_equal(got.hashes, hashes) and np.array_equal(got.ends, ends), (size, text[:30])
            for j in range(0, len(hashes), max(1, len(hashes) // 5)):
                assert got.words_between(j, int(ends[j])) == words[j:ends[j]]
        assert len(list(decontam.text_pieces(texts[-4], size))) > 1
        assert (find_matches(planted, index, first_only=False), remove_matched_lines(planted, index)) == before
    assert len(before[0]) == 40 - N + 1


def test_default_fields_take_what_a_record_has(eval_sets, docs, tmp_path):
    frank, _ = eval_sets["frank"]
    passages = _write_jsonl(tmp_path / "passages.jsonl", [{"text": frank[0]["question"], "n": 1}])
    index = build_index(parse_eval_sets([{"name": "passages", "path": passages}]), N)
    assert index.items == (1,) and find_matches(_plant(docs[0], frank[0]["question"]), index)


def test_drop_lines_removes_exactly_the_lines_a_match_touches(eval_sets, docs):
    frank, frank_path = eval_sets["frank"]
    index = build_index(parse_eval_sets([{"name": "frank", "path": frank_path}]), N)
    head, tail = _split_lines(docs[0], 9), _split_lines(docs[1], 9)
    planted = _split_lines(frank[0]["question"], 5)  # 40 words on 8 lines
    text = head + "\n" + planted + "\n" + tail
    new_text, removed, matches = remove_matched_lines(text, index)
    assert removed == {"frank": len(planted.split("\n"))} and new_text == head + "\n" + tail
    assert {m.set_name for m in matches} == {"frank"} and len(matches) == 40 - N + 1
    assert remove_matched_lines(docs[2], index) == (docs[2], {}, [])


def test_mark_and_drop_lines_keep_the_document(eval_sets, docs):
    from pipelines.transforms.decontaminate import Decontaminate, _DecontaminateFn
    from schemas import METADATA, SCORES, TEXT

    frank, frank_path = eval_sets["frank"]
    sets = [{"name": "frank", "path": frank_path}]
    for action in ("mark", "drop_lines", "drop"):
        fn = _DecontaminateFn(Decontaminate(sets=sets, action=action).index, action)
        fn.setup()
        text = docs[3] + "\n" + frank[0]["question"] + "\n" + docs[4]
        out = list(fn.process({"id": "d", TEXT: text, SCORES: {}, METADATA: None}))
        assert len(out) == 1
        if action == "drop":
            row = out[0].value
            assert out[0].tag == "rejected" and row["reason"] == "contaminated" and row["stage"] == "decontaminate"
            assert row["detail"]["set"] == "frank" and len(row["detail"]["ngram"].split()) == N
            continue
        doc = out[0]
        assert doc[METADATA]["contaminated_set"] == "frank"
        if action == "mark":
            assert doc[TEXT] == text and doc[SCORES]["contaminated"] == 1.0
            assert len(doc[METADATA]["contaminated_ngram"].split()) == N
        else:
            assert doc[TEXT] == docs[3] + "\n" + docs[4] and doc[METADATA]["contaminated_lines"] == "1"


def test_drop_lines_rejects_a_document_left_with_punctuation_only(eval_sets):
    """The README: the document stays "unless no word is left (then it is rejected)". Lines of dashes are no
    words, but they are not whitespace: the document was kept as "----\n****"."""
    from pipelines.transforms.decontaminate import Decontaminate, _DecontaminateFn
    from schemas import METADATA, SCORES, TEXT

    frank, frank_path = eval_sets["frank"]
    fn = _DecontaminateFn(Decontaminate(sets=[{"name": "frank", "path": frank_path}], action="drop_lines").index,
                          "drop_lines")
    fn.setup()
    text = "----\n" + frank[0]["question"] + "\n****"
    [out] = list(fn.process({"id": "d", TEXT: text, SCORES: {}, METADATA: None}))
    assert out.tag == "rejected" and out.value["reason"] == "contaminated", out


def test_an_evaluation_set_with_a_byte_order_mark_is_read(tmp_path):
    question = "what is the capital of the land of the long white cloud by the sea today"
    path = tmp_path / "bom.jsonl"  # refused before: "line 1 is not JSON: Unexpected UTF-8 BOM"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"question": question}).encode() + b"\n")
    index = build_index(parse_eval_sets([{"name": "bom", "path": str(path)}]), N)
    assert [m.set_name for m in find_matches("so " + question + " and more", index, first_only=True)] == ["bom"]


def test_bad_options_fail_before_the_job(eval_sets, tmp_path):
    _, frank_path = eval_sets["frank"]
    cases = {
        "sets[0].path": {"sets": [{"name": "a", "path": str(tmp_path / "missing.jsonl")}]},
        "found in no record": {"sets": [{"name": "a", "path": frank_path, "fields": ["question", "gold"]}]},
        "repeats an earlier set": {"sets": [{"name": "a", "path": frank_path}, {"name": "a", "path": frank_path}]},
        "'action'": {"sets": [{"name": "a", "path": frank_path}], "action": "delete"},
        "'ngram'": {"sets": [{"name": "a", "path": frank_path}], "ngram": "13"},
        "no item of 60 words": {"sets": [{"name": "a", "path": frank_path, "fields": ["question"]}], "ngram": 60},
        "sets[0].split": {"sets": [{"name": "a", "path": frank_path, "split": "test"}]},
    }
    # one set of two that gives no n-gram checked nothing and was accepted: refused, naming it
    short = tmp_path / "short.jsonl"
    short.write_text('{"question": "too short to hold a thirteen word run"}\n')
    cases["'short' holds no item of 13 words"] = {"sets": [{"name": "frank", "path": frank_path},
                                                           {"name": "short", "path": str(short)}]}
    cut = tmp_path / "cut.jsonl.gz"  # a traceback (EOFError) before
    words = " ".join(f"w{i * 7919 % 100003}" for i in range(4000)).encode()
    cut.write_bytes(gzip.compress(b'{"question": "' + words + b'"}\n')[:300])
    cases[f"{cut} cannot be read (EOFError"] = {"sets": [{"name": "cut", "path": str(cut)}]}
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes('{"question": "caf\u00e9"}\n'.encode("latin-1"))
    cases[f"{latin} is not UTF-8"] = {"sets": [{"name": "latin", "path": str(latin)}]}
    fifo = tmp_path / "fifo.jsonl"  # hung the recipe check
    os.mkfifo(fifo)
    cases["fifo.jsonl is neither a regular file nor a directory"] = {"sets": [{"name": "f", "path": str(fifo)}]}
    for needle, opts in cases.items():
        with pytest.raises(RecipeError, match=re.escape(needle)):
            parse_recipe({"decontaminate": opts})


def test_invisible_characters_and_full_width_forms_do_not_hide_an_item(eval_sets):
    """Text inputs (JSONL, Parquet, WET) can carry soft hyphens inside words, zero-width spaces between them and
    full-width letters: each hid a planted item before (format characters were kept, NFD leaves full-width
    forms as they are)."""
    frank, frank_path = eval_sets["frank"]
    index = build_index(parse_eval_sets([{"name": "frank", "path": frank_path}]), N)
    question = frank[0]["question"]
    words = question.split()
    full_width = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in question)
    for kind, text in {"soft hyphens": " ".join(w[:2] + "\u00ad" + w[2:] if len(w) > 3 else w for w in words),
                       "zero-width spaces": "\u200b".join(words),
                       "zero-width joiners": " ".join(w[:1] + "\u200d" + w[1:] for w in words),
                       "full-width": full_width}.items():
        assert find_matches("so " + text + " and more", index), kind
    assert normalize_words("ﬁne ＡＢＣ ａ\u00adb") == [b"fine", b"abc", b"ab"]


def test_a_set_directory_reads_record_and_text_files_only(eval_sets, tmp_path):
    """A cloned benchmark repository: its LICENSE, README and scripts are not items (an MIT licence read as
    one flagged every MIT-licensed code document); a FIFO and a link to /dev/zero in it are not read."""
    frank, frank_path = eval_sets["frank"]
    repo = tmp_path / "bench"
    (repo / "data").mkdir(parents=True)
    (repo / "data" / "test.jsonl").write_text(open(frank_path).read())
    mit = ("Permission is hereby granted, free of charge, to any person obtaining a copy of this software and "
           "associated documentation files (the Software), to deal in the Software without restriction")
    (repo / "LICENSE").write_text(mit)
    (repo / "README.md").write_text(mit)
    (repo / "extra.txt").write_text(frank[0]["question"])
    os.mkfifo(repo / "pipe.txt")
    os.symlink("/dev/zero", repo / "zero.txt")
    index = build_index(parse_eval_sets([{"name": "bench", "path": str(repo)}]), N)
    assert index.items == (21,)  # 20 records and extra.txt
    assert not find_matches("# mit code\n" + mit + "\nimport os", index)
    assert find_matches("so " + frank[0]["question"], index)


def test_a_zstd_evaluation_set_is_read_and_a_cut_one_is_named(eval_sets, tmp_path):
    import zstandard

    frank, frank_path = eval_sets["frank"]
    data = open(frank_path, "rb").read()
    whole, cut = tmp_path / "set.jsonl.zst", tmp_path / "cut.jsonl.zst"
    whole.write_bytes(zstandard.ZstdCompressor().compress(data))
    cut.write_bytes(whole.read_bytes()[:len(whole.read_bytes()) // 2])
    index = build_index(parse_eval_sets([{"name": "z", "path": str(whole)}]), N)
    assert index.items == (20,) and find_matches("so " + frank[0]["question"], index)
    with pytest.raises(ValueError, match=re.escape(f"{cut} cannot be read")):
        build_index(parse_eval_sets([{"name": "z", "path": str(cut)}]), N)


def test_a_parquet_binary_text_column_is_read_as_utf8(eval_sets, tmp_path):
    import pyarrow as pa

    frank, _ = eval_sets["frank"]
    path = tmp_path / "bin.parquet"
    pq.write_table(pa.table({"question": pa.array([frank[0]["question"].encode()], type=pa.binary())}), path)
    index = build_index(parse_eval_sets([{"name": "bin", "path": str(path)}]), N)
    assert find_matches("so " + frank[0]["question"], index)


def test_curate_rejects_contaminated_documents_and_counts_them_per_set(eval_sets, docs, tmp_path):
    from pipelines.jobs.curate import run_curate

    frank, frank_path = eval_sets["frank"]
    alice, alice_path = eval_sets["alice"]
    plants = {2: ("frank", frank[0]["question"]), 5: ("frank", _shout(frank[1]["question"])),
              9: ("frank", _split_lines(frank[2]["choices"][0], 3)), 14: ("alice", alice[0]["question"]),
              17: ("alice", _shout(alice[1]["choices"][2])),
              21: (None, " ".join(frank[3]["question"].split()[:N - 1]))}  # a near miss: kept
    rows = []
    for i, doc in enumerate(docs[:30]):
        text = _plant(doc, plants[i][1]) if i in plants else doc
        rows.append({"id": f"pp-{i:03d}", "text": text, "url": f"https://example.org/pp/{i}"})
    inp = _write_jsonl(tmp_path / "docs.jsonl", rows)
    recipe = parse_recipe({"decontaminate": {
        "sets": [{"name": "frank", "path": frank_path, "fields": ["question", "choices", "answer"]},
                 {"name": "alice", "path": alice_path, "fields": ["question", "choices"]}],
        "ngram": N, "action": "drop"}})
    report = run_curate([inp], str(tmp_path / "out"), recipe)

    stage = report.stage("decontaminate")
    assert stage.balanced and stage.errors == 0
    assert (stage.in_, stage.kept, stage.dropped) == (30, 25, {"contaminated": 5})
    on_disk = json.loads((tmp_path / "out" / "report.json").read_text())
    entry = next(s for s in on_disk["stages"] if s["name"] == "decontaminate")
    assert entry["contaminated_by_set"] == {"frank": 3, "alice": 2}
    assert entry["in"] == entry["kept"] + sum(entry["dropped"].values()) + entry["errors"]

    rejected = [r for f in sorted(glob.glob(str(tmp_path / "out" / "rejected" / "*.parquet")))
                for r in pq.read_table(f).to_pylist()]
    expected = {f"pp-{i:03d}": s for i, (s, _) in plants.items() if s}
    assert {r["id"]: dict(r["detail"])["set"] for r in rejected} == expected
    for r in rejected:
        assert (r["stage"], r["reason"]) == ("decontaminate", "contaminated")
        ngram = dict(r["detail"])["ngram"]
        planted = " ".join(w.decode() for w in normalize_words(plants[int(r["id"][3:])][1]))
        assert len(ngram.split()) == N and ngram in planted
    kept = [r for f in glob.glob(str(tmp_path / "out" / "documents" / "*.parquet"))
            for r in pq.read_table(f).to_pylist()]
    assert len(kept) == 25 and "pp-021" in {r["id"] for r in kept}


def test_the_word_cache_stops_at_its_cap(monkeypatch):
    """One document of more distinct words than the cache holds filled it several times over (6.6M entries for
    a cap of 1M, ~1 GB held after the document); the hashes are the same cached or not."""
    import filters.decontam as dc

    monkeypatch.setattr(dc, "_WORD_CACHE", {})
    monkeypatch.setattr(dc, "_WORD_CACHE_MAX", 1000)
    words = [f"w{i}".encode() for i in range(5000)]
    first = dc.word_hashes(words)
    assert len(dc._WORD_CACHE) == 1000
    assert np.array_equal(first, dc.word_hashes(words))  # cached and uncached words hash alike
    assert np.array_equal(first, np.array([dc._word_hash(w) for w in words], dtype=np.uint64))


def test_drop_lines_splits_at_every_line_break(tmp_path):
    """Text with \\r line ends (or U+2028) was one line for drop_lines: one match removed the whole document."""
    question = "the quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat all day long"
    path = tmp_path / "e.jsonl"
    path.write_text(json.dumps({"question": question}) + "\n")
    index = build_index(parse_eval_sets([{"name": "e", "path": str(path)}]), N)
    for sep in ("\n", "\r\n", "\r", "\u2028"):
        doc = sep.join(["first clean line here", question, "last clean line here"])
        assert remove_matched_lines(doc, index)[:2] == (f"first clean line here{sep}last clean line here", {"e": 1})
        assert remove_matched_lines(sep.join(["first", question]), index)[0] == "first"  # no break added or kept
        assert remove_matched_lines(sep.join(["first", question]) + sep, index)[0] == "first" + sep
