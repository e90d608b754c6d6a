"""Stage `extract` (pipelines/ingest/html.py `extract_record`) with each engine (the default `cascade`, the
pre-issue-17 default `trafilatura`, `resiliparse`, `rs_trafilatura` where installable) against raw
`trafilatura.extract(html, url=url)` with its defaults, side by side on the same pages in the same run.
Quality: the Article Extraction Benchmark's shingle metric (word tokens, multisets of 4-token shingles,
per-document TP/FP/FN normalised to sum 1, averaged, then P/R/F1; our implementation) on
../shared/data/html/scrapinghub_aeb (181 articles) and ../shared/data/html/wcxb_dev (896 pages with a
main-content ground truth, by page type, and by halves split on a sha256 of the page id: the stage's
thresholds were chosen on half A, half B is held out); trafilatura_eval's `with`/`without` snippets give
snippet precision/recall on its 990 pages (trafilatura is tuned on that set: a regression check). Speed:
pages/s on one thread of the whole stage (decoding, caps, fallbacks, metadata) on a fixed sample of the three
sets, 3 repeats (1 for the slow `trafilatura` engine, which is scored on the AEB only), min and median;
quality runs in 2 worker processes (BENCH_EXTRACT_PROCESSES)."""
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


def stage_text(key, url, html: bytes, engine: str = "") -> str:
    """The extract stage's text of a page (`extract_record`, decoding and caps included) with `engine`
    (the recipe default's when empty)."""
    from pipelines.ingest.html import ExtractConfig, extract_record
    from pipelines.ingest.records import BODY, CONTENT_TYPE, HTTP_STATUS, RECORD_TYPE, WARC_DATE
    from schemas import CODE_LANGUAGE, ID, INPUT_OFFSET, INPUT_PATH, SOURCE, TEXT, URL

    raw = {ID: key, SOURCE: "web", URL: url, INPUT_PATH: None, INPUT_OFFSET: None, RECORD_TYPE: "response",
           CONTENT_TYPE: "text/html", HTTP_STATUS: 200, BODY: html, TEXT: None, CODE_LANGUAGE: None, WARC_DATE: None}
    doc, _ = extract_record(raw, _config(engine))
    return doc[TEXT] or ""


_CONFIGS = {}


def _config(engine: str):
    from pipelines.ingest.html import ExtractConfig

    if engine not in _CONFIGS:
        _CONFIGS[engine] = ExtractConfig(engine=engine) if engine else ExtractConfig()
    return _CONFIGS[engine]


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


def _runner(label):
    """The text function of a column: "raw" is raw trafilatura, any other an engine through the stage."""
    if label == RAW:
        return raw_text
    engine = label.split(" ")[0]
    return lambda key, url, html: stage_text(key, url, html, engine)


RAW = "raw trafilatura"


def _columns():
    from pipelines.ingest.engines import DEFAULT_ENGINE, ENGINE_NAMES
    from pipelines.ingest.html import ENGINES

    names = [DEFAULT_ENGINE] + [n for n in ENGINE_NAMES if n != DEFAULT_ENGINE]
    columns = [f"{n} (default)" if n == DEFAULT_ENGINE else n for n in names if not ENGINES[n].unavailable_reason()]
    missing = [n for n in names if ENGINES[n].unavailable_reason()]
    return columns + [RAW], missing


def _quality_job(args):
    label, name = args
    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    fn = _runner(label)
    if name == "trafilatura_eval":
        return label, name, snippet_scores(load_trafilatura_eval(), fn)
    pages = load_aeb() if name == "scrapinghub_aeb" else load_wcxb()
    return label, name, quality(pages, fn, halves=name == "wcxb_dev")


def _speed_pages():
    """A fixed sample for throughput: every 3rd page (by name) of the AEB, every 16th of WCXB dev and of
    trafilatura_eval (news, listings, forums, products, German pages in mixed encodings)."""
    return ([(k, u, h) for k, u, h, _, _ in load_aeb()[::3]] + [(k, u, h) for k, u, h, _, _ in load_wcxb()[::16]]
            + [(u, u, h) for u, h, _, _ in load_trafilatura_eval()[::16]])


def run() -> str:
    import multiprocessing

    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    columns, missing = _columns()
    # The `trafilatura` engine (the pre-issue-17 default, ~0.2 s a page) runs on the AEB only: on 2 shared
    # cores the three sets would take it most of an hour (its WCXB and snippet figures: HISTORY.md, 2026-11-21).
    jobs = [(label, name) for name in ("trafilatura_eval", "wcxb_dev", "scrapinghub_aeb") for label in columns
            if label != "trafilatura" or name == "scrapinghub_aeb"]
    # Quality in worker processes (the figures do not depend on timing); throughput below, single thread.
    with multiprocessing.get_context("fork").Pool(int(os.environ.get("BENCH_EXTRACT_PROCESSES", "2"))) as pool:
        found = {(label, name): value for label, name, value in pool.imap_unordered(_quality_job, jobs)}
    default = columns[0]
    lines = [f"Columns: F1 of each engine through the stage (`extract_record`, decoding and caps included) and of raw "
             f"trafilatura; `delta` is the default engine's F1 minus raw trafilatura's."
             + (f" Not available here: {', '.join(missing)}." if missing else ""), "",
             "| set | page type | pages | " + " | ".join(f"{c} F1" for c in columns) + " | default P / R | delta |",
             "|---|---|---|" + "---|" * len(columns) + "---|---|"]
    for name in ("scrapinghub_aeb", "wcxb_dev"):
        ours = found[(default, name)]
        for t in sorted(ours, key=lambda t: (t != "all", t.startswith("half"), t)):
            cells = " | ".join(f"{found[(c, name)][t][2]:.3f}" if (c, name) in found else "-" for c in columns)
            lines.append(f"| {name} | {t} | {ours[t][3]} | {cells} | {ours[t][0]:.3f} / {ours[t][1]:.3f} | "
                         f"{ours[t][2] - found[(RAW, name)][t][2]:+.3f} |")
    lines += ["", f"| trafilatura_eval snippets ({len(load_trafilatura_eval())} pages) | precision | recall |", "|---|---|---|"]
    lines += [f"| {c} | {found[(c, 'trafilatura_eval')][0]:.3f} | {found[(c, 'trafilatura_eval')][1]:.3f} |"
              for c in columns if (c, "trafilatura_eval") in found]
    pages = _speed_pages()
    speeds = defaultdict(list)
    for repeat in range(3):
        for label in columns:
            if label == "trafilatura" and repeat:  # one repeat of the slow pre-issue-17 default
                continue
            fn = _runner(label)
            start = time.perf_counter()
            for key, url, html in pages:
                fn(key, url, html)
            speeds[label].append(len(pages) / (time.perf_counter() - start))
    lines += ["", f"| throughput, {len(pages)} pages (AEB every 3rd, WCXB dev and trafilatura_eval every 16th), one "
              f"thread, 3 repeats | min pages/s | median pages/s | median / raw trafilatura |", "|---|---|---|---|"]
    raw_median = statistics.median(speeds[RAW])
    lines += [f"| {c} | {min(speeds[c]):.1f} | {statistics.median(speeds[c]):.1f} | "
              f"{statistics.median(speeds[c]) / raw_median:.2f}x |" for c in columns]
    return "\n".join(lines)
