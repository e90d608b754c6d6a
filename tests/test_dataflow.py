"""The Dataflow path, proved without a cloud: each Beam command builds its complete Dataflow job with
`--runner DataflowRunner --dry_run=True --no_auth` over gs:// inputs and outputs, with every socket to a
non-loopback address refused, and the built job is checked: the recipe's stages are named steps, no step
carries a path of this machine (models are found on the worker from package data), every function the job
pickles is importable by name (no lambda, no closure), and the sdist that `--setup_file` stages carries the
model and recipes and no torch.
"""
from __future__ import annotations

import base64
import bz2
import ipaddress
import json
import pickle
import re
import socket
import subprocess
import sys
import tarfile
import zlib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
BUCKET = "gs://winnow-dry-run-test"
DATAFLOW_OPTIONS = ["--runner", "DataflowRunner", "--project=winnow-test", "--region=us-central1",
                    f"--temp_location={BUCKET}/tmp", f"--staging_location={BUCKET}/staging",
                    "--machine_type=n2-standard-4", "--max_num_workers=8", "--dry_run=True", "--no_auth"]


def _loopback(host) -> bool:
    if host in (None, "localhost"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture
def no_network(monkeypatch):
    """Every connection or name lookup to anything but loopback raises; the attempts are recorded."""
    attempts = []
    real_connect, real_create, real_getaddrinfo = socket.socket.connect, socket.create_connection, socket.getaddrinfo

    def connect(sock, address):
        if isinstance(address, tuple) and not _loopback(address[0]):
            attempts.append(address)
            raise OSError(f"test blocks the network: connect {address}")
        return real_connect(sock, address)

    def create_connection(address, *args, **kwargs):
        if not _loopback(address[0]):
            attempts.append(address)
            raise OSError(f"test blocks the network: create_connection {address}")
        return real_create(address, *args, **kwargs)

    def getaddrinfo(host, *args, **kwargs):
        if not _loopback(host):
            attempts.append(host)
            raise socket.gaierror(f"test blocks the network: getaddrinfo {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return attempts


def _pipeline_proto(job_file: Path):
    from apache_beam.portability.api import beam_runner_api_pb2
    from google.protobuf import json_format

    built = json.loads(job_file.read_text())
    assert built["type"] == "JOB_TYPE_BATCH"
    return json_format.ParseDict(built["pipeline"], beam_runner_api_pb2.Pipeline())


def _unpickled_bytes(payload: bytes) -> bytes:
    """The pickle inside a Beam function payload (base64 of bz2 or zlib), or the payload itself."""
    try:
        raw = base64.b64decode(payload, validate=True)
    except Exception:
        return payload
    for decompress in (bz2.decompress, zlib.decompress):
        try:
            return decompress(raw)
        except Exception:
            pass
    return raw


def _step_blobs(proto):
    """(step name, bytes) of every transform payload and every function pickled into it."""
    from apache_beam.portability import common_urns
    from apache_beam.portability.api import beam_runner_api_pb2

    for t in proto.components.transforms.values():
        yield t.unique_name, t.spec.payload
        if t.spec.urn == common_urns.primitives.PAR_DO.urn:
            fn = beam_runner_api_pb2.ParDoPayload.FromString(t.spec.payload).do_fn.payload
            yield t.unique_name, _unpickled_bytes(fn)
        elif t.spec.urn in (common_urns.composites.COMBINE_PER_KEY.urn, common_urns.composites.COMBINE_GLOBALLY.urn):
            fn = beam_runner_api_pb2.CombinePayload.FromString(t.spec.payload).combine_fn.payload
            yield t.unique_name, _unpickled_bytes(fn)


def _local_path_pattern(*extra: Path) -> "re.Pattern[bytes]":
    """This machine's paths: the checkout (its virtualenv aside: a function of Beam's own that Beam pickles
    by value records its source file name there, which no worker opens), the lid model, the home dir, and
    the test's own files."""
    from filters.models import lid_model_path

    paths = [str(lid_model_path()), str(lid_model_path().parent), str(Path.home())] + [str(e) for e in extra]
    alternatives = [re.escape(str(REPO_ROOT).encode()) + rb"(?!/\.venv/)"] + [re.escape(p.encode()) for p in paths]
    return re.compile(b"|".join(alternatives))


def assert_job_is_portable(job_file: Path, *extra_local: Path):
    """No step of the job names a file of this machine, and --setup_file's sdist is staged."""
    proto = _pipeline_proto(job_file)
    forbidden = _local_path_pattern(*extra_local)
    blobs = list(_step_blobs(proto))
    assert len(blobs) > 10
    for name, blob in blobs:
        hit = forbidden.search(blob)
        assert not hit, f"step {name!r} carries a local path: {blob[max(0, hit.start() - 40):hit.end() + 80]!r}"
    staged = [dep.role_payload for env in proto.components.environments.values() for dep in env.dependencies]
    assert any(b"workflow.tar.gz" in r for r in staged), "the --setup_file sdist is not staged"
    return proto


def _top_level_names(proto):
    return {t.unique_name for t in proto.components.transforms.values() if "/" not in t.unique_name}


@pytest.mark.slow  # ~10 s: builds the whole curate job graph with every stage
def test_curate_dry_run_builds_dataflow_job_offline(no_network, tmp_path, monkeypatch):
    import tempfile

    from pipelines.cli import main
    from pipelines.jobs.recipe import load_recipe

    job_file = tmp_path / "curate.job.json"
    own_tmp = tmp_path / "tmp"  # the job's $TMPDIR, to see what the submission leaves there
    own_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(own_tmp))
    rc = main(["curate", "--input", f"{BUCKET}/crawl/*.warc.gz", f"{BUCKET}/code/*.jsonl.zst",
               "--output", f"{BUCKET}/curated"] + DATAFLOW_OPTIONS + [f"--dataflow_job_file={job_file}"])
    assert rc == 0
    assert not no_network, f"the dry run tried the network: {no_network}"
    # Beam built the SDK environment (sdist, pickled main session: 1.7 MB) in a temporary directory of its own
    # and left it behind, one per submission; what stays is Beam's (empty) cache of requirements downloads
    left = sorted(p.name for p in own_tmp.iterdir())
    assert left == ["beam-requirements-cache"], f"a Dataflow submission left {left} in $TMPDIR"
    assert not any((own_tmp / "beam-requirements-cache").iterdir())
    proto = assert_job_is_portable(job_file)
    names = _top_level_names(proto)
    for stage in load_recipe().stage_names:
        assert "".join(part.capitalize() for part in stage.split("_")) in names, stage
    # the phases (pipelines/jobs/curate.py): an ids-only read, the extracting read writing phase files, the dedup
    # stages reading them back, each stage's rejected rows to their own part files
    assert {"ReadIds", "Read", "Phase1", "ReadPhase1", "WriteDocuments", "WriteRejected0", "WriteErrors"} <= names
    assert "Read/SpreadRecords" not in {t.unique_name for t in proto.components.transforms.values()}
    all_names = {t.unique_name for t in proto.components.transforms.values()}
    assert {"Read/ExpandSpecs", "Read/SpreadFiles", "Read/ReadFiles"} <= {n for n in all_names if n.count("/") == 1}


def test_crawl_dry_run_builds_dataflow_job_offline(no_network, tmp_path, capfd):
    from pipelines.jobs.crawl import run_crawl

    job_file = tmp_path / "crawl.job.json"
    beam_args = [a for a in DATAFLOW_OPTIONS[2:]] + [f"--dataflow_job_file={job_file}"]
    paths = run_crawl(["https://docs.python.org/3/"], f"{BUCKET}/crawl", beam_args=beam_args, runner="DataflowRunner")
    assert paths == []
    assert not no_network, f"the dry run tried the network: {no_network}"
    proto = assert_job_is_portable(job_file)
    names = {t.unique_name for t in proto.components.transforms.values()}
    assert {"Seeds", "Crawl", "Crawl/GroupByHost", "Crawl/CrawlHost"} <= names
    # the workers' SDK container is the launching interpreter's (issue 17: a 3.12 launcher gets 3.12 workers)
    assert set(_container_images(proto)) == {expected_container_image()}
    # Beam built the sdist with `python -m build` (a requirement), not after printing that it has no such module
    assert "No module named build" not in capfd.readouterr().err


def _container_images(proto):
    from apache_beam.portability import common_urns
    from apache_beam.portability.api import beam_runner_api_pb2

    return [beam_runner_api_pb2.DockerPayload.FromString(env.payload).container_image
            for env in proto.components.environments.values()
            if env.urn == common_urns.environments.DOCKER.urn]


def expected_container_image() -> str:
    import apache_beam

    major, minor = sys.version_info[:2]
    return f"gcr.io/cloud-dataflow/v1beta3/beam_python{major}.{minor}_sdk:{apache_beam.__version__}"


def test_dataflow_container_image_is_the_launching_interpreters():
    """Beam derives the workers' image from the launcher's major.minor; an explicit image wins (and, being a
    way of shipping Winnow, leaves out the --setup_file Winnow adds otherwise)."""
    from apache_beam.options.pipeline_options import SetupOptions

    from pipelines.runtime.options import dataflow_container_image, make_pipeline_options

    options = make_pipeline_options(DATAFLOW_OPTIONS[2:], "DataflowRunner")
    assert dataflow_container_image(options) == expected_container_image()
    assert options.view_as(SetupOptions).setup_file
    custom = "us-docker.pkg.dev/p/r/winnow:1"
    options = make_pipeline_options(DATAFLOW_OPTIONS[2:] + [f"--sdk_container_image={custom}"], "DataflowRunner")
    assert dataflow_container_image(options) == custom
    assert not options.view_as(SetupOptions).setup_file


def test_construction_type_check_is_skipped_locally_and_kept_on_dataflow():
    """Local runs skip Beam's construction-time type check (a fixed cost of every small job) unless asked for;
    a Dataflow job keeps it."""
    from apache_beam.options.pipeline_options import TypeOptions

    from pipelines.runtime.options import make_pipeline_options

    assert make_pipeline_options([]).view_as(TypeOptions).pipeline_type_check is False
    assert make_pipeline_options(["--pipeline_type_check"]).view_as(TypeOptions).pipeline_type_check is True
    dataflow = make_pipeline_options(DATAFLOW_OPTIONS[2:], "DataflowRunner")
    assert dataflow.view_as(TypeOptions).pipeline_type_check is True


def test_local_options_keep_their_views_and_stay_one_set_of_options():
    """Local options hand out one view per class (Beam builds a new one per call); every view still reads and
    writes the same options, the options pickle without the kept views, and Dataflow's options are Beam's own."""
    import pickle

    from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions, TypeOptions

    from pipelines.runtime.options import LocalPipelineOptions, make_pipeline_options

    local = make_pipeline_options(["--job_name=kept-views"], workers=2)
    assert isinstance(local, LocalPipelineOptions)
    direct = local.view_as(DirectOptions)
    assert local.view_as(DirectOptions) is direct and direct.direct_num_workers == 2
    direct.direct_num_workers = 3  # written through one view, read through a fresh one and the options themselves
    assert PipelineOptions.view_as(local, DirectOptions).direct_num_workers == 3
    assert local.get_all_options()["direct_num_workers"] == 3
    local.view_as(TypeOptions).pipeline_type_check = True
    assert local.view_as(TypeOptions).pipeline_type_check is True
    copy = pickle.loads(pickle.dumps(local))
    assert "_winnow_views" not in copy.__dict__ and copy.view_as(DirectOptions).direct_num_workers == 3
    dataflow = make_pipeline_options(DATAFLOW_OPTIONS[2:], "DataflowRunner")
    assert type(dataflow) is PipelineOptions and dataflow.view_as(StandardOptions) is not dataflow.view_as(StandardOptions)


@pytest.fixture(scope="module")
def small_tokenizer(word_corpus):
    return word_corpus / "tok"  # the session tokenizer (tests/conftest.py)


def test_tokenize_dry_run_builds_dataflow_job_offline(no_network, tmp_path, small_tokenizer):
    from pipelines.cli import main

    job_file = tmp_path / "tokenize.job.json"
    rc = main(["tokenize", "--input", f"{BUCKET}/curated", "--tokenizer", str(small_tokenizer), "--seq-len", "128",
               "--output", f"{BUCKET}/shards"] + DATAFLOW_OPTIONS + [f"--dataflow_job_file={job_file}"])
    assert rc == 0
    assert not no_network, f"the dry run tried the network: {no_network}"
    # the local tokenizer is read from its staged copy under --temp_location, never from this machine
    proto = assert_job_is_portable(job_file, small_tokenizer)
    names = _top_level_names(proto)
    assert {"ReadDocuments", "EncodeDocuments", "PackSequences", "WriteShards", "WriteManifest"} <= names
    blobs = b"".join(blob for _, blob in _step_blobs(proto))
    assert f"{BUCKET}/tmp/winnow/tokenizer-".encode() in blobs
    assert f"{BUCKET}/curated/documents/*.parquet".encode() in blobs


def _own_callables(pipeline):
    """Every DoFn, CombineFn and plain callable of Winnow's own modules that the pipeline pickles."""
    import apache_beam as beam
    from apache_beam.pipeline import PipelineVisitor
    from apache_beam.transforms.core import CallableWrapperCombineFn, CallableWrapperDoFn

    found = []

    class Visitor(PipelineVisitor):
        def visit_transform(self, node):
            t = node.transform
            fn = getattr(t, "fn", None)
            if isinstance(t, beam.ParDo) and isinstance(fn, CallableWrapperDoFn):
                fn = fn._fn
            if isinstance(fn, CallableWrapperCombineFn):
                fn = fn._fn
            extra = [a for a in list(getattr(t, "args", ()) or ()) + list((getattr(t, "kwargs", {}) or {}).values())
                     if callable(a)]
            for f in [fn] + extra:
                if f is not None and (getattr(f, "__module__", "") or "").split(".")[0] in (
                        "pipelines", "filters", "tokenizer", "schemas"):
                    found.append((node.full_label, f))

        def enter_composite_transform(self, node):
            self.visit_transform(node)

    pipeline.visit(Visitor())
    return found


def test_pickled_functions_are_importable_by_name(no_network, small_tokenizer):
    """A lambda or nested function pickles by value and breaks on workers whose code differs; every
    function of ours must pickle by reference, with Beam's pickler and with the standard one."""
    from apache_beam.internal import pickler

    from pipelines.transforms.crawl import CrawlSeeds
    from pipelines.jobs.curate import build_curate_pipeline
    from pipelines.runtime.options import make_pipeline
    from pipelines.jobs.recipe import load_recipe
    from pipelines.jobs.tokenize import build_tokenize_pipeline
    from pipelines.transforms.tokenize import TokenizeConfig
    from tokenizer.encode import TokenizerHandle

    import apache_beam as beam

    args = DATAFLOW_OPTIONS[2:]
    p = make_pipeline(args, "DataflowRunner")
    build_curate_pipeline(p, [f"{BUCKET}/in/*.warc.gz"], f"{BUCKET}/out", load_recipe())
    _ = p | "Seeds" >> beam.Create(["https://example.org/"]) | "Crawl" >> CrawlSeeds(f"{BUCKET}/crawl")
    handle = TokenizerHandle((small_tokenizer / "tokenizer.json").read_bytes())
    info = {"sha256": handle.sha256, "vocab_size": handle.vocab_size, "special_ids": handle.special_ids}
    build_tokenize_pipeline(p, [f"{BUCKET}/docs/*.parquet"], f"{BUCKET}/tok/tokenizer.json",
                            TokenizeConfig(output_dir=f"{BUCKET}/shards", seq_len=128), info, {})
    found = _own_callables(p)
    assert len(found) > 30
    for label, fn in found:
        qualname = getattr(fn, "__qualname__", type(fn).__qualname__)
        assert "<lambda>" not in qualname and "<locals>" not in qualname, f"{label}: {qualname} is not importable"
        pickle.loads(pickle.dumps(fn))
        pickler.loads(pickler.dumps(fn))


def test_setup_file_sdist_carries_models_and_recipes_without_torch(tmp_path):
    """What `--setup_file` stages: the sdist Beam builds with `python setup.py sdist`."""
    subprocess.run([sys.executable, "setup.py", "-q", "egg_info", "--egg-base", str(tmp_path), "sdist", "-d",
                    str(tmp_path / "dist")], cwd=REPO_ROOT, check=True, capture_output=True, timeout=120)
    [sdist] = list((tmp_path / "dist").glob("*.tar.gz"))
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
        pkg_info = tar.extractfile(next(m for m in tar.getmembers() if m.name.count("/") == 1
                                        and m.name.endswith("/PKG-INFO"))).read().decode()
    assert {"filters/assets/lid.176.ftz", "pipelines/recipes/default.yaml", "pipelines/recipes/fineweb-en.yaml",
            "setup.py", "filters/models.py", "pipelines/jobs/curate.py", "tokenizer/encode.py", "schemas/__init__.py"} <= names
    requires = [line.split(":", 1)[1].strip().lower() for line in pkg_info.splitlines() if line.startswith("Requires-Dist:")]
    worker_requirements = [r for r in requires if "extra ==" not in r]  # what a worker's pip installs
    assert any(r.startswith("apache-beam") for r in worker_requirements)
    assert any(r.startswith("fasttext") for r in worker_requirements)
    assert not [r for r in worker_requirements if r.startswith("torch")]
    assert any(r.startswith("torch") and "extra == \"train\"" in r for r in requires)


def test_dry_run_off_dataflow_or_without_a_temp_location_is_refused_before_anything_runs(no_network, tmp_path,
                                                                                        capsys):
    """`--dry_run=True` on the local runner ran the job for real (replacing the output, then saying "dry run:
    not submitted"); on Dataflow without --temp_location, or with a bucket name GCS refuses, Beam went looking
    for a default bucket over the network and failed two minutes later with a traceback."""
    from pipelines.cli import main

    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "a", "text": "one small document"}) + "\n")
    out = tmp_path / "out"
    (out / "documents").mkdir(parents=True)
    (out / "documents" / "keep.txt").write_text("an earlier output")
    assert main(["curate", "--input", str(src), "--output", str(out), "--dry_run=True"]) == 1
    err = capsys.readouterr().err
    assert "--dry_run=True builds a Dataflow job" in err and "--runner DataflowRunner" in err, err
    assert sorted(p.name for p in out.rglob("*")) == ["documents", "keep.txt"]  # nothing ran, nothing replaced
    no_temp = [o for o in DATAFLOW_OPTIONS if not o.startswith(("--temp_location", "--staging_location"))]
    for extra, message in (([], "needs --temp_location"),
                           (["--temp_location=gs://b/tmp"], "valid bucket name")):
        assert main(["curate", "--input", f"{BUCKET}/in.jsonl", "--output", f"{BUCKET}/curated"] + no_temp
                    + extra) == 1
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err
    assert not no_network, f"the refusal tried the network: {no_network}"
