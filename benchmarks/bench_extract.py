"""Stage `extract` (pipelines/ingest/html.py `extract_record`, the recipe's default ExtractConfig) against raw
`trafilatura.extract(html, url=url)` with its defaults, side by side on the same pages in the same run.
Quality: the Article Extraction Benchmark's shingle metric (word tokens, multisets of 4-token shingles,
per-document TP/FP/FN normalised to sum 1, averaged, then P/R/F1; our implementation) on
../shared/data/html/scrapinghub_aeb (181 articles) and ../shared/data/html/wcxb_dev (896 pages with a
main-content ground truth, by page type, and by halves split on a sha256 of the page id: the stage's
thresholds were chosen on half A, half B is held out); trafilatura_eval's `with`/`without` snippets give
snippet precision/recall on its 990 pages (trafilatura is tuned on that set: a regression check). Speed:
docs/s of both on the AEB pages, 3 repeats, min and median."""
from __future__ import annotations

import ast
import gzip
import hashlib
import json
import logging
import os
import re
import statistics
import time
from collections import Counter, defaultdict

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data", "html")
_WORD = re.compile(r"\w+", re.UNICODE)


def shingles(text: str, n: int = 4) -> Counter:
    words = _WORD.findall((text or "").lower())
    if len(words) < n:
        return Counter([tuple(words)]) if words else Counter()
    return Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))


def document_counts(predicted: str, truth: str):
    """(tp, fp, fn) of one document, normalised to sum 1 (an empty pair counts as all-correct)."""
    p, g = shingles(predicted), shingles(truth)
    tp = sum((p & g).values())
    fp, fn = sum(p.values()) - tp, sum(g.values()) - tp
    total = tp + fp + fn
    return (1.0, 0.0, 0.0) if total == 0 else (tp / total, fp / total, fn / total)


def precision_recall_f1(rows):
    tp, fp, fn = (sum(r[i] for r in rows) for i in range(3))
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def load_aeb():
    root = os.path.join(DATA, "scrapinghub_aeb")
    truth = json.load(open(os.path.join(root, "ground-truth.json")))
    return [(k, v["url"], gzip.decompress(open(os.path.join(root, "html", f"{k}.html.gz"), "rb").read()),
             v["articleBody"], "article") for k, v in sorted(truth.items())]


def load_wcxb():
    root = os.path.join(DATA, "wcxb_dev")
    pages = []
    for name in sorted(os.listdir(os.path.join(root, "ground-truth"))):
        d = json.load(open(os.path.join(root, "ground-truth", name)))
        gt = d["ground_truth"] if isinstance(d["ground_truth"], dict) else ast.literal_eval(d["ground_truth"])
        internal = d["_internal"] if isinstance(d["_internal"], dict) else ast.literal_eval(d["_internal"])
        html = os.path.join(root, "html", f"{d['file_id']}.html.gz")
        if "main_content" in gt and os.path.exists(html):
            pages.append((d["file_id"], d["url"], gzip.decompress(open(html, "rb").read()), gt["main_content"],
                          internal["page_type"]["primary"]))
    return pages


def load_trafilatura_eval():
    root = os.path.join(DATA, "trafilatura_eval")
    spec = json.load(open(os.path.join(root, "evaldata_local.json")))
    pages = []
    for url, item in sorted(spec.items()):
        path = os.path.join(root, item.get("path") or os.path.join("html", item["file"]))
        if os.path.exists(path):
            pages.append((url, gzip.decompress(open(path, "rb").read()), item.get("with") or [], item.get("without") or []))
    return pages


def stage_text(key, url, html: bytes) -> str:
    from pipelines.ingest.html import extract_record
    from pipelines.ingest.records import BODY, CONTENT_TYPE, HTTP_STATUS, RECORD_TYPE, WARC_DATE
    from schemas import CODE_LANGUAGE, ID, INPUT_OFFSET, INPUT_PATH, SOURCE, TEXT, URL

    raw = {ID: key, SOURCE: "web", URL: url, INPUT_PATH: None, INPUT_OFFSET: None, RECORD_TYPE: "response",
           CONTENT_TYPE: "text/html", HTTP_STATUS: 200, BODY: html, TEXT: None, CODE_LANGUAGE: None, WARC_DATE: None}
    doc, _ = extract_record(raw)
    return doc[TEXT] or ""


