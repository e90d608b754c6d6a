"""Near-duplicate quality of `DedupMinhash` (the Beam composite, FnApiRunner) against datasketch's
`MinHashLSH` on the same documents and parameters, in one run.

1. Clough & Stevenson short answers (../shared/data/neardup): 5 source texts + 95 answers. Answers are short
   excerpts (Jaccard 0.1-0.5 against the full source), so "clustered with its source" needs a sub-threshold
   configuration: 56 bands x 2 rows over word 4-grams (LSH threshold ~0.13) and `representative: longest` (the
   source is kept, answers point at it); no Jaccard verification (it would undo the low threshold).
   We report how many `cut` answers land in their source's cluster and how many `non` answers do.
2. Perturbed real prose: 300 passages of ~250 words from the English Gutenberg books, each with two perturbed
   copies (boilerplate lines added, sentences dropped / inserted from another passage / reordered, words
   changed; random strengths, seed 0). Ground truth: every pair whose exact Jaccard of word 5-gram sets is
   >= 0.75, found through an inverted index of shingles (no pair with a shared shingle is skipped). A method's
   predicted pairs are all pairs in the same cluster (datasketch: union-find over `MinHashLSH.query`
   candidates, as one dedups with it). Both use threshold 0.75 -> datasketch's optimiser picks 11 bands x 10 rows
   of 112 permutations for both; datasketch hashes with SHA-1 (its default), Winnow with words64; Winnow is shown
   without and with exact Jaccard verification at 0.75. Single run (the outcome is deterministic); the min and
   median columns are over the three perturbation seeds 0, 1, 2."""
from __future__ import annotations

import csv
import glob
import itertools
import json
import os
import random
import re
import statistics
import tempfile
from collections import defaultdict
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
THRESHOLD = 0.75
CLOUGH_NGRAM = 4  # 3-grams let 4 of 38 independent answers chain in; 5-grams keep as many cut answers but fewer light ones
CLOUGH = SHARED / "neardup" / "clough_stevenson_short_answers"


