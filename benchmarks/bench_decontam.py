"""Decontamination side by side with datatrove's n-gram decontamination (issue 19, item 2).

Documents: the English Project Gutenberg books of ../shared/data/text/gutenberg (bodies, six paragraphs per
document, line breaks kept) and the WCXB development pages' ground-truth main content (web text, one document
each). Evaluation text: held-out paragraphs of those books, never in the documents, as items {question: a
paragraph, answer: the first 20 words of another}. Planted into a deterministic 10 % of the documents (by a hash of
the document's index): an item's question whole, shouted (upper case, commas and full stops gone, quotes added),
split over lines (four words a line), its answer alone, a bare 13-word run of it, or a 12-word run (a near miss
that must not be flagged: 12 words as normalisation counts them, so "enemy's" is two). Both sides index the same
items with n = 13: ours (`filters.decontam.build_index`, fields question and answer) and datatrove's
(`NGramsDecontIndexer.compute_hashes` with `find_query_ngrams` and `find_overlap_ngrams`: the same n-grams,
question, answer and across the two; the indexer's `run` needs lighteval's task registry, which is not used here,
so the benchmark calls the method itself and writes the index file as `run` does). Then each flags every document:
ours with `filters.decontam.find_matches` (first match), datatrove with `NGramsDecontFilter.filter` (spaCy's
English word tokenizer, xxhash64), both single-process, timed over all documents REPEATS times after a warm-up
(index loading and tokenizer construction excluded); datatrove runs in its own virtualenv (`.bench/datatrove-venv`,
`benchmarks.harness.ensure_venv`). Agreement: the share of documents both flag or both keep (target >= 99 %);
speed: documents per second (target >= datatrove's), min and median of the repeats. A document that shares a
13-gram with the held-out text by itself (a refrain repeated in a tale, a sentence quoted twice) is flagged by both
and counted in its plant's row.
"""
from __future__ import annotations

import collections
import hashlib
import json
import os
import re
import statistics
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("WINNOW_SHARED_DATA", ROOT.parent / "shared" / "data"))
N = 13
REPEATS = 3
PLANT_SHARE = 0.10
HELD_OUT_ITEMS = 300
PLANT_KINDS = ("whole", "shouted", "split_over_lines", "answer_only", "thirteen_words", "near_miss_12_words")

PEER_SCRIPT = r'''
import json, sys, time
import numpy as np
from types import SimpleNamespace
from datatrove.data import Document
from datatrove.pipeline.decont.n_grams import NGramsDecontConfig, NGramsDecontFilter, NGramsDecontIndexer
from datatrove.utils.hashing import create_hash_func
from datatrove.utils.word_tokenizers import load_word_tokenizer

docs_path, items_path, index_dir, out_path, n, repeats = sys.argv[1:7]
n, repeats = int(n), int(repeats)
config = NGramsDecontConfig(n_grams=n, find_query_ngrams=True, find_overlap_ngrams=True)
indexer = SimpleNamespace(tokenizer=load_word_tokenizer("eng"), config=config,
                          hash_func=create_hash_func(config.hash_config))
items = [json.loads(l) for l in open(items_path, encoding="utf-8")]
t = time.perf_counter()
hashes = set()
for item in items:  # NGramsDecontIndexer.run's loop over documents, without lighteval's registry
    hashes.update(NGramsDecontIndexer.compute_hashes(indexer, item["answer"], item["question"]))
np.array(sorted(hashes), dtype=config.hash_config.np_descr).tofile(f"{index_dir}/eval.index.hashes")
index_seconds = time.perf_counter() - t
docs = [json.loads(l) for l in open(docs_path, encoding="utf-8")]
f = NGramsDecontFilter(index_dir, config=config)
f.filter(Document(text="warm up the tokenizer and load the index", id="warmup"))
times, flagged = [], []
for _ in range(repeats):
    t = time.perf_counter()
    flagged = []
    for d in docs:
        if f.filter(Document(text=d["text"], id=d["id"])) is not True:
            flagged.append(d["id"])
    times.append(time.perf_counter() - t)
json.dump({"flagged": flagged, "times": times, "index_seconds": index_seconds, "ngrams": len(hashes)},
          open(out_path, "w"))
'''


