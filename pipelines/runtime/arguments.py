"""The execution options every Beam command takes (`--workers`, `--runner`), Beam-free: the commands declare
their options without importing Beam, so their `--help` and a refused option answer at once (cli.py)."""
from __future__ import annotations

import argparse

from schemas.arguments import positive_int


def add_beam_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("execution")
    group.add_argument("--workers", type=positive_int, default=1,
                       help="local worker processes for the in-process runner (default 1)")
    group.add_argument("--runner", default=None,
                       help="Beam runner (default: in-process FnApiRunner; e.g. DataflowRunner). "
                            "Other Beam/Dataflow options (--project, --region, --temp_location, ...) pass through.")
