"""Language ID: Winnow's LanguageFilter.apply_batch vs raw fastText batched predict, lid.176, same lines, same run.

Data: ../shared/data/langid/lingua_testdata/sentences, every language whose code lid.176 knows (nb counted as
lid.176's `no`), 1,000 lines each. Raw: `model.predict(lines, k=1)` on the lines as they are (one list call per
language file). Ours: `LanguageFilter.apply_batch` on documents in batches of 512 (what the `language` stage
does per batch: fold whitespace to one line, one predict call, annotate language/score, decide). Accuracy is
macro-averaged over languages; throughput is lines per second, min and median over 5 repeats, interleaved.
"""
from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("WINNOW_SHARED_DATA", ROOT.parent / "shared" / "data"))
ALIASES = {"nb": "no"}
REPEATS = 5
BATCH = 512


def run() -> str:
    from filters.language import LABEL_PREFIX, LanguageFilter
    from schemas import LANGUAGE, TEXT

    f = LanguageFilter(languages=None)
    f.setup()
    model = f.model
    known = {l[len(LABEL_PREFIX):] for l in model.get_labels()}
    data = {}
    for path in sorted((SHARED / "langid" / "lingua_testdata" / "sentences").glob("*.txt")):
        code = ALIASES.get(path.stem, path.stem)
        if code in known:
            data[code] = [l for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]
    all_lines = [l for lines in data.values() for l in lines]

    def raw():
        return {code: [lab[0][len(LABEL_PREFIX):] for lab in model.predict(lines, k=1)[0]]
                for code, lines in data.items()}

    def ours():
        out = {}
        for code, lines in data.items():
            docs = [{TEXT: l} for l in lines]
            for i in range(0, len(docs), BATCH):
                f.apply_batch(docs[i:i + BATCH])
            out[code] = [d[LANGUAGE] for d in docs]
        return out

    t_raw, t_ours = [], []
    for _ in range(REPEATS):
        for fn, ts in ((raw, t_raw), (ours, t_ours)):
            t = time.perf_counter()
            preds = fn()
            ts.append(time.perf_counter() - t)
            if fn is raw:
                p_raw = preds
            else:
                p_ours = preds

    def macro(preds):
        return statistics.mean(sum(p == code for p in preds[code]) / len(preds[code]) for code in data)

    n = len(all_lines)
    same = sum(a == b for code in data for a, b in zip(p_raw[code], p_ours[code]))
    rows = ["| method | languages | lines | macro accuracy | lines/s (min / median) | throughput vs raw (median; min over repeats) |",
            "|---|---|---|---|---|---|"]
    ratios = [r / o for r, o in zip(t_raw, t_ours)]
    rows.append(f"| raw fastText predict(list) | {len(data)} | {n} | {macro(p_raw):.4f} | "
                f"{n / max(t_raw):,.0f} / {n / statistics.median(t_raw):,.0f} | 1.00x |")
    rows.append(f"| Winnow LanguageFilter.apply_batch | {len(data)} | {n} | {macro(p_ours):.4f} | "
                f"{n / max(t_ours):,.0f} / {n / statistics.median(t_ours):,.0f} | "
                f"{statistics.median(ratios):.2f}x; {min(ratios):.2f}x |")
    rows.append(f"\nSame label as raw on {same}/{n} lines ({same / n:.3%}); differences come from Unicode spaces "
                f"(e.g. no-break space before French ';') that Winnow folds to ASCII spaces before predict.")
    return "\n".join(rows)


if __name__ == "__main__":
    print(run())
