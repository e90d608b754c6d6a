"""Language labels of pipelines/ingest/codelang.py (file name, modeline, shebang, extension, Linguist's content rules
for shared extensions) on GitHub Linguist's own samples (../shared/data/code, 70 % of linguist's samples), for the
languages the table covers, side by side with a plain extension-only lookup (the peer: the same table without
file names, modelines, shebangs or content rules). Accuracy = labels equal to Linguist's; speed over 3 repeats,
min and median."""
from __future__ import annotations

import base64
import gzip
import json
import os
import statistics
import time
from collections import Counter

from pipelines.ingest.codelang import BY_EXTENSION, LANGUAGES, language_of

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data", "code")


def load():
    samples = []
    with gzip.open(os.path.join(DATA, "linguist_samples_dev.jsonl.gz"), "rt", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            content = base64.b64decode(d["content"]) if d["encoding"] == "base64" else d["content"].encode("utf-8")
            samples.append((d["language"], d["filename"], content))
    return samples


def extension_only(filename: str, head: bytes):
    ext = os.path.splitext(filename)[1].lower()
    return BY_EXTENSION.get(ext)


def run() -> str:
    samples = [s for s in load() if s[0] in LANGUAGES]
    rows = ["| labeler | samples | languages | accuracy | min ms | median ms |", "|---|---|---|---|---|---|"]
    results = {}
    for label, fn in (("winnow codelang", language_of), ("extension only", extension_only)):
        times = []
        for _ in range(3):
            start = time.perf_counter()
            predicted = [fn(name, content[:8192]) for _, name, content in samples]
            times.append((time.perf_counter() - start) * 1000)
        correct = sum(p == lang for p, (lang, _, _) in zip(predicted, samples))
        results[label] = (correct / len(samples), predicted)
        rows.append(f"| {label} | {len(samples)} | {len({s[0] for s in samples})} | {correct / len(samples):.3f} | "
                    f"{min(times):.1f} | {statistics.median(times):.1f} |")
    misses = Counter(lang for p, (lang, _, _) in zip(results["winnow codelang"][1], samples) if p != lang)
    rows += ["", "Most missed languages (winnow codelang): " + ", ".join(f"{k} {v}" for k, v in misses.most_common(8))]
    return "\n".join(rows)
