"""Near-duplicate quality of `DedupMinhash` (the Beam composite, FnApiRunner) against datasketch's
`MinHashLSH` on the same documents and parameters, in one run. MinHash outcomes depend on the permutation draw
(the `seed` of the permutations, and the shingle hash: Winnow's words64 vs datasketch's SHA-1 give two
independent draws), so every figure is taken over several permutation seeds, not one.

1. Clough & Stevenson short answers (../shared/data/neardup): 5 source texts + 95 answers. Answers are short
   excerpts (Jaccard 0.1-0.5 against the full source), so "clustered with its source" needs a sub-threshold
   configuration, derived from the exact Jaccard of word 5-gram sets (FineWeb's and the default recipe's
   shingling), which this benchmark prints: the cut answers that share any 5-gram with their source have
   Jaccard >= 0.108 to it (and >= 0.178 to their nearest document), the non answers <= 0.012 to their source
   and <= 0.019 to any document outside their own small groups of independent answers. With 112 permutations
   the lowest two-row banding (56 x 2, LSH threshold (1/56)^(1/2) = 0.13) finds a pair of Jaccard 0.108 with
   probability 0.48 only, so cut answers come and go with the permutation seed (16-18 of 19 over 40 seeds,
   pure functions); 256 permutations as 128 x 2 (threshold 0.088) find it with probability 0.78, their
   nearest document with 0.98, and a 0.019 pair with 0.045 (18 of 19 on all 40 seeds, non 0-1).
   `representative: longest` (the source is kept, answers point at it); no Jaccard verification (it would
   undo the low threshold). We report, per category, how many answers land in
   their source's cluster, for Winnow (permutation seed 1, then min / median over seeds 1-5), datasketch
   (`MinHashLSH(params=(128, 2))`, SHA-1, union-find) on the same seeds, and the exact ceiling: single
   linkage over exact Jaccard >= 0.088 (what a noiseless LSH at that threshold would do). Cut answers the
   ceiling misses are listed: g2pE_taskc is copied from Wikipedia's "Information retrieval" article, not from
   the vector-space-model source of task c: it shares no word 3-, 4- or 5-gram with it (its highest Jaccard
   to any document is 0.010 at 3-grams, below the non answers' 0.03 to their sources), so 18 of 19 is the
   most a Jaccard- or containment-based method can place while non answers stay out.
2. Perturbed real prose: 300 passages of ~250 words from the English Gutenberg books, each with two perturbed
   copies (boilerplate lines added, sentences dropped / inserted from another passage / reordered, words
   changed; random strengths). Ground truth: every pair whose exact Jaccard of word 5-gram sets is >= 0.75,
   found through an inverted index of shingles (no pair with a shared shingle is skipped). A method's
   predicted pairs are all pairs in the same cluster (datasketch: union-find over `MinHashLSH.query`
   candidates, as one dedups with it). Threshold 0.75 -> datasketch's optimiser picks 11 bands x 10 rows of
   112 permutations for both; the default recipe's 14 x 8 (FineWeb's) is shown too, with datasketch given
   `params=(14, 8)`. datasketch hashes with SHA-1 (its default), Winnow with words64 (its default); Winnow
   is also shown with exact Jaccard verification at 0.75, and, as a control, with SHA-1 (`hashfunc: sha1`,
   one permutation seed): the same signatures as datasketch, so the composite must give exactly datasketch's
   clusters. At 11 x 10, SHA-1 + verification runs on every seed too: datasketch's own parameters, hash
   included, so what verification changes is all that differs. A run is one perturbation seed (0, 1, 2) and
   one permutation seed (1-5 for 11 x 10, 1-3 for 14 x 8); we give min / median / mean over runs, and the
   median over runs of Winnow's precision and recall divided by datasketch's on the same run.
3. Is words64 a worse hash than SHA-1? The composite equals bands + buckets + union-find over the signatures
   (the control above), so the pure functions are swept over 20 permutation seeds x the 3 perturbation seeds
   for both hashes: precision and recall, their paired difference, and the quality of the Jaccard estimates of
   the passage / copy pairs (mean squared z-score, 1.0 when the 112 minima behave as independent draws)."""
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

