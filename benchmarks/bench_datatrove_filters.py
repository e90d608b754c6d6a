"""Quality rules: Winnow's filters vs datatrove 0.10's on the same extracted documents (parity and speed).

Documents: every HTML page of ../shared/data/warc (WARC/ARC responses) and the first 300 pages (by name) of each set
in ../shared/data/html (AEB, trafilatura eval, WCXB dev), extracted once with Winnow's own extraction (`pipelines.ingest.html`), cached under
`.bench/parity_docs.jsonl`. Both sides get the identical texts. datatrove runs in its own virtualenv
(`.bench/datatrove-venv`, `benchmarks.harness.ensure_venv`) as a subprocess. Each filter is applied on its own to
every document (not chained, so each comparison covers all documents): GopherRepetitionFilter,
GopherQualityFilter, C4QualityFilter(filter_no_terminal_punct=False) (as in FineWeb), FineWebQualityFilter, and
the chain in FineWeb's order (language en >= 0.65 -> repetition -> quality -> C4 -> FineWeb); datatrove's
LanguageFilter gets the same lid.176.ftz file Winnow uses, set into its model slot (its asset download path
imports fsspec's HTTP filesystem, which needs aiohttp, absent from the peer venv). Agreement = share
of documents where keep/drop is the same; for C4, also the share of kept documents whose rewritten text is
identical. Disagreements are listed by (ours, theirs) reason. Time is per filter over all documents, min and
median of 2 repeats, single thread.
"""
from __future__ import annotations

import collections
import gzip
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("WINNOW_SHARED_DATA", ROOT.parent / "shared" / "data"))
CACHE = ROOT / ".bench" / "parity_docs.jsonl"
REPEATS = 2
PAGES_PER_SET = 300  # the first 300 pages (by file name) of each HTML set: extraction is the slow part


