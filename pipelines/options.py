"""Building Beam pipelines: the in-process runner by default, any Beam runner on request.

Beam's DirectRunner first tries to start the Prism runner (a binary it downloads) and falls back when that
fails; we choose the in-process FnApiRunner explicitly so local runs never depend on that attempt.
`--workers N` maps to the FnApiRunner's multi-process mode. Every other Beam option (`--runner`,
`--project`, `--region`, `--temp_location`, `--setup_file`, ...) passes through untouched.
"""
from __future__ import annotations

import argparse
import logging
from typing import List, Optional, Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions


def add_beam_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("execution")
    group.add_argument("--workers", type=int, default=1,
                       help="local worker processes for the in-process runner (default 1)")
    group.add_argument("--runner", default=None,
                       help="Beam runner (default: in-process FnApiRunner; e.g. DataflowRunner). "
                            "Other Beam/Dataflow options (--project, --region, --temp_location, ...) pass through.")


def make_pipeline_options(beam_args: Sequence[str] = (), runner: Optional[str] = None, workers: int = 1) -> PipelineOptions:
    args: List[str] = list(beam_args)
    if runner:
        args.append(f"--runner={runner}")
    options = PipelineOptions(args)
    if not runner:
        direct = options.view_as(DirectOptions)
        direct.direct_num_workers = max(1, int(workers))
        direct.direct_running_mode = "multi_processing" if workers > 1 else "in_memory"
    return options


def make_pipeline(beam_args: Sequence[str] = (), runner: Optional[str] = None, workers: int = 1) -> beam.Pipeline:
    """A Pipeline on the runner the user asked for, else on the in-process FnApiRunner."""
    options = make_pipeline_options(beam_args, runner, workers)
    if options.view_as(StandardOptions).runner:
        return beam.Pipeline(options=options)
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    return beam.Pipeline(runner=FnApiRunner(), options=options)


def quiet_beam_logging() -> None:
    for name in ("apache_beam", "apache_beam.runners", "apache_beam.io"):
        logging.getLogger(name).setLevel(logging.WARNING)
