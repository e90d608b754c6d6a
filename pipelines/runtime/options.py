"""Building Beam pipelines: the in-process runner by default, any Beam runner on request.

Beam's DirectRunner first tries to start the Prism runner (a binary it downloads) and falls back when that
fails; we choose the in-process FnApiRunner explicitly so local runs never depend on that attempt.
`--workers N` maps to the FnApiRunner's multi-process mode (N SDK worker processes talking to the runner
over loopback gRPC, each stage's input partitioned between them); the worker processes are forked from the
driver rather than started as fresh interpreters (pipelines/runtime/local_runner.py). Every other Beam option
(`--runner`, `--project`, `--region`, `--temp_location`, `--staging_location`, `--machine_type`,
`--max_num_workers`, `--sdk_container_image`, `--setup_file`, ...) passes through untouched; with
`--runner DataflowRunner` and neither `--setup_file` nor `--sdk_container_image` given, Winnow's own setup.py
(in a source checkout) is added, so workers install the same package (models and recipes are package data;
torch is not a worker requirement).

Dataflow workers run the SDK container of the launching interpreter: without `--sdk_container_image`, Beam's
DataflowRunner derives `gcr.io/cloud-dataflow/v1beta3/beam_python<major>.<minor>_sdk:<Beam version>` from
`sys.version_info` (a mirror of Docker Hub's `apache/beam_python3.X_sdk`), which must match the launcher since
pickled functions do not cross Python minor versions. A job launched from Python 3.12 therefore gets 3.12
workers, where setup.py's `python_version == '3.12'` requirement (rs-trafilatura) installs; from 3.11, 3.11
workers without it, and a recipe naming `rs_trafilatura` is refused on the launcher before the job is built.
Winnow leaves that default to Beam and logs the image it resolves to (`dataflow_container_image`); the built
job records it as its default environment's Docker image.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import weakref
from typing import List, Optional, Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions, TypeOptions

from schemas.arguments import AutoWorkers, usable_cores
from schemas.errors import WinnowError
from pipelines.runtime.local_runner import make_local_runner


# Beam has only `--no_pipeline_type_check` (the check is on by default); Winnow turns it off for local jobs, and
# `--pipeline_type_check` (Winnow's own flag, not handed to Beam) keeps it on
WINNOW_TYPE_CHECK = "--pipeline_type_check"
_TYPE_CHECK_OPTIONS = (WINNOW_TYPE_CHECK, "--no_pipeline_type_check")
# Options that already say how workers get Winnow's code.
_SHIPPING_OPTIONS = ("--setup_file", "--sdk_container_image", "--worker_harness_container_image")


def winnow_setup_file() -> Optional[str]:
    """The setup.py of a source checkout (next to the `pipelines` package), or None for an installed wheel."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "setup.py")
    return path if os.path.isfile(path) else None


def dataflow_container_image(options: PipelineOptions) -> str:
    """The SDK container Dataflow workers will run: `--sdk_container_image` when given, else the image Beam's
    DataflowRunner derives from this interpreter's major.minor and Beam's version (the same Beam function)."""
    from apache_beam.runners.dataflow.internal.apiclient import get_container_image_from_options

    return get_container_image_from_options(options)


class LocalPipelineOptions(PipelineOptions):
    """The options of a job on the local runner, whose views are kept: Beam's `view_as` builds a new view each
    time it is called (an argparse parser of every option of the view's class, ~0.7 ms), and a curate job's
    construction calls it ~1,400 times (~0.4 s of a small job's ~4 s). A view holds no state of its own (every
    view reads and writes the options' shared `_all_options`), so the same view serves every call."""

    def view_as(self, cls):
        views = self.__dict__.get("_winnow_views")
        if views is None:
            views = {}
            object.__setattr__(self, "_winnow_views", views)  # Beam's __setattr__ takes option names only
        view = views.get(cls)
        if view is None:
            view = views[cls] = super().view_as(cls)
        return view

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_winnow_views", None)
        return state


def unrecognised_beam_args(args: Sequence[str]) -> List[str]:
    """Those of `args` that no Beam or Dataflow pipeline option takes, parsed as Beam parses them (every
    PipelineOptions class, no abbreviations). Beam itself only logs "Discarding unparseable args" and goes on, so
    a misspelt option (`--recipie`) would run the job with that option's default. [] where Beam's parser rejects
    a value instead: Beam reports that itself when the options are read."""
    from apache_beam.options.pipeline_options import _BeamArgumentParser

    parser = _BeamArgumentParser(allow_abbrev=False, add_help=False, exit_on_error=False)
    classes = {}
    for cls in PipelineOptions.__subclasses__():
        classes.setdefault(str(cls), cls)
    for cls in classes.values():
        cls._add_argparse_args(parser)  # pylint: disable=protected-access
    try:
        return parser.parse_known_args(list(args))[1]
    except (argparse.ArgumentError, SystemExit):
        return []