def extract_documents(cache: Path = CACHE) -> list:
    """[{id, text}] of every extractable HTML page in shared/data (cached)."""
    if cache.is_file():
        return [json.loads(l) for l in cache.open(encoding="utf-8")]
    sys.path.insert(0, str(ROOT))
    from pipelines.ingest.charsets import decode_html
    from pipelines.ingest.html import extract_record, html_to_text
    from pipelines.ingest.readers import iter_raw_records
    from schemas import ID, TEXT

    docs = []
    for rec in iter_raw_records([str(p) for p in sorted((SHARED / "warc").glob("*/*")) if ".bad" not in p.name]):
        try:
            doc, reason = extract_record(rec)
        except Exception:
            continue
        if reason is None and doc[TEXT].strip():
            docs.append({"id": doc[ID], "text": doc[TEXT]})
    pages = [p for folder in sorted((SHARED / "html").glob("*/html")) for p in sorted(folder.glob("*.gz"))[:PAGES_PER_SET]]
    for path in pages:
        try:
            html, _ = decode_html(gzip.decompress(path.read_bytes()), None)
            text = html_to_text(html, None)
        except Exception:
            continue
        if text.strip():
            docs.append({"id": f"{path.parent.parent.name}/{path.name}", "text": text})
        print(len(docs), flush=True)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with cache.open("w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    return docs


# Runs inside datatrove's virtualenv: argv = docs.jsonl out.json lid_model repeats.
PEER_SCRIPT = r"""
import json, os, sys, time
docs_path, out_path, lid_model, repeats = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
from datatrove.data import Document
from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                        GopherRepetitionFilter, LanguageFilter)
docs = [json.loads(l) for l in open(docs_path, encoding="utf-8")]
def run(f, d):
    doc = Document(text=d["text"], id=d["id"])
    r = f.filter(doc)
    keep, reason = (r, None) if isinstance(r, bool) else (r[0], r[1])
    return bool(keep), reason, doc.text
filters = {"gopher_repetition": GopherRepetitionFilter(), "gopher": GopherQualityFilter(),
           "c4": C4QualityFilter(filter_no_terminal_punct=False), "fineweb": FineWebQualityFilter()}
out = {"decisions": {}, "times": {}}
for name, f in filters.items():
    times = []
    for rep in range(repeats):
        t = time.perf_counter()
        res = [run(f, d) for d in docs]
        times.append(time.perf_counter() - t)
    out["times"][name] = times
    out["decisions"][name] = [[k, r, (txt if name == "c4" else None)] for k, r, txt in res]
lang = LanguageFilter(languages=["en"], language_threshold=0.65)
# The same lid.176 file Winnow uses, loaded the way datatrove loads its download (its asset path needs network).
from fasttext.FastText import _FastText
lang.model._model = _FastText(lid_model)
chain = [lang, *filters.values()]
names = ["language", *filters]
res = []
for d in docs:
    doc = Document(text=d["text"], id=d["id"])
    for n, f in zip(names, chain):
        r = f.filter(doc)
        if r is not True:
            res.append([False, n]); break
    else:
        res.append([True, None])
out["decisions"]["chain"] = res
json.dump(out, open(out_path, "w"))
"""


def run_ours(docs: list, repeats: int):
    sys.path.insert(0, str(ROOT))
    from filters.c4 import C4QualityFilter
    from filters.fineweb import FineWebQualityFilter
    from filters.gopher import GopherQualityFilter
    from filters.quality import QualityFilter
    from filters.repetition import GopherRepetitionFilter
    from filters.language import LanguageFilter

    filters = {"gopher_repetition": GopherRepetitionFilter(), "gopher": GopherQualityFilter(),
               "c4": C4QualityFilter(filter_no_terminal_punct=False), "fineweb": FineWebQualityFilter()}
    decisions, times = {}, {}
    for name, f in filters.items():
        ts = []
        for _ in range(repeats):
            t = time.perf_counter()
            res = []
            for d in docs:
                doc = {"text": d["text"]}
                reason = f.apply(doc)
                res.append([reason is None, reason, doc["text"] if name == "c4" else None])
            ts.append(time.perf_counter() - t)
        decisions[name], times[name] = res, ts
    lang = LanguageFilter(languages=["en"], min_score=0.65)
    lang.setup()
    quality = QualityFilter(gopher_repetition={}, gopher={}, c4={"filter_no_terminal_punct": False}, fineweb={})
    chain = []
    for d in docs:
        doc = {"text": d["text"]}
        reason = lang.apply(doc) or quality.apply(doc)
        chain.append([reason is None, reason])
    decisions["chain"] = chain
    return decisions, times


def run() -> str:
    from benchmarks.harness import DATATROVE_REQUIREMENTS, ensure_venv
    from filters.models import lid_model_path

    docs = extract_documents()
    python = ensure_venv("datatrove", DATATROVE_REQUIREMENTS)
    bench = ROOT / ".bench"
    script, out = bench / "datatrove_filters_peer.py", bench / "datatrove_filters_out.json"
    script.write_text(PEER_SCRIPT)
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    subprocess.run([python, str(script), str(CACHE), str(out), str(lid_model_path()), str(REPEATS)],
                   check=True, env=env, cwd=str(bench))
    theirs = json.loads(out.read_text())
    ours, our_times = run_ours(docs, REPEATS)
    rows = ["| filter | docs | kept (ours / datatrove) | agreement | disagreements (ours -> datatrove: count) "
            "| C4 text identical | time ours s (min / median) | time datatrove s (min / median) | speed ratio (median) |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name in ("gopher_repetition", "gopher", "c4", "fineweb", "chain"):
        a, b = ours[name], theirs["decisions"][name]
        agree = sum(x[0] == y[0] for x, y in zip(a, b))
        dis = collections.Counter(f"{x[1] or 'keep'} -> {y[1] or 'keep'}" for x, y in zip(a, b) if x[0] != y[0])
        dis_s = "; ".join(f"{k}: {v}" for k, v in dis.most_common(6)) or "none"
        same_text = "-"
        if name == "c4":
            both = [(x, y) for x, y in zip(a, b) if x[0] and y[0]]
            same_text = f"{sum(x[2] == y[2] for x, y in both) / max(len(both), 1):.2%}"
        if name in our_times:
            to, tt = our_times[name], theirs["times"][name]
            t_o = f"{min(to):.2f} / {statistics.median(to):.2f}"
            t_t = f"{min(tt):.2f} / {statistics.median(tt):.2f}"
            ratio = f"{statistics.median(tt) / statistics.median(to):.2f}x faster"
        else:
            t_o = t_t = ratio = "-"
        rows.append(f"| {name} | {len(a)} | {sum(x[0] for x in a)} / {sum(y[0] for y in b)} | {agree / len(a):.2%} "
                    f"| {dis_s} | {same_text} | {t_o} | {t_t} | {ratio} |")
    return "\n".join(rows)


if __name__ == "__main__":
    if sys.argv[1:] == ["extract"]:
        print(len(extract_documents()))
    else:
        print(run())
