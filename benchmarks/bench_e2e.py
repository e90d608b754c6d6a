"""End to end: `winnow curate` (recipes/fineweb-en.yaml without its dedup stage) vs datatrove 0.10's FineWeb chain.

Inputs: every file under ../shared/data/warc (web crawls, Common Crawl excerpts, edge cases; WARC and ARC), the
same worker-process count on both sides (`WINNOW_E2E_WORKERS`, default "2"; e.g. "2,1"). Winnow runs
`python -m pipelines.cli curate --recipe <fineweb-en without dedup_minhash> --workers N` in a subprocess (its
default extraction engine, whatever the recipe resolves to). datatrove runs in its own virtualenv
(`.bench/datatrove-venv`, plus the WARC extras its WarcReader needs: warcio, faust-cchardet, python-magic, and
lxml_html_clean for trafilatura 1.11) as WarcReader -> Trafilatura(favour_precision=True) -> LanguageFilter(en,
0.65, the same lid.176 file as Winnow) -> GopherRepetitionFilter -> GopherQualityFilter ->
C4QualityFilter(filter_no_terminal_punct=False) -> FineWebQualityFilter -> ParquetWriter under
LocalPipelineExecutor(tasks = workers = N). A file warcio cannot read to its end makes datatrove's task fail (and
so its whole run), so datatrove gets only the files warcio reads without an exception (checked before timing,
untimed) and the table names the files it had to leave out; Winnow gets all of them.

Counted per side: input files; HTML pages read (Winnow: records handed to extraction less the non-HTML content
types; datatrove: documents its WarcReader yields, which keeps text/html and application/xhtml+xml responses);
pages extracted (non-empty text out of the extractor; both extract every HTML response whatever its HTTP status:
the recipe's `only_http_200: false`, as datatrove's WarcReader);
documents kept (written). Wall seconds are the subprocess's whole run including start-up, min and median of
`REPEATS` runs, sides alternating order each repeat. Throughput = HTML pages read per wall second (median), and
kept documents per second; ratio = Winnow / datatrove. Per-stage seconds (summed over workers) come from each
side's own accounting (Winnow's report.json, datatrove's stats.json) of the last repeat.
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("WINNOW_SHARED_DATA", ROOT.parent / "shared" / "data"))
WARC = SHARED / "warc"
REPEATS = int(os.environ.get("WINNOW_E2E_REPEATS", "2"))
WORKERS = [int(w) for w in os.environ.get("WINNOW_E2E_WORKERS", "2").split(",")]
# What datatrove's WarcReader and trafilatura 1.11 import beyond `datatrove[processing]`.
PEER_EXTRAS = {"warcio": "warcio", "cchardet": "faust-cchardet", "magic": "python-magic",
               "lxml_html_clean": "lxml_html_clean"}

# Runs inside datatrove's virtualenv: argv = warc_dir work_dir lid_model workers.
PEER_SCRIPT = r'''
import json, os, sys, time
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.extractors import Trafilatura
from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                        GopherRepetitionFilter, LanguageFilter)
from datatrove.pipeline.readers import WarcReader
from datatrove.pipeline.writers import ParquetWriter
from datatrove.utils.lid import FT176LID


class LocalLID(FT176LID):
    """FT176LID on a given lid.176 file (its own download path needs the network)."""

    @property
    def model(self):
        if self._model is None:
            from fasttext.FastText import _FastText
            self._model = _FastText(os.environ["E2E_LID_MODEL"])
        return self._model


def readable_files(data):
    from datatrove.io import get_datafolder
    from warcio.archiveiterator import ArchiveIterator
    folder = get_datafolder(data)
    readable, unreadable = [], []
    for rel in sorted(folder.list_files(recursive=True)):
        try:
            with folder.open(rel, "rb", compression="infer") as f:
                for record in ArchiveIterator(f):
                    record.content_stream().read()
            readable.append(rel)
        except Exception as exc:
            unreadable.append([rel, type(exc).__name__])
    return readable, unreadable


def main():
    data, work, lid_model, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    os.environ["E2E_LID_MODEL"] = lid_model
    readable, unreadable = readable_files(data)
    paths = os.path.join(work, "paths.txt")
    with open(paths, "w") as f:
        f.write("".join(r + "\n" for r in readable))
    lang = LanguageFilter(languages=["en"], language_threshold=0.65)
    lang.model = LocalLID(["en"])
    pipeline = [WarcReader(data, paths_file=paths), Trafilatura(favour_precision=True), lang,
                GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(filter_no_terminal_punct=False),
                FineWebQualityFilter(), ParquetWriter(os.path.join(work, "out"))]
    t = time.perf_counter()
    LocalPipelineExecutor(pipeline=pipeline, tasks=workers, workers=workers,
                          logging_dir=os.path.join(work, "logs")).run()
    wall = time.perf_counter() - t
    with open(os.path.join(work, "peer.json"), "w") as f:
        json.dump({"wall": wall, "readable": readable, "unreadable": unreadable}, f)


if __name__ == "__main__":
    main()
'''


def peer_python() -> str:
    from benchmarks.harness import DATATROVE_REQUIREMENTS, ensure_venv

    python = ensure_venv("datatrove", DATATROVE_REQUIREMENTS)
    missing = [pkg for mod, pkg in PEER_EXTRAS.items()
               if subprocess.run([python, "-c", f"import {mod}"], capture_output=True).returncode != 0]
    if missing:
        subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", *missing], check=True)
    return python


def recipe_without_dedup(path: Path) -> None:
    import yaml

    recipe = yaml.safe_load((ROOT / "recipes" / "fineweb-en.yaml").read_text())
    recipe.pop("dedup_minhash", None)
    recipe["name"] = "fineweb-en-no-dedup"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))


def run_winnow(recipe: Path, out: Path, workers: int) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "pipelines.cli", "curate", "--recipe", str(recipe), "--input", str(WARC / "*" / "*"),
           "--output", str(out), "--workers", str(workers)]
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=str(ROOT), capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"winnow curate failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    report = json.loads((out / "report.json").read_text())
    stages = {s["name"]: s for s in report["stages"]}
    ex = stages["extract"]
    from pipelines.ingest.readers import expand_input_specs

    return {"wall": wall, "files": len(expand_input_specs([str(WARC / "*" / "*")])),
            "html_read": ex["in"] - ex["dropped"].get("content_type", 0),
            "extracted": ex["kept"], "kept": report["stages"][-1]["kept"],
            "stage_seconds": {s["name"]: s["seconds"] for s in report["stages"]},
            "note": f"not extracted: http_status {ex['dropped'].get('http_status', 0)}, "
                    f"no_text {ex['dropped'].get('no_text', 0)}, errors {ex['errors']}"}


def _seconds(time_stats) -> float:
    """A datatrove stats entry's total seconds (a dict with 'total', or a bare number)."""
    if isinstance(time_stats, dict):
        return float(time_stats.get("total", 0.0))
    return float(time_stats or 0.0)