_GCS_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]")


def is_dataflow_runner(runner) -> bool:
    """Whether a `--runner` value (a name, dotted or not, or a runner object) is Dataflow's."""
    name = runner if isinstance(runner, str) else type(runner).__name__ if runner else ""
    return name.split(".")[-1] in ("DataflowRunner", "TestDataflowRunner")


def check_dry_run(options: PipelineOptions, runner: str) -> None:
    """`--dry_run=True` builds a Dataflow job without submitting it. On any other runner Beam ignores it and the
    job runs (a local curate replaced its output while saying "dry run: not submitted"); on Dataflow without a
    usable --temp_location, Beam looks for (and creates) a default bucket over the network and fails minutes
    later with a traceback. Both are refused here, before anything is built."""
    from apache_beam.options.pipeline_options import GoogleCloudOptions, TestOptions

    if not options.view_as(TestOptions).dry_run:
        return
    if not is_dataflow_runner(runner):
        raise WinnowError(f"--dry_run=True builds a Dataflow job without submitting it; on the "
                          f"{runner or 'local'} runner the job would run for real",
                          fix="add --runner DataflowRunner (with --project, --region and --temp_location), or "
                              "leave --dry_run out")
    cloud = options.view_as(GoogleCloudOptions)
    for name, value in (("--temp_location", cloud.temp_location), ("--staging_location", cloud.staging_location)):
        if value is None:
            if name == "--temp_location":
                raise WinnowError("a Dataflow dry run needs --temp_location: without it Beam looks for a default "
                                  "bucket over the network", fix="add --temp_location=gs://BUCKET/tmp")
            continue
        bucket = value[len("gs://"):].split("/", 1)[0] if value.startswith("gs://") else None
        if bucket is None or not _GCS_BUCKET.fullmatch(bucket):
            raise WinnowError(f"{name} {value!r} is not gs://BUCKET/PATH with a valid bucket name (3-63 lower-case "
                              f"letters, digits, dots, dashes or underscores)",
                              fix=f"give {name}=gs://BUCKET/tmp for a bucket the job may write")


def make_pipeline_options(beam_args: Sequence[str] = (), runner: Optional[str] = None, workers: int = 1) -> PipelineOptions:
    args: List[str] = list(beam_args)
    type_check_given = any(a.split("=", 1)[0] in _TYPE_CHECK_OPTIONS for a in args)
    args = [a for a in args if a != WINNOW_TYPE_CHECK]  # ours; Beam's own default is the check on
    unknown = unrecognised_beam_args(args)
    if unknown:  # Beam would drop them with a log warning and run on its defaults (and, for `--recipie`, ours)
        raise WinnowError(f"unrecognized arguments: {' '.join(unknown)}: neither an option of this command nor a "
                          f"Beam or Dataflow pipeline option", fix="check the spelling against the command's --help")
    runner_given = runner or next((a.split("=", 1)[1] if "=" in a else "" for a in args
                                   if a.split("=", 1)[0] == "--runner"), None)
    # the local runner's process count; another runner has its own (`auto` is refused there whatever it came to)
    if runner_given is not None and (workers > 1 or isinstance(workers, AutoWorkers)):
        raise WinnowError(f"--workers {workers} sets the local runner's worker processes and does nothing with "
                          f"--runner {runner_given}".rstrip(), fix="leave --workers out and give that runner's own option "
                          "(DirectRunner: --direct_num_workers=N --direct_running_mode=multi_processing; Dataflow: "
                          "--num_workers / --max_num_workers)")
    local_counts = [a for a in args if a.split("=", 1)[0] in ("--direct_num_workers", "--direct_running_mode")]
    if local_counts and runner_given is None:
        raise WinnowError(f"{local_counts[0].split('=', 1)[0]} is replaced by --workers on the local runner",
                          fix="give --workers N instead")
    if runner:
        args.append(f"--runner={runner}")
    options = PipelineOptions(args)
    chosen = options.view_as(StandardOptions).runner or ""
    check_dry_run(options, chosen)
    if not chosen:
        options = LocalPipelineOptions(args)
    if is_dataflow_runner(chosen) and \
            not any(a.split("=", 1)[0] in _SHIPPING_OPTIONS for a in args):
        setup_file = winnow_setup_file()
        if setup_file:
            options = PipelineOptions(args + [f"--setup_file={setup_file}"])
        else:
            logging.getLogger(__name__).warning(
                "DataflowRunner without --setup_file or --sdk_container_image: workers must already have Winnow")
    if is_dataflow_runner(chosen):
        logging.getLogger(__name__).info("Dataflow workers run %s (launched from Python %d.%d)",
                                         dataflow_container_image(options), *sys.version_info[:2])
    if not runner:
        if not type_check_given:
            # Beam's construction-time type check of every transform's hints costs ~0.6 s of a small local job
            # (~10 %); Dataflow jobs keep it (built once, run long), and --pipeline_type_check turns it back on
            options.view_as(TypeOptions).pipeline_type_check = False
        direct = options.view_as(DirectOptions)
        direct.direct_num_workers = max(1, int(workers))
        direct.direct_running_mode = "multi_processing" if workers > 1 else "in_memory"
    return options