def _stable(key: str) -> float:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little") / 2 ** 64


def _book_paragraphs():
    root = DATA / "text" / "gutenberg"
    with open(root / "manifest.tsv", encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f][1:]
    for row in sorted(rows):
        if row[3] != "en":
            continue
        text = (root / row[0]).read_text(encoding="utf-8")
        start = text.index("***", text.index("START OF")) + 3
        body = text[start:text.index("*** END OF")]
        paras = [p.strip() for p in re.split(r"\n\s*\n", body) if p.strip()]
        yield row[2], paras


def _web_pages():
    gt = DATA / "html" / "wcxb_dev" / "ground-truth"
    for path in sorted(gt.glob("*.json")):
        text = json.loads(path.read_text(encoding="utf-8"))["ground_truth"].get("main_content") or ""
        if len(text.split()) >= 50:
            yield path.stem, text


def _shout(text: str) -> str:
    words = text.upper().replace(",", "").replace(".", "").split()
    return " ".join(f'"{w}!"' if i % 5 == 0 else w for i, w in enumerate(words))


def build_corpus():
    """(documents [{id, text, plant}], items [{question, answer}]): deterministic."""
    from filters.decontam import normalize_words
    docs, held = [], []
    for title, paras in _book_paragraphs():
        pool = []
        for i, p in enumerate(paras):
            if len(p.split()) >= 40 and _stable(f"{title}/{i}/held") < 0.03:
                held.append(" ".join(p.split()))
            else:
                pool.append(p)
        for j in range(0, len(pool), 6):
            docs.append({"id": f"book/{title}/{j // 6:05d}", "text": "\n\n".join(pool[j:j + 6])})
    for stem, text in _web_pages():
        docs.append({"id": f"web/{stem}", "text": text})
    held = held[:2 * HELD_OUT_ITEMS]
    items = [{"question": held[2 * k], "answer": " ".join(held[2 * k + 1].split()[:20])}
             for k in range(len(held) // 2)]
    for d_i, doc in enumerate(docs):
        doc["plant"] = None
        if _stable(f"plant/{doc['id']}") >= PLANT_SHARE:
            continue
        kind = PLANT_KINDS[int(_stable(f"kind/{doc['id']}") * len(PLANT_KINDS))]
        item = items[int(_stable(f"item/{doc['id']}") * len(items))]
        q = item["question"].split()
        insert = {"whole": item["question"], "shouted": _shout(item["question"]),
                  "split_over_lines": "\n".join(" ".join(q[i:i + 4]) for i in range(0, len(q), 4)),
                  "answer_only": item["answer"], "thirteen_words": " ".join(q[5:5 + N]),
                  "near_miss_12_words": " ".join(w.decode() for w in normalize_words(item["question"])[5:5 + N - 1])
                  }[kind]
        words = doc["text"].split(" ")
        mid = len(words) // 2
        norm_q = normalize_words(item["question"])
        # a near miss must not gain a 13th word from its neighbours ("the" before "the plagues of ...")
        while mid < len(words) - 1 and (normalize_words(words[mid - 1])[-1:] == norm_q[4:5]
                                        or normalize_words(words[mid])[:1] == norm_q[5 + N - 1:5 + N]):
            mid += 1
        doc["text"] = " ".join(words[:mid]) + " " + insert + " " + " ".join(words[mid:])
        doc["plant"] = kind
    return docs, items


def run_ours(docs, items, repeats):
    from filters.decontam import EvalSet, build_index, find_matches

    bench = ROOT / ".bench"
    path = bench / "decontam_items.jsonl"
    t = time.perf_counter()
    index = build_index([EvalSet(name="eval", path=str(path), fields=("question", "answer"), fields_given=True)], N)
    index_seconds = time.perf_counter() - t
    find_matches("warm up the tables", index)
    times, flagged = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        flagged = [d["id"] for d in docs if find_matches(d["text"], index)]
        times.append(time.perf_counter() - t)
    return {"flagged": flagged, "times": times, "index_seconds": index_seconds, "ngrams": len(index.hashes),
            "index_bytes": index.nbytes, "fpr": index.false_positive_rate()}


def run() -> str:
    from benchmarks.harness import DATATROVE_REQUIREMENTS, ensure_venv

    if not (DATA / "text" / "gutenberg").is_dir():
        return f"skipped: shared data not found at {DATA}"
    docs, items = build_corpus()
    bench = ROOT / ".bench"
    bench.mkdir(exist_ok=True)
    docs_path, items_path = bench / "decontam_docs.jsonl", bench / "decontam_items.jsonl"
    docs_path.write_text("".join(json.dumps({"id": d["id"], "text": d["text"]}) + "\n" for d in docs))
    items_path.write_text("".join(json.dumps(i) + "\n" for i in items))
    index_dir, out = bench / "decontam_dt_index", bench / "decontam_dt_out.json"
    index_dir.mkdir(exist_ok=True)
    for old in index_dir.iterdir():
        old.unlink()
    python = ensure_venv("datatrove", DATATROVE_REQUIREMENTS)
    subprocess.run([python, "-c", PEER_SCRIPT, str(docs_path), str(items_path), str(index_dir), str(out), str(N),
                    str(REPEATS)], check=True, env=dict(os.environ, HF_HUB_OFFLINE="1"), cwd=str(bench))
    theirs = json.loads(out.read_text())
    ours = run_ours(docs, items, REPEATS)

    mine, peer = set(ours["flagged"]), set(theirs["flagged"])
    agree = sum((d["id"] in mine) == (d["id"] in peer) for d in docs)
    megabytes = sum(len(d["text"].encode()) for d in docs) / 1e6
    by_kind = collections.defaultdict(lambda: [0, 0, 0])
    for d in docs:
        k = by_kind[d["plant"] or "none (clean)"]
        k[0] += 1
        k[1] += d["id"] in mine
        k[2] += d["id"] in peer
    disagree = [(d["id"], d["plant"], d["id"] in mine) for d in docs if (d["id"] in mine) != (d["id"] in peer)]

    def rate(times):
        return f"{len(docs) / min(times):,.0f} / {len(docs) / statistics.median(times):,.0f}"

    lines = [
        f"{len(docs):,} documents ({megabytes:.1f} MB: {sum(d['id'].startswith('book/') for d in docs):,} book "
        f"chunks, {sum(d['id'].startswith('web/') for d in docs):,} WCXB pages), {len(items)} held-out items, "
        f"{sum(1 for d in docs if d['plant'])} plants, n = {N}, {REPEATS} repeats.",
        "",
        "| | Winnow (`filters.decontam`) | datatrove (`NGramsDecontFilter`) | target |",
        "|---|---|---|---|",
        f"| documents flagged | {len(mine):,} | {len(peer):,} | |",
        f"| agreement on flagged documents | {agree / len(docs):.2%} ({len(docs) - agree} differ) | | >= 99 % |",
        f"| documents/s (max / median of repeats) | {rate(ours['times'])} | {rate(theirs['times'])} "
        f"| Winnow >= datatrove |",
        f"| seconds over all documents (min / median) | {min(ours['times']):.2f} / "
        f"{statistics.median(ours['times']):.2f} | {min(theirs['times']):.2f} / "
        f"{statistics.median(theirs['times']):.2f} | |",
        f"| speed ratio (median) | {statistics.median(theirs['times']) / statistics.median(ours['times']):.1f}x "
        f"| 1x | >= 1x |",
        f"| index: n-grams / build seconds | {ours['ngrams']:,} / {ours['index_seconds']:.2f} | "
        f"{theirs['ngrams']:,} / {theirs['index_seconds']:.2f} | |",
        f"| index size, false-positive rate per n-gram | {ours['index_bytes'] / 1e6:.2f} MB sorted uint64 + uint16 "
        f"set ids, {ours['fpr']:.1e} | Python dict of int -> task | |",
        "",
        "| planted | documents | flagged by Winnow | flagged by datatrove |",
        "|---|---|---|---|",
    ]
    for kind in PLANT_KINDS + ("none (clean)",):
        n_docs, a, b = by_kind[kind]
        lines.append(f"| {kind} | {n_docs} | {a} | {b} |")
    if disagree:
        lines += ["", "Disagreements (document, plant, flagged by): " + "; ".join(
            f"{i} ({p or 'clean'}, {'Winnow' if m else 'datatrove'})" for i, p, m in disagree[:10])]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