def run_datatrove(python: str, lid: str, work: Path, workers: int) -> dict:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    script = ROOT / ".bench" / "e2e_datatrove_peer.py"
    script.write_text(PEER_SCRIPT)
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    t = time.perf_counter()
    proc = subprocess.run([python, str(script), str(WARC), str(work), lid, str(workers)], capture_output=True,
                          text=True, env=env, cwd=str(work))
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"datatrove failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    peer = json.loads((work / "peer.json").read_text())
    stats = json.loads((work / "logs" / "stats.json").read_text())
    by = {s["name"].split(": ", 1)[-1].split(" ", 1)[-1]: s for s in stats}

    def count(step, key):
        v = by[step]["stats"].get(key, 0)
        return v["total"] if isinstance(v, dict) else v

    ex = by["Trafilatura"]["stats"]
    return {"wall": wall, "files": len(peer["readable"]), "unreadable": peer["unreadable"],
            "html_read": count("Warc", "documents"), "extracted": count("Trafilatura", "forwarded"),
            "kept": count("Parquet", "total"),
            "stage_seconds": {k: _seconds(v.get("time_stats")) for k, v in by.items()},
            "note": f"extractor timeouts (1 s default) {ex.get('timeout', 0)}, empty {ex.get('dropped', 0)}"}


def run() -> str:
    from filters.models import lid_model_path

    python = peer_python()
    lid = str(lid_model_path())
    tmp = Path(tempfile.mkdtemp(prefix="winnow-e2e-"))
    recipe = tmp / "fineweb-en-no-dedup.yaml"
    recipe_without_dedup(recipe)
    n_files = sum(1 for p in WARC.glob("*/*") if p.is_file())
    rows = ["| workers | side | files read | HTML pages read | pages extracted | documents kept | wall s (min / median) "
            "| HTML pages/s | kept docs/s | Winnow / datatrove (pages/s; kept docs/s) |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    notes, stage_rows = [], []
    try:
        for workers in WORKERS:
            res = {"winnow": [], "datatrove": []}
            for rep in range(REPEATS):
                order = ("winnow", "datatrove") if rep % 2 == 0 else ("datatrove", "winnow")
                for side in order:
                    if side == "winnow":
                        r = run_winnow(recipe, tmp / "winnow-out", workers)
                    else:
                        r = run_datatrove(python, lid, tmp / "datatrove", workers)
                    print(f"  workers={workers} rep={rep} {side}: {r['wall']:.1f} s, read {r['html_read']}, "
                          f"extracted {r['extracted']}, kept {r['kept']}", flush=True)
                    res[side].append(r)
            med = {s: statistics.median(r["wall"] for r in rs) for s, rs in res.items()}
            last = {s: rs[-1] for s, rs in res.items()}
            for side in ("winnow", "datatrove"):
                r, walls = last[side], [x["wall"] for x in res[side]]
                ratio = "-"
                if side == "winnow":
                    d = last["datatrove"]
                    pr = (r["html_read"] / med["winnow"]) / (d["html_read"] / med["datatrove"])
                    kr = (r["kept"] / med["winnow"]) / max(d["kept"] / med["datatrove"], 1e-9)
                    ratio = f"{pr:.2f}x; {kr:.2f}x"
                rows.append(f"| {workers} | {side} | {r['files']} of {n_files} | {r['html_read']} | {r['extracted']} "
                            f"| {r['kept']} | {min(walls):.1f} / {med[side]:.1f} | {r['html_read'] / med[side]:.2f} "
                            f"| {r['kept'] / med[side]:.2f} | {ratio} |")
                stage_rows.append(f"| {workers} | {side} | " + ", ".join(
                    f"{k} {v:.1f}" for k, v in r["stage_seconds"].items()) + f" | {r['note']} |")
            unreadable = last["datatrove"]["unreadable"]
            if unreadable:
                notes.append(f"workers {workers}: datatrove left out (warcio raised while reading): "
                             + ", ".join(f"{p} ({e})" for p, e in unreadable)
                             + "; Winnow read them all (the .bad file is skipped as not an input kind).")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return "\n".join(rows + [""] + ["| workers | side | seconds per stage, summed over workers (last repeat) "
                                     "| extraction notes |", "|---|---|---|---|"] + stage_rows
                     + [""] + [f"- {n}" for n in notes])


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    print(run())