def _dofn_specs_key(dofn):
    """What Beam's `userstate.get_dofn_specs` result depends on: the DoFn's class (the state and timer specs are
    default values of its methods' parameters), and for a Map/FlatMap/Filter wrapper the function it wraps (set as
    the instance's `process`). None where an instance carries other callables of its own (not cached)."""
    from apache_beam.transforms.core import CallableWrapperDoFn

    own = getattr(dofn, "__dict__", {})
    if isinstance(dofn, CallableWrapperDoFn):
        fn = own.get("_fn")
        try:
            hash(fn)
        except TypeError:
            return None
        rest = [v for k, v in own.items() if k not in ("_fn", "process") and callable(v)]
        return None if rest else (type(dofn), fn)
    return None if any(callable(v) for v in own.values()) else type(dofn)


def _keep_answers(module, name: str, key_of, fresh) -> None:
    """Replace `module.name`, a one-argument function of Beam's, with one that keeps its answers per
    `key_of(argument)` for this process (and the workers forked from it); a None key is asked afresh, and
    `fresh(answer)` gives every caller its own copy. Idempotent."""
    original = getattr(module, name)
    if getattr(original, "_winnow_cached", False):
        return
    cache: dict = {}

    def kept(argument):
        key = key_of(argument)
        if key is None:
            return original(argument)
        found = cache.get(key)
        if found is None:
            if len(cache) > 50_000:
                cache.clear()
            found = cache[key] = original(argument)
        return fresh(found)

    kept._winnow_cached = True
    kept._winnow_original = original
    setattr(module, name, kept)


def cache_dofn_specs() -> None:
    """Beam inspects every method signature of a DoFn (`userstate.get_dofn_specs`, ~0.5 ms a DoFn) each time it
    builds a ParDo, a DoFnSignature or a bundle processor: ~2,300 times (~1 s) in a small curate job, in the driver
    and again in each worker. The answer depends on the class (and a wrapper's function), so it is kept per key
    for this process (and the workers forked from it). Idempotent."""
    from apache_beam.transforms import userstate

    _keep_answers(userstate, "get_dofn_specs", _dofn_specs_key, lambda found: (set(found[0]), set(found[1])))


def _function_key(f):
    """What Beam's `core.get_function_args_defaults` answer depends on: a plain function, or the function of a
    method bound to any instance (its first argument then left out). None for anything else."""
    import types

    if isinstance(f, types.FunctionType):
        return f, False
    if isinstance(f, types.MethodType) and isinstance(f.__func__, types.FunctionType):
        return f.__func__, True
    return None


def cache_function_arguments() -> None:
    """Beam reads the argument names and defaults of every DoFn method and mapped function
    (`core.get_function_args_defaults`, an `inspect.signature` each) whenever it builds a ParDo, a DoFnSignature
    or a bundle processor: ~17,000 times in a small curate job. For a plain function, or a method bound to any
    instance, the answer depends on the function alone, so it is kept per function for this process (and the
    workers forked from it); anything else (partials, callables, builtins) is asked afresh. Idempotent."""
    from apache_beam.transforms import core

    _keep_answers(core, "get_function_args_defaults", _function_key, lambda found: (list(found[0]), list(found[1])))


def make_pipeline(beam_args: Sequence[str] = (), runner: Optional[str] = None, workers: int = 1) -> beam.Pipeline:
    """A Pipeline on the runner the user asked for, else on the in-process FnApiRunner.

    Beam's Pipeline makes a local temporary directory when it is created and removes it only at the end of
    `run()`; a job refused while it is built (a bad input, a refused output) would leave it in $TMPDIR. Here it
    also goes when the pipeline object does, or at exit."""
    cache_dofn_specs()
    cache_function_arguments()
    options = make_pipeline_options(beam_args, runner, workers)
    if options.view_as(StandardOptions).runner:
        pipeline = beam.Pipeline(options=options)
    else:
        pipeline = beam.Pipeline(runner=make_local_runner(), options=options)
    tempdir = getattr(pipeline, "local_tempdir", None)
    if tempdir:
        weakref.finalize(pipeline, remove_tree, tempdir)
    return pipeline


