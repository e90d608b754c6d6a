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


def is_dry_run(pipeline: beam.Pipeline) -> bool:
    from apache_beam.options.pipeline_options import TestOptions

    return bool(pipeline.options.view_as(TestOptions).dry_run)


def run_pipeline(pipeline: beam.Pipeline):
    """Run to completion. On a Dataflow dry run (`--dry_run=True`) nothing is submitted, and Beam writes no
    `--dataflow_job_file`; Winnow writes the built job there itself (the Dataflow job JSON, which embeds the
    pipeline proto with every transform's name). Returns the result, or None after a dry run."""
    from apache_beam.options.pipeline_options import DebugOptions

    result = pipeline.run()
    result.wait_until_finish()
    if not is_dry_run(pipeline):
        return result
    job_file = pipeline.options.view_as(DebugOptions).dataflow_job_file
    job = getattr(result, "job", None)
    if job_file and job is not None:
        from apache_beam.io.filesystems import FileSystems

        with FileSystems.create(job_file) as f:
            f.write(job.json().encode("utf-8"))
    return None