def raw_text(key, url, html: bytes) -> str:
    import trafilatura

    from pipelines.ingest.charsets import decode_html

    return trafilatura.extract(decode_html(html)[0], url=url) or ""


def half(page_id: str) -> str:
    """The page's half of a set, by a hash of its id: "half A" is where the stage's thresholds were chosen,
    "half B" is held out from that choice (a check that the gain is not fitted to the pages)."""
    return "half A (tuning)" if int(hashlib.sha256(page_id.encode()).hexdigest(), 16) % 2 == 0 else "half B (held out)"


def quality(pages, fn, halves: bool = False):
    rows = defaultdict(list)
    for key, url, html, truth, page_type in pages:
        counts = document_counts(fn(key, url, html), truth)
        rows[page_type].append(counts)
        if halves:
            rows[half(key)].append(counts)
    rows["all"] = [r for t, v in list(rows.items()) if not t.startswith("half") for r in v]
    return {t: precision_recall_f1(v) + (len(v),) for t, v in rows.items()}


def snippet_scores(pages, fn):
    tp = fn_ = fp = tn = 0
    for url, html, with_, without in pages:
        text = fn(url, url, html)
        for s in with_:
            tp, fn_ = (tp + 1, fn_) if s in text else (tp, fn_ + 1)
        for s in without:
            fp, tn = (fp + 1, tn) if s in text else (fp, tn + 1)
    return tp / max(1, tp + fp), tp / max(1, tp + fn_)


def run() -> str:
    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    lines = ["| set | page type | pages | stage P | stage R | stage F1 | raw P | raw R | raw F1 | F1 delta |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    aeb = load_aeb()
    for name, pages in (("scrapinghub_aeb", aeb), ("wcxb_dev", load_wcxb())):
        halves = name == "wcxb_dev"
        ours, raw = quality(pages, stage_text, halves), quality(pages, raw_text, halves)
        for t in sorted(ours, key=lambda t: (t != "all", t.startswith("half"), t)):
            o, r = ours[t], raw[t]
            lines.append(f"| {name} | {t} | {o[3]} | {o[0]:.3f} | {o[1]:.3f} | {o[2]:.3f} | {r[0]:.3f} | {r[1]:.3f} | "
                         f"{r[2]:.3f} | {o[2] - r[2]:+.3f} |")
    te = load_trafilatura_eval()
    sp, sr = snippet_scores(te, stage_text)
    rp, rr = snippet_scores(te, raw_text)
    lines += ["", "| trafilatura_eval snippets | pages | precision | recall |", "|---|---|---|---|",
              f"| stage | {len(te)} | {sp:.3f} | {sr:.3f} |", f"| raw trafilatura | {len(te)} | {rp:.3f} | {rr:.3f} |"]
    speeds = {"stage": [], "raw": []}
    for _ in range(3):
        for label, fn in (("stage", stage_text), ("raw", raw_text)):
            start = time.perf_counter()
            for key, url, html, _, _ in aeb:
                fn(key, url, html)
            speeds[label].append(len(aeb) / (time.perf_counter() - start))
    ratio = [s / r for s, r in zip(speeds["stage"], speeds["raw"])]
    lines += ["", "| speed on AEB (181 pages), 3 repeats | min docs/s | median docs/s |", "|---|---|---|",
              f"| stage | {min(speeds['stage']):.1f} | {statistics.median(speeds['stage']):.1f} |",
              f"| raw trafilatura | {min(speeds['raw']):.1f} | {statistics.median(speeds['raw']):.1f} |",
              f"| ratio stage/raw | {min(ratio):.2f} | {statistics.median(ratio):.2f} |"]
    return "\n".join(lines)
