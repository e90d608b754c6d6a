"""`winnow run`: the whole chain, end to end, on the embedded default or on a recipe's inputs.

The embedded default needs no network and no data from outside the machine: the Python documentation of
the running interpreter is rendered (pydoc, in a subprocess, for an allowlist of modules whose import has no
side effects) and served on loopback; the real crawler crawls it into WARC; a selection of the
interpreter's standard-library source is the code corpus. Then curate -> tokenizer -> tokenize -> stats ->
a short CPU training run whose loss falls. The embedded default tokenizes a two-source mixture of the curated
documents (`DEMO_MIXTURE`: the docs pages and the standard-library code, selected by their `source` column,
with shares of a token budget that repeat the smaller source and subsample the larger), written as
`out/mixture.yaml` and passed to `winnow tokenize --mixture`; a `--recipe` run tokenizes its documents once.
It also holds out a pretend benchmark, the first long docstring of a few standard-library modules
(`HELD_OUT_MODULES`, written to `out/benchmark/stdlib_docstrings.jsonl`), and adds a `decontaminate` stage
(13-gram overlap, drop) over it to the default recipe, so the modules that contain them are removed and counted
per set in report.json. Every step's wall time lands in `run.json`, and the locations of
every output are printed at the end.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import glob
import json
import os
import shutil
import sys
import sysconfig
import time
from typing import Any, Dict, List, Optional, Sequence

from pipelines.demo.arguments import DEFAULT_DOCS_PORT, MIN_VOCAB_SIZE
from pipelines.runtime.options import dry_run_requested
from pipelines.jobs.recipe import load_recipe
from schemas.errors import WinnowError

MIXTURE_HEADER = "# the mixture `winnow run` tokenized: `winnow tokenize --mixture` this file (see README)\n"

# The embedded default's mixture: 40 % docs pages and 60 % standard-library code of a 1M-token budget. The
# curated docs hold ~0.19M tokens and the code ~2M (Python 3.11), so the docs repeat (~2.2 epochs, copies
# named ID#2, ID#3) and the code is subsampled (~0.3 epochs): both sides of a mixture in one small run.
DEMO_MIXTURE = {"sources": [{"name": "docs", "input": "curated", "source": "web", "weight": 0.4},
                            {"name": "code", "input": "curated", "source": "code", "weight": 0.6}],
                "total_tokens": 1_000_000}

# The pretend benchmark: the first docstring of DOCSTRING_MIN_WORDS words or more of each module's functions.
HELD_OUT_MODULES = ("textwrap", "fnmatch", "shlex", "glob", "colorsys")
HELD_OUT_SET = "stdlib-docstrings"
DOCSTRING_MIN_WORDS = 20

# Standard-library packages copied into the code corpus besides the top-level modules. `encodings` holds
# ~120 near-identical codec tables: a real near-duplicate population for the MinHash stage.
STDLIB_PACKAGES = ("json", "email", "http", "urllib", "collections", "concurrent", "logging", "html", "wsgiref",
                   "encodings", "importlib", "xml")


def write_demo_mixture(output_dir: str, mixture: Optional[Dict[str, Any]] = None) -> str:
    """`mixture` (default `DEMO_MIXTURE`; a recipe's `mixture:` has its inputs filled in by the recipe parser)
    as OUT/mixture.yaml (inputs relative to it, so the file also works by hand)."""
    import yaml

    path = os.path.join(output_dir, "mixture.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(MIXTURE_HEADER)
        yaml.safe_dump(DEMO_MIXTURE if mixture is None else mixture, f, sort_keys=False)
    return path


def write_held_out_docstrings(code_dir: str, dest: str) -> str:
    """One JSONL item per HELD_OUT_MODULES module found in the code corpus: {id, question: a docstring of at
    least DOCSTRING_MIN_WORDS words, answer: its function's name}, in the modules' order."""
    import ast

    items = []
    for module in HELD_OUT_MODULES:
        path = os.path.join(code_dir, module + ".py")
        if not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            doc = ast.get_docstring(node) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else None
            if doc and len(doc.split()) >= DOCSTRING_MIN_WORDS:
                items.append({"id": f"{module}.{node.name}", "question": doc, "answer": node.name})
                break
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with open(dest, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(item) + "\n" for item in items)
    return dest


def with_decontamination(recipe, eval_path: str):
    """The recipe with a `decontaminate` stage over the held-out docstrings, before the dedup stages."""
    from pipelines.jobs.recipe import DEDUP_STAGES, parse_recipe

    stage = ("decontaminate", {"sets": [{"name": HELD_OUT_SET, "path": eval_path, "fields": ["question"]}],
                               "ngram": 13, "action": "drop"})
    stages = list(recipe.stages)
    at = next((i for i, (name, _) in enumerate(stages) if name in DEDUP_STAGES), len(stages))
    stages.insert(at, stage)
    return parse_recipe({"name": recipe.name, "seed": recipe.seed, **{n: dict(o) for n, o in stages}}, recipe.name)


def stage_stdlib_corpus(dest: str, max_files: Optional[int] = None) -> str:
    """Copy the interpreter's standard-library sources (top-level modules + STDLIB_PACKAGES) to `dest`."""
    root = sysconfig.get_paths()["stdlib"]
    files = sorted(glob.glob(os.path.join(root, "*.py")))
    for pkg in STDLIB_PACKAGES:
        files += sorted(glob.glob(os.path.join(root, pkg, "**", "*.py"), recursive=True))
    if max_files:
        files = files[:max_files]
    if os.path.isdir(dest):
        shutil.rmtree(dest)
    for f in files:
        target = os.path.join(dest, os.path.relpath(f, root))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(f, target)
    return dest


RUN_MARKER = ".winnow-run"  # in an output `winnow run` has written to: a later run may replace its crawl/ and code/


def refuse_foreign_subdirs(output_dir: str, replaced: Sequence[str]) -> None:
    """WinnowError when `output_dir` holds one of the directories the run replaces as a whole (its crawl's WARC
    files, its copy of the standard library) and no earlier `winnow run` wrote there: they are someone else's."""
    if os.path.exists(os.path.join(output_dir, RUN_MARKER)) or os.path.exists(os.path.join(output_dir, "run.json")):
        return
    found = [d for d in replaced if os.path.lexists(d)]
    if found:
        raise WinnowError(f"holds {', '.join(os.path.basename(d) + '/' for d in found)}, which `winnow run` replaces "
                          f"as a whole, and no earlier `winnow run` wrote there", path=output_dir,
                          fix="choose another --output (a new directory), or move them away")


class StepTimer:
    def __init__(self, quiet: bool = False):
        self.seconds: Dict[str, float] = {}
        self.quiet = quiet

    @contextlib.contextmanager
    def step(self, name: str, what: str):
        if not self.quiet:
            print(f"[winnow run] {name}: {what} ...", flush=True)
        start = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - start, 2)
        if not self.quiet:
            print(f"[winnow run] {name}: done in {self.seconds[name]:.1f}s", flush=True)


def run_chain(output_dir: str, recipe_path: Optional[str] = None, workers: int = 1, beam_args: Sequence[str] = (),
              runner: Optional[str] = None, max_pages: int = 60, vocab_size: int = 4096, seq_len: int = 256,
              train_steps: int = 120, seed: Optional[int] = None, quiet: bool = False,
              docs_port: int = DEFAULT_DOCS_PORT) -> Dict[str, Any]:
    """The whole chain into `output_dir`. `seed` (the tokenizer sample, packing and training): None takes the
    recipe's `seed:`; a given one replaces it, so the recipe.yaml curate writes records the seed that was used."""
    from pipelines.jobs.curate import format_funnel, run_curate
    from pipelines.tools.stats import compute_stats, format_stats
    from pipelines.jobs.tokenize import run_tokenize
    from tokenizer.train import train_tokenizer

    if vocab_size < MIN_VOCAB_SIZE:  # the tokenizer step would refuse it after crawl and curate
        raise WinnowError(f"--vocab-size {vocab_size} is below {MIN_VOCAB_SIZE} (256 bytes and the special tokens)",
                          fix=f"give --vocab-size {MIN_VOCAB_SIZE} or more")
    if dry_run_requested(beam_args):
        raise WinnowError("--dry_run=True builds one Dataflow job without running it, and each step of `winnow run` "
                          "reads what the step before it wrote", fix="dry-run the commands one by one (winnow "
                          "crawl / curate / tokenize ... --runner DataflowRunner --dry_run=True), or leave it out")
    recipe = load_recipe(recipe_path)
    if seed is None:
        seed = recipe.seed
    elif seed != recipe.seed:
        recipe = dataclasses.replace(recipe, seed=seed)
    # Resolved once, here: every step below and every path in run.json then means the same directory whatever
    # a step's working directory is (the default is the relative `out`).
    output_dir = os.path.abspath(output_dir)
    out = {name: os.path.join(output_dir, name) for name in
           ("site", "crawl", "code", "curated", "tokenizer", "shards", "train", "benchmark")}
    if not recipe.inputs:
        refuse_foreign_subdirs(output_dir, (out["crawl"], out["code"]))
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, RUN_MARKER), "w", encoding="utf-8") as f:
        f.write("written by `winnow run`: its crawl/ and code/ are replaced by the next run into this directory\n")
    held_out = None
    timer = StepTimer(quiet)
    started = time.perf_counter()
    inputs: List[str] = list(recipe.inputs)
    if not inputs:
        from pipelines.jobs.crawl import run_crawl
        from pipelines.demo.docsite import render_python_docs, serve_directory

        with timer.step("docsite", "rendering the interpreter's Python documentation"):
            render_python_docs(out["site"])
            base_url, stop = serve_directory(out["site"], docs_port)
        try:
            with timer.step("crawl", f"crawling {base_url} (at most {max_pages} pages)"):
                if os.path.isdir(out["crawl"]):
                    shutil.rmtree(out["crawl"])
                # Our own loopback server: a short politeness delay is enough.
                run_crawl([base_url + "/index.html"], out["crawl"], max_pages=max_pages, delay=0.02,
                          beam_args=beam_args, runner=runner, workers=workers, allow_private=True)
        finally:
            stop()
        with timer.step("code", "copying the standard-library source as the code corpus"):
            stage_stdlib_corpus(out["code"])
            if recipe_path is None:  # the embedded default: a pretend benchmark and its decontamination
                held_out = write_held_out_docstrings(out["code"], os.path.join(out["benchmark"],
                                                                               "stdlib_docstrings.jsonl"))
                recipe = with_decontamination(recipe, held_out)
        inputs = [os.path.join(out["crawl"], "*.warc.gz"), "code:" + out["code"]]
    with timer.step("curate", f"curating {', '.join(inputs)}"):
        report = run_curate(inputs, out["curated"], recipe, beam_args, runner, workers)
    if not quiet:
        print(format_funnel(report))
    contaminated = None
    if "decontaminate" in recipe.stage_names:
        with open(os.path.join(out["curated"], "report.json"), encoding="utf-8") as f:
            entry = next(s for s in json.load(f)["stages"] if s["name"] == "decontaminate")
        contaminated = {"in": entry["in"], "by_set": entry.get("contaminated_by_set", {})}
    with timer.step("tokenizer", f"training a {vocab_size}-token byte-level BPE"):
        tok_meta = train_tokenizer(out["curated"], vocab_size, out["tokenizer"], seed=seed)
    # the recipe's `mixture:` if it has one; the embedded default's own; none for a recipe's inputs without one
    mixture = (write_demo_mixture(output_dir, dict(recipe.mixture)) if recipe.mixture is not None
               else None if recipe.inputs else write_demo_mixture(output_dir))
    stale = os.path.join(output_dir, "mixture.yaml")
    if mixture is None and os.path.exists(stale):  # an earlier run's would describe shards this run replaces
        with open(stale, encoding="utf-8", errors="replace") as f:
            ours = f.readline() == MIXTURE_HEADER
        if ours:
            os.remove(stale)
    with timer.step("tokenize", f"tokenizing and packing into rows of {seq_len}+1 tokens"
                                + (f", mixture {mixture}" if mixture else "")):
        manifest = run_tokenize(None if mixture else out["curated"], out["tokenizer"], out["shards"], seq_len,
                                seed=seed, beam_args=beam_args, runner=runner, workers=workers, mixture=mixture)
    with timer.step("stats", "summarising documents and shards"):
        doc_stats = compute_stats(out["curated"])
        shard_stats = compute_stats(out["shards"], os.path.join(out["tokenizer"], "tokenizer.json"))
    if not quiet:
        print(format_stats(doc_stats))
        print(format_stats(shard_stats))
    with timer.step("train", f"training the tiny GPT on CPU for {train_steps} steps"):
        train_result = train_on_shards(out["shards"], os.path.join(out["tokenizer"], "tokenizer.json"),
                                       out["train"], max_steps=train_steps, seed=seed)
    summary = {
        "output": output_dir, "inputs": inputs, "seconds": timer.seconds,
        "wall_seconds": round(time.perf_counter() - started, 2),
        "outputs": {"site": out["site"] if not recipe.inputs else None,
                    "warc": out["crawl"] if not recipe.inputs else None,
                    "code_corpus": out["code"] if not recipe.inputs else None,
                    "mixture": mixture, "held_out": held_out,
                    "documents": os.path.join(out["curated"], "documents"),
                    "rejected": os.path.join(out["curated"], "rejected"),
                    "errors": os.path.join(out["curated"], "errors"),
                    "report": os.path.join(out["curated"], "report.json"),
                    "tokenizer": os.path.join(out["tokenizer"], "tokenizer.json"),
                    "shards": out["shards"], "manifest": os.path.join(out["shards"], "manifest.json"),
                    "train_log": train_result.get("log"), "checkpoint": train_result.get("checkpoint")},
        "documents": report.outputs.get("documents"), "sequences": manifest.totals.sequences,
        "tokenizer_sha256": tok_meta.get("sha256"),
        "mixture": [{k: s[k] for k in ("name", "share", "requested_share", "epochs", "documents", "tokens")}
                    for s in manifest.mixture["sources"]] if manifest.mixture else None,
        "decontaminated": contaminated,
        "loss": {"first": train_result["first_loss"], "final": train_result["final_loss"],
                 "steps": train_result["steps"]},
    }
    with open(os.path.join(output_dir, "run.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    if not quiet:
        print_summary(summary)
    return summary


def train_on_shards(shards: str, tokenizer_json: str, out_dir: str, max_steps: int, seed: int = 0,
                    log_interval: int = 10) -> Dict[str, Any]:
    """The bundled trainer's tiny preset on CPU, in its own process: torch never enters the Beam process."""
    import subprocess

    cmd = [sys.executable, "-m", "training.train", "--shards", shards, "--tokenizer", tokenizer_json,
           "--device", "cpu", "--preset", "tiny", "--max-steps", str(max_steps), "--out", out_dir,
           "--seed", str(seed), "--log-interval", str(log_interval)]
    # torch's OpenMP threads spin while they wait for each other; beside any other busy process (a shared CI host)
    # each wait then costs a time slice. Passive waiting, unless the user chose: 120 steps beside one CPU-bound
    # process took 39 s against 59-65 s spinning, and 26 s against 22-27 s on an idle machine (2 cores).
    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"training failed (exit {proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-4000:]}")
    log_path = os.path.join(out_dir, "log.jsonl")
    with open(log_path, encoding="utf-8") as f:
        lines = [json.loads(line) for line in f if line.strip()]
    if not lines:
        raise RuntimeError(f"training wrote no log lines to {log_path}")
    return {"first_loss": lines[0]["loss"], "final_loss": lines[-1]["loss"], "steps": lines[-1]["step"],
            "log": log_path, "checkpoint": os.path.join(out_dir, "ckpt.pt"), "log_lines": lines}


def print_summary(summary: Dict[str, Any]) -> None:
    print("\n[winnow run] finished in {:.1f}s".format(summary["wall_seconds"]))
    print("  step seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in summary["seconds"].items()))
    print(f"  {summary['documents']} documents -> {summary['sequences']} packed sequences; "
          f"loss {summary['loss']['first']:.3f} -> {summary['loss']['final']:.3f} in {summary['loss']['steps']} steps")
    if summary.get("decontaminated"):
        d = summary["decontaminated"]
        sets = ", ".join(f"{n} {c}" for n, c in d["by_set"].items()) or "none found"
        print(f"  decontaminate: of {d['in']} documents, removed as sharing a 13-gram with a held-out set: {sets}")
    for s in summary.get("mixture") or ():
        print(f"  mixture {s['name']:<5} {s['share']:6.1%} of the tokens (asked {s['requested_share']:.1%}), "
              f"{s['epochs']:.2f} epochs, {s['documents']} documents")
    print("  outputs:")
    for name, path in summary["outputs"].items():
        if path:
            print(f"    {name:<12} {path}")
    print(f"    {'run summary':<12} {os.path.join(summary['output'], 'run.json')}")


def main(args: argparse.Namespace) -> int:
    run_chain(args.output, args.recipe, args.workers, getattr(args, "beam_args", ()), args.runner,
              args.max_pages, args.vocab_size, args.seq_len, args.train_steps, args.seed, docs_port=args.docs_port)
    return 0
