"""Layering is checked, not hoped for.

The contracts in the repo's `.importlinter` run through import-linter here: the packages are layered as
DESIGN.md's table says (schemas imports nothing of ours, filters and tokenizer not each other, training never
pipelines) and no two modules of a package import each other, imports inside functions included. Which
modules stay free of Apache Beam is checked on the same import graph (grimp, which import-linter builds on):
import-linter sees `apache_beam` as one module, and the Beam-free modules may still use Beam's file-system
layer, so that a path may be gs://.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

REPO_ROOT = Path(__file__).resolve().parents[1]

OUR_PACKAGES = ("schemas", "filters", "tokenizer", "training", "pipelines")
# Whole packages and single modules that never import Apache Beam beyond ALLOWED_BEAM, directly or through
# any module of ours they import: the libraries, and in pipelines/ the Beam-free ingest, the offline tools
# (`winnow stats`, `inspect`, `verify`, lineage, progress) and the CLI's router.
BEAM_FREE_PACKAGES = ("schemas", "filters", "tokenizer", "training", "pipelines.ingest", "pipelines.tools")
BEAM_FREE_MODULES = ("pipelines.runtime.files", "pipelines.runtime.progress",
                     "pipelines.cli")
ALLOWED_BEAM = "from apache_beam.io.filesystems import "


def test_import_contracts_hold():
    # In a child process: import-linter configures logging (dictConfig), which disables the loggers that later
    # tests in this session read with caplog. Root packages are found from the working directory.
    code = ("import sys; from importlinter.cli import lint_imports; "
            f"sys.exit(lint_imports(config_filename={str(REPO_ROOT / '.importlinter')!r}, no_cache=True, no_logo=True))")
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def _beam_imports(graph: grimp.ImportGraph, module: str):
    return [f"{module}:{d['line_number']}: {d['line_contents']}"
            for d in graph.get_import_details(importer=module, imported="apache_beam")
            if not d["line_contents"].startswith(ALLOWED_BEAM)]


def test_beam_free_modules_import_only_beams_file_systems():
    graph = grimp.build_graph(*OUR_PACKAGES, include_external_packages=True, cache_dir=None)
    roots = set(BEAM_FREE_MODULES)
    for package in BEAM_FREE_PACKAGES:
        roots |= {package} | graph.find_descendants(package)
    missing = sorted(m for m in roots if m not in graph.modules)
    assert not missing, f"modules named in BEAM_FREE_MODULES no longer exist: {missing}"
    problems = []
    for root in sorted(roots):
        reached = {root} | {m for m in graph.find_upstream_modules(root) if m.split(".")[0] in OUR_PACKAGES}
        chains = [graph.find_shortest_chain(importer=root, imported=m) or (root,)
                  for m in reached if _beam_imports(graph, m)]
        if chains:  # the nearest one is enough to see what to move
            chain = min(chains, key=lambda c: (len(c), c))
            problems.append(f"{' -> '.join(chain)}: {_beam_imports(graph, chain[-1])[0]}")
    assert not problems, ("Beam-free modules reach apache_beam beyond its file systems (move the Beam code "
                          "into a Beam module, or import what is needed from a Beam-free one):\n"
                          + "\n".join(problems))


def test_offline_tools_and_recipe_parsing_load_no_beam():
    # `winnow stats` and `inspect` start without apache_beam (importing it takes ~1.7 s and ~210 MB), and reading a
    # recipe imports a stage's module only when it builds the stage (a bad recipe fails before that)
    code = ("import sys, pipelines.tools.stats, pipelines.tools.report_html, pipelines.tools.inspect, pipelines.runtime.progress, "
            "pipelines.jobs.recipe; sys.exit(' '.join(m for m in sys.modules if m.split('.')[0] == 'apache_beam') or None)")
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