def remove_tree(path: str, attempts: int = 3) -> None:
    """Remove a directory tree from a finalizer, which runs wherever garbage collection happens to run: a per-record
    time limit's exception (filters/deadline.py, sent again until its block ends) can land inside it, and the
    finalizer swallowed it with the removal half done (a CI run printed "Exception ignored in: <finalize object>
    ... DeadlineExceeded"). The removal is tried again; what interrupted it is dropped here, as the finalizer
    would have dropped it."""
    for _ in range(attempts):
        try:
            shutil.rmtree(path, ignore_errors=True)
            return
        except BaseException:  # noqa: BLE001 -- see the docstring
            continue


def is_local(pipeline: beam.Pipeline) -> bool:
    """Whether the pipeline runs on Winnow's local runner (no --runner given)."""
    return not pipeline.options.view_as(StandardOptions).runner


def threads_per_worker(pipeline: beam.Pipeline, workers: int = 1) -> int:
    """Threads one worker process may spend on work that releases the GIL (tokenizer encoding): on the
    in-process runner, the cores this process may run on (schemas.arguments.usable_cores: its CPU affinity and
    cgroup quota) divided among its `--workers`, at most 8; on any
    other runner 1, since Dataflow (and the portable runners) already start one SDK process per vCPU, and
    threads of their own would oversubscribe the machine. Measured on 2 cores: tiktoken's default of 8 threads
    per batch cost 1.4x the CPU of one thread alone, 2.1x inside a tokenize job, and with 2 workers each
    encoding on 8 threads a job's encoding took 1.8x the CPU (and wall time) of 2 workers x 1 thread."""
    if not is_local(pipeline):
        return 1
    return max(1, min(8, usable_cores() // max(1, int(workers))))


def quiet_beam_logging() -> None:
    for name in ("apache_beam", "apache_beam.runners", "apache_beam.io"):
        logging.getLogger(name).setLevel(logging.WARNING)


def dry_run_requested(beam_args: Sequence[str]) -> bool:
    """Whether the command line's Beam options ask for `--dry_run=True`."""
    from apache_beam.options.pipeline_options import TestOptions

    return bool(PipelineOptions(list(beam_args)).view_as(TestOptions).dry_run)


def is_dry_run(pipeline: beam.Pipeline) -> bool:
    from apache_beam.options.pipeline_options import TestOptions

    return bool(pipeline.options.view_as(TestOptions).dry_run)


@contextlib.contextmanager
def _submission_scratch(pipeline: beam.Pipeline):
    """While a Dataflow job is built and submitted, Python's temporary directory is a fresh one, removed after.
    Beam builds the job's SDK environment in a new temporary directory (Winnow's sdist, the pickled main session,
    the list of the submission's packages: 1.7 MB) and never removes it, although the files are staged to
    `--staging_location` before `run()` returns: every submission and dry run left one in $TMPDIR. Beam's cache
    of `--requirements_file` downloads stays where Beam keeps it, in $TMPDIR, unless `--requirements_cache` says."""
    from apache_beam.options.pipeline_options import SetupOptions

    if not is_dataflow_runner(pipeline.options.view_as(StandardOptions).runner):
        yield
        return
    setup = pipeline.options.view_as(SetupOptions)
    if setup.requirements_cache is None:
        setup.requirements_cache = os.path.join(tempfile.gettempdir(), "beam-requirements-cache")
    scratch = tempfile.mkdtemp(prefix="winnow-submit-")
    previous, tempfile.tempdir = tempfile.tempdir, scratch
    try:
        yield
    finally:
        tempfile.tempdir = previous
        shutil.rmtree(scratch, ignore_errors=True)


def run_pipeline(pipeline: beam.Pipeline):
    """Run to completion. On a Dataflow dry run (`--dry_run=True`) nothing is submitted, and Beam writes no
    `--dataflow_job_file`; Winnow writes the built job there itself: the Dataflow job JSON (name, type) plus,
    under `pipeline`, the runner-API pipeline proto as JSON (every transform with its unique name and
    payload, the environments with the staged artifacts). Returns the result, or None after a dry run."""
    from apache_beam.options.pipeline_options import DebugOptions

    with _submission_scratch(pipeline):
        result = pipeline.run()
    result.wait_until_finish()
    if not is_dry_run(pipeline):
        return result
    job_file = pipeline.options.view_as(DebugOptions).dataflow_job_file
    job = getattr(result, "job", None)
    if job_file and job is not None:
        from apache_beam.io.filesystems import FileSystems

        from google.protobuf import json_format

        built = json.loads(job.json())
        proto = getattr(job, "proto_pipeline", None)
        if proto is not None:
            built["pipeline"] = json_format.MessageToDict(proto)
        with FileSystems.create(job_file) as f:
            f.write(json.dumps(built, indent=1).encode("utf-8"))
    return None
