"""The execution options every Beam command takes (`--workers`, `--runner`), Beam-free: the commands declare
their options without importing Beam, so their `--help` and a refused option answer at once (cli.py)."""
from __future__ import annotations

import argparse

from schemas.arguments import worker_count


def add_beam_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("execution")
    group.add_argument("--workers", type=worker_count, default=1,
                       help="local worker processes for the in-process runner (default 1; `auto`: one per core "
                            "this process may use, its CPU affinity and cgroup quota, at most one per GiB of "
                            "available memory)")
    group.add_argument("--runner", default=None,
                       help="Beam runner (default: in-process FnApiRunner; e.g. DataflowRunner). "
                            "Other Beam/Dataflow options (--project, --region, --temp_location, ...) pass through.")