from benchmarks.harness import union_find

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
THRESHOLD = 0.75
CLOUGH = SHARED / "neardup" / "clough_stevenson_short_answers"
# 5-grams as FineWeb and the default recipe; 3-grams let independent answers chain in (see the docstring).
CLOUGH_NGRAM, CLOUGH_PERM, CLOUGH_BANDS, CLOUGH_ROWS = 5, 256, 128, 2
PERM_SEEDS = (1, 2, 3, 4, 5)
PERTURB_SEEDS = (0, 1, 2)
CATEGORIES = ("cut", "light", "heavy", "non")


def _read_any(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252")


def _run_dedup(docs, variants):
    """{variant: {id: cluster id}} from the real Beam composite, every variant a branch of one pipeline."""
    import apache_beam as beam

    from pipelines.transforms.dedup import DedupMinhash
    from pipelines.runtime.options import make_pipeline
    from pipelines.transforms.counters import counters_by_stage
    from pipelines.transforms.stages import REJECTED
    from schemas import DEDUP_CLUSTER_ID, DUPLICATE_OF, ID

    with tempfile.TemporaryDirectory() as tmp:
        p = make_pipeline()
        pc = p | beam.Create(docs)
        names = list(variants)
        for i, name in enumerate(names):
            out = pc | f"Dedup{i}" >> DedupMinhash(**variants[name])
            (out["kept"] | f"K{i}" >> beam.Map(lambda d, i=i: json.dumps([i, d[ID], d[DEDUP_CLUSTER_ID]]))
             | f"WK{i}" >> beam.io.WriteToText(os.path.join(tmp, f"kept{i}")))
            (out[REJECTED] | f"R{i}" >> beam.Map(lambda d, i=i: json.dumps([i, d[ID], d[DUPLICATE_OF]]))
             | f"WR{i}" >> beam.io.WriteToText(os.path.join(tmp, f"rej{i}")))
        result = p.run()
        result.wait_until_finish()
        unconverged = counters_by_stage(result).get("dedup_minhash", {}).get("cc_unconverged", 0)
        if unconverged:
            raise RuntimeError(f"connected components did not converge for {unconverged} nodes: raise rounds")
        clusters = {name: {} for name in names}
        for f in glob.glob(os.path.join(tmp, "*")):
            for line in open(f):
                i, doc_id, cluster = json.loads(line)
                clusters[names[i]][doc_id] = cluster
    return clusters


def _datasketch_labels(texts, ngram, num_perm, seed, threshold=None, params=None):
    """Cluster labels from datasketch: SHA-1 MinHash (affine64), MinHashLSH, union-find over query candidates."""
    from datasketch import MinHash, MinHashLSH

    from filters.minhash import shingles

    lsh = MinHashLSH(threshold=threshold or 0.9, num_perm=num_perm, params=params)
    sigs = MinHash.bulk([[s.encode("utf-8") for s in shingles(t, ngram)] for t in texts], num_perm=num_perm,
                        seed=seed, scheme="affine64")
    for i, m in enumerate(sigs):
        lsh.insert(str(i), m)
    pairs = [(i, int(j)) for i, m in enumerate(sigs) for j in lsh.query(m)]
    return union_find(len(texts), pairs), (lsh.b, lsh.r)


# ---------------------------------------------------------------------------------------------- Clough


def _clough() -> list:
    from filters.minhash import jaccard, shingles
    from schemas import empty_document

    rows = list(csv.DictReader(open(CLOUGH / "file_information.csv", newline="")))
    names = [f"orig_{t}" for t in "abcde"] + [r["File"] for r in rows]
    texts = [_read_any(CLOUGH / "texts" / f"orig_task{t}.txt") for t in "abcde"]
    texts += [_read_any(CLOUGH / "texts" / r["File"]) for r in rows]
    index = {name: i for i, name in enumerate(names)}
    sets = [set(shingles(t, CLOUGH_NGRAM)) for t in texts]
    jac = {}
    for i, j in itertools.combinations(range(len(texts)), 2):
        jac[i, j] = jac[j, i] = jaccard(sets[i], sets[j])
    lsh_threshold = (1 / CLOUGH_BANDS) ** (1 / CLOUGH_ROWS)
    ceiling = union_find(len(texts), [pair for pair, v in jac.items() if v >= lsh_threshold])

    def placed(labels):
        return {cat: sum(labels[index[r["File"]]] == labels[index["orig_" + r["Task"]]]
                         for r in rows if r["Category"] == cat) for cat in CATEGORIES}

    docs = [empty_document(name, "text", t) for name, t in zip(names, texts)]
    options = dict(num_perm=CLOUGH_PERM, bands=CLOUGH_BANDS, rows=CLOUGH_ROWS, ngram=CLOUGH_NGRAM,
                   representative="longest", rounds=4)
    winnow = _run_dedup(docs, {seed: dict(options, seed=seed) for seed in PERM_SEEDS})
    w = [placed([winnow[seed][name] for name in names]) for seed in PERM_SEEDS]
    d = [placed(_datasketch_labels(texts, CLOUGH_NGRAM, CLOUGH_PERM, seed, params=(CLOUGH_BANDS, CLOUGH_ROWS))[0])
         for seed in PERM_SEEDS]
    exact = placed(ceiling)

    def span(results, cat):
        vals = [r[cat] for r in results]
        return f"{min(vals)} / {statistics.median(vals):g}"

    lines = [f"Clough & Stevenson ({CLOUGH_BANDS} x {CLOUGH_ROWS} bands of {CLOUGH_PERM} permutations, word "
             f"{CLOUGH_NGRAM}-grams, LSH threshold {lsh_threshold:.3f}, representative longest); answers in their "
             "source's cluster:", "",
             "| category | answers | exact Jaccard to source: min / median / max | exact single linkage >= "
             f"{lsh_threshold:.3f} (ceiling) | winnow, seed 1 | winnow min / median (seeds {PERM_SEEDS[0]}-{PERM_SEEDS[-1]}) "
             "| datasketch, seed 1 | datasketch min / median |", "|---|---|---|---|---|---|---|---|"]
    for cat in CATEGORIES:
        sel = [r for r in rows if r["Category"] == cat]
        js = sorted(jac[index[r["File"]], index["orig_" + r["Task"]]] for r in sel)
        lines.append(f"| {cat} | {len(sel)} | {js[0]:.3f} / {statistics.median(js):.3f} / {js[-1]:.3f} | "
                     f"{exact[cat]} | {w[0][cat]} | {span(w, cat)} | {d[0][cat]} | {span(d, cat)} |")
    lost = []
    for r in rows:
        i, src = index[r["File"]], index["orig_" + r["Task"]]
        if r["Category"] == "cut" and ceiling[i] != ceiling[src]:
            best = max(jac[i, j] for j in range(len(texts)) if j != i)
            lost.append(f"{r['File']} ({len(sets[i] & sets[src])} {CLOUGH_NGRAM}-grams shared with "
                        f"orig_task{r['Task']}.txt, Jaccard {jac[i, src]:.3f}; highest Jaccard to any document "
                        f"{best:.3f})")
    non = [jac[index[r["File"]], index["orig_" + r["Task"]]] for r in rows if r["Category"] == "non"]
    lines += ["", f"Cut answers outside their source's cluster even in the exact ceiling: {'; '.join(lost) or 'none'}. "
              f"The highest Jaccard of a non answer to its source is {max(non):.3f}, so no Jaccard threshold "
              "places such an answer without placing non answers too."]
    return lines


# ---------------------------------------------------------------------------------------------- prose

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


DS = "datasketch MinHashLSH (SHA-1) + union-find"
W64, WSHA, WVER = "winnow DedupMinhash (words64)", "winnow DedupMinhash, hashfunc sha1", \
    "winnow DedupMinhash (words64) + verify_threshold 0.75"
WSHAVER = "winnow DedupMinhash, hashfunc sha1 + verify_threshold 0.75"
# (section label, Winnow banding options, datasketch MinHashLSH arguments, permutation seeds, Winnow methods);
# the SHA-1 control runs on one seed (it must reproduce datasketch's clusters exactly, whatever the seed).
BANDINGS = (("threshold 0.75 (datasketch's optimiser)", {"threshold": THRESHOLD}, {"threshold": THRESHOLD},
             PERM_SEEDS, {W64: PERM_SEEDS, WSHA: PERM_SEEDS[:1], WVER: PERM_SEEDS, WSHAVER: PERM_SEEDS}),
            ("default recipe, 14 x 8 (FineWeb's)", {"bands": 14, "rows": 8}, {"params": (14, 8)},
             PERM_SEEDS[:3], {W64: PERM_SEEDS[:3], WVER: PERM_SEEDS[:3]}))


def _prose(seed):
    """{banding: {method: {permutation seed: (precision, recall, predicted pairs)}, "shape": (b, r)}}, the number
    of documents, the number of true pairs."""
    from filters.minhash import shingles
    from schemas import empty_document

    rng = random.Random(seed)
    base = _passages()
    texts = []
    for i, t in enumerate(base):
        texts.append(t)
        for _ in range(2):
            texts.append(_perturb(t, base[(i + 7) % len(base)], rng))
    truth = _truth([set(shingles(t, 5)) for t in texts])
    docs = [empty_document(f"d{i:05d}", "text", t) for i, t in enumerate(texts)]
    variants = {}
    for label, banding, _, _, methods in BANDINGS:
        for method, seeds in methods.items():
            for ps in seeds:
                options = dict(banding, num_perm=112, ngram=5, seed=ps, rounds=4, verify_threshold=None)
                if method in (WSHA, WSHAVER):
                    options["hashfunc"] = "sha1"
                if method in (WVER, WSHAVER):
                    options["verify_threshold"] = THRESHOLD
                variants[label, method, ps] = options
    clusters = _run_dedup(docs, variants)

    def score(labels):
        pred = _cluster_pairs(labels)
        tp = len(pred & truth)
        return tp / len(pred) if pred else 1.0, tp / len(truth) if truth else 1.0, pred

    results = {}
    for label, _, ds_args, seeds, methods in BANDINGS:
        per = results[label] = {DS: {}}
        for ps in seeds:
            labels, per["shape"] = _datasketch_labels(texts, 5, 112, ps, **ds_args)
            per[DS][ps] = score(labels)
        for method, method_seeds in methods.items():
            per[method] = {ps: score([clusters[label, method, ps][d["id"]] for d in docs]) for ps in method_seeds}
    results["sweep"] = _signature_sweep(texts, truth)
    return results, len(texts), len(truth)


SWEEP_SEEDS = range(1, 21)


def _signature_sweep(texts, truth):
    """words64 against SHA-1 signatures over many permutation seeds with the pure functions (no Beam): band
    buckets and union-find, as datasketch dedups. Per hash: [(precision, recall, mean squared z of the Jaccard
    estimates of the passage/copy pairs)]; z = (estimate - exact) / sqrt(J (1 - J) / num_perm), 1.0 if
    the permutation minima behave as independent draws."""
    import numpy as np

    from filters.minhash import MinHashParams, minhash_signatures, shingles

    sets = [set(shingles(t, 5)) for t in texts]
    pairs = [(a, b) for a, b in itertools.combinations(range(len(texts)), 2) if b - a <= 2 and a // 3 == b // 3]
    exact = np.array([len(sets[a] & sets[b]) / len(sets[a] | sets[b]) for a, b in pairs])
    mid = (exact > 0.05) & (exact < 0.95)
    out = {}
    for hashfunc in ("words64", "sha1"):
        out[hashfunc] = []
        for seed in SWEEP_SEEDS:
            params = MinHashParams.for_threshold(THRESHOLD, num_perm=112, seed=seed, hashfunc=hashfunc)
            sigs = minhash_signatures(texts, params)
            buckets = defaultdict(list)
            for i, sig in enumerate(sigs):
                for band in range(params.bands):
                    buckets[band, sig[band * params.rows:(band + 1) * params.rows].tobytes()].append(i)
            labels = union_find(len(texts), [(m[0], x) for m in buckets.values() for x in m[1:]])
            pred = _cluster_pairs(labels)
            tp = len(pred & truth)
            est = np.array([(sigs[a] == sigs[b]).mean() for a, b in pairs])
            z2 = ((est - exact)[mid] ** 2 / (exact[mid] * (1 - exact[mid]) / params.num_perm)).mean()
            out[hashfunc].append((tp / len(pred), tp / len(truth), float(z2)))
    return out


def _f(values):
    return f"{min(values):.3f} / {statistics.median(values):.3f} / {statistics.mean(values):.3f}"


def run() -> str:
    lines = _clough()
    runs = [_prose(seed) for seed in PERTURB_SEEDS]
    lines += ["", f"Perturbed prose: {runs[0][1]} documents per perturbation seed, "
              f"{' / '.join(str(r[2]) for r in runs)} true pairs (Jaccard >= {THRESHOLD}) for perturbation seeds "
              f"{', '.join(map(str, PERTURB_SEEDS))}; a run is one perturbation seed and one permutation seed."]
    for label, _, _, seeds, methods in BANDINGS:
        b, r = runs[0][0][label]["shape"]
        lines += ["", f"{label}: {b} bands x {r} rows of 112 permutations; permutation seeds "
                  f"{', '.join(map(str, seeds))}.", "",
                  "| method | runs | precision min / median / mean | recall min / median / mean | precision / "
                  "datasketch (median over runs) | recall / datasketch (median) | runs with precision >= "
                  "datasketch's | runs with recall >= datasketch's | runs with datasketch's exact clusters |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for method in (DS, *methods):
            pairs = [(res[label][method][ps], res[label][DS][ps]) for res, _, _ in runs for ps in res[label][method]]
            mine = [m for m, _ in pairs]
            lines.append(f"| {method} | {len(pairs)} | {_f([m[0] for m in mine])} | {_f([m[1] for m in mine])} | "
                         f"{statistics.median(m[0] / t[0] for m, t in pairs):.3f} | "
                         f"{statistics.median(m[1] / t[1] for m, t in pairs):.3f} | "
                         f"{sum(m[0] >= t[0] for m, t in pairs)} | {sum(m[1] >= t[1] for m, t in pairs)} | "
                         f"{sum(m[2] == t[2] for m, t in pairs)} |")
    n = len(PERTURB_SEEDS) * len(SWEEP_SEEDS)
    lines += ["", f"Signatures alone (pure functions: bands, buckets, union-find), threshold 0.75 banding, "
              f"permutation seeds {SWEEP_SEEDS[0]}-{SWEEP_SEEDS[-1]} x perturbation seeds: {n} runs per hash.", "",
              "| shingle hash | precision min / median / mean | recall min / median / mean | Jaccard estimates: "
              "mean z^2 (1.0 = independent minima) |", "|---|---|---|---|"]
    sweeps = {h: [x for res, _, _ in runs for x in res["sweep"][h]] for h in ("words64", "sha1")}
    for h, vals in sweeps.items():
        name = "words64 (Winnow's default)" if h == "words64" else "SHA-1 (datasketch's default)"
        lines.append(f"| {name} | {_f([v[0] for v in vals])} | {_f([v[1] for v in vals])} | "
                     f"{statistics.mean(v[2] for v in vals):.3f} |")
    diffs = {what: [a[i] - b[i] for a, b in zip(sweeps["words64"], sweeps["sha1"])]
             for i, what in ((0, "precision"), (1, "recall"))}
    lines += ["", "Paired difference words64 - SHA-1 (same documents and permutation seed), mean and standard error: "
              + "; ".join(f"{what} {statistics.mean(d):+.4f} +- {statistics.stdev(d) / len(d) ** 0.5:.4f}"
                          for what, d in diffs.items()) + "."]
    return "\n".join(lines)