def _read_any(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252")


def _run_dedup(docs, **options):
    """{id: cluster id} from the real Beam composite."""
    import apache_beam as beam

    from pipelines.dedup import DedupMinhash
    from pipelines.options import make_pipeline
    from pipelines.stages import REJECTED
    from schemas import DEDUP_CLUSTER_ID, DUPLICATE_OF, ID

    with tempfile.TemporaryDirectory() as tmp:
        p = make_pipeline()
        out = p | beam.Create(docs) | DedupMinhash(**options)
        (out["kept"] | "K" >> beam.Map(lambda d: json.dumps([d[ID], d[DEDUP_CLUSTER_ID]]))
         | "WK" >> beam.io.WriteToText(os.path.join(tmp, "kept")))
        (out[REJECTED] | "R" >> beam.Map(lambda d: json.dumps([d[ID], d[DUPLICATE_OF]]))
         | "WR" >> beam.io.WriteToText(os.path.join(tmp, "rej")))
        p.run().wait_until_finish()
        pairs = [json.loads(line) for f in glob.glob(os.path.join(tmp, "*")) for line in open(f)]
    return dict(pairs)


def _clough() -> list:
    from schemas import empty_document

    docs = [empty_document(f"orig_{t}", "text", _read_any(CLOUGH / "texts" / f"orig_task{t}.txt")) for t in "abcde"]
    rows = list(csv.DictReader(open(CLOUGH / "file_information.csv", newline="")))
    docs += [empty_document(r["File"], "text", _read_any(CLOUGH / "texts" / r["File"])) for r in rows]
    cluster = _run_dedup(docs, num_perm=112, bands=56, rows=2, ngram=CLOUGH_NGRAM, representative="longest", rounds=6)
    lines = ["Clough & Stevenson (56 x 2 bands, 4-grams, representative longest):", "",
             "| category | answers | in their source's cluster |", "|---|---|---|"]
    for cat in ("cut", "light", "heavy", "non"):
        sel = [r for r in rows if r["Category"] == cat]
        hit = sum(cluster[r["File"]] == cluster[f"orig_{r['Task']}"] for r in sel)
        lines.append(f"| {cat} | {len(sel)} | {hit} ({hit / len(sel):.0%}) |")
    return lines


_SENT = re.compile(r"(?<=[.!?])\s+")


def _passages(n=300):
    out = []
    for path in sorted((SHARED / "text" / "gutenberg").glob("pg*.txt")):
        if path.name.startswith(("pg2000__", "pg22367__")):
            continue
        words = path.read_text(encoding="utf-8", errors="replace").split()
        body = words[len(words) // 10: -len(words) // 10]  # skip the Gutenberg header and licence
        out += [" ".join(body[i:i + 250]) for i in range(0, len(body) - 250, 250 * 40)][:n // 10 + 1]
    return out[:n]


def _perturb(text, other, rng):
    sents = _SENT.split(text)
    strength = rng.random()
    ops = rng.sample(["boiler", "drop", "insert", "reorder", "words"], rng.randint(1, 3))
    if "drop" in ops:
        sents = [s for s in sents if rng.random() > 0.25 * strength] or sents
    if "insert" in ops:
        extra = _SENT.split(other)
        for _ in range(1 + int(3 * strength)):
            sents.insert(rng.randrange(len(sents) + 1), rng.choice(extra))
    if "reorder" in ops and len(sents) > 2:
        for _ in range(1 + int(3 * strength)):
            i, j = rng.randrange(len(sents)), rng.randrange(len(sents))
            sents[i], sents[j] = sents[j], sents[i]
    words = " ".join(sents).split()
    if "words" in ops:
        words = [("w" + str(rng.randrange(10 ** 6)) if rng.random() < 0.06 * strength else w) for w in words]
    text = " ".join(words)
    if "boiler" in ops:
        text = ("Home | News | Sport | Contact us | Subscribe to our newsletter today\n" + text
                + "\nCopyright 2024 Example Media. All rights reserved. Terms of use. Privacy.")
    return text


def _truth(shingle_sets):
    index = defaultdict(list)
    for i, s in enumerate(shingle_sets):
        for sh in s:
            index[sh].append(i)
    candidates = {(a, b) for ids in index.values() for a, b in itertools.combinations(sorted(set(ids)), 2)}
    true = set()
    for a, b in candidates:
        sa, sb = shingle_sets[a], shingle_sets[b]
        if len(sa & sb) / len(sa | sb) >= THRESHOLD:
            true.add((a, b))
    return true


def _cluster_pairs(labels):
    groups = defaultdict(list)
    for i, lab in enumerate(labels):
        groups[lab].append(i)
    return {(a, b) for g in groups.values() for a, b in itertools.combinations(sorted(g), 2)}


def _datasketch_labels(texts):
    from datasketch import MinHash, MinHashLSH

    from filters.minhash import shingles

    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=112)
    sigs = MinHash.bulk([[s.encode("utf-8") for s in shingles(t, 5)] for t in texts], num_perm=112, seed=1,
                        scheme="affine64")
    for i, m in enumerate(sigs):
        lsh.insert(str(i), m)
    parent = list(range(len(texts)))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, m in enumerate(sigs):
        for j in lsh.query(m):
            a, b = find(i), find(int(j))
            if a != b:
                parent[max(a, b)] = min(a, b)
    return [find(i) for i in range(len(texts))], (lsh.b, lsh.r)


def _prose(seed):
    from filters.minhash import shingles
    from schemas import empty_document

    rng = random.Random(seed)
    base = _passages()
    texts = []
    for i, t in enumerate(base):
        texts.append(t)
        for _ in range(2):
            texts.append(_perturb(t, base[(i + 7) % len(base)], rng))
    sets = [set(shingles(t, 5)) for t in texts]
    truth = _truth(sets)
    docs = [empty_document(f"d{i:05d}", "text", t) for i, t in enumerate(texts)]
    results = {}
    ds_labels, (b, r) = _datasketch_labels(texts)
    results["datasketch MinHashLSH (SHA-1) + union-find"] = _cluster_pairs(ds_labels)
    for name, extra in (("winnow DedupMinhash", {}), ("winnow DedupMinhash + verify_threshold 0.75",
                                                      {"verify_threshold": THRESHOLD})):
        cluster = _run_dedup(docs, threshold=THRESHOLD, num_perm=112, rounds=6, **extra)
        results[name] = _cluster_pairs([cluster[d["id"]] for d in docs])
    scores = {}
    for name, pred in results.items():
        tp = len(pred & truth)
        scores[name] = (tp / len(pred) if pred else 1.0, tp / len(truth) if truth else 1.0)
    return scores, len(texts), len(truth), (b, r)


def run() -> str:
    lines = _clough()
    per_seed = [_prose(seed) for seed in (0, 1, 2)]
    n_docs, n_true, (b, r) = per_seed[0][1], per_seed[0][2], per_seed[0][3]
    lines += ["", f"Perturbed prose: {n_docs} documents, {n_true} true pairs (Jaccard >= {THRESHOLD}) for seed 0; "
              f"{b} bands x {r} rows.", "",
              "| method | precision (seed 0) | recall (seed 0) | precision min / median (3 seeds) | recall min / median | precision / datasketch (median) | recall / datasketch (median) |",
              "|---|---|---|---|---|---|---|"]
    ds = "datasketch MinHashLSH (SHA-1) + union-find"
    for name in per_seed[0][0]:
        ps = [s[0][name][0] for s in per_seed]
        rs = [s[0][name][1] for s in per_seed]
        pr = [s[0][name][0] / s[0][ds][0] for s in per_seed]
        rr = [s[0][name][1] / s[0][ds][1] for s in per_seed]
        lines.append(f"| {name} | {ps[0]:.3f} | {rs[0]:.3f} | {min(ps):.3f} / {statistics.median(ps):.3f} | "
                     f"{min(rs):.3f} / {statistics.median(rs):.3f} | {statistics.median(pr):.3f} | {statistics.median(rr):.3f} |")
    return "\n".join(lines)
