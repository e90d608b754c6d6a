"""`winnow curate -o OUT` never touches what is not its own (issue 16, item 6): an output that holds an input is
refused before the job starts, the previous outputs are replaced only when a job has finished, files the user put
in OUT survive, and what killed runs left (staging and `beam-temp-*` directories) is cleaned."""
from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.io.filesystem import CompressionTypes, FileMetadata, FileSystem

import pipelines.jobs.curate as curate
from pipelines.cli import main
from pipelines.jobs.curate import run_curate
from pipelines.jobs.recipe import parse_recipe
from pipelines.runtime.staging import STAGING_PREFIX, fixed_part, refuse_inputs_inside_output

REPO = Path(__file__).resolve().parents[1]
RECIPE = {"extract": {}}


def _jsonl(path: Path, n: int, word: str = "document") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"{word}-{i}", "text": f"{word} number {i} of the test corpus"}) + "\n")
    return path


def _recipe_file(tmp_path: Path) -> Path:
    path = tmp_path / "extract.yaml"
    path.write_text("name: extract-only\nextract: {}\n")
    return path


@pytest.fixture(scope="module")
def previous_run(tmp_path_factory) -> Path:
    """A finished curate output of three documents, built once: each test copies it (`_previous`) as the
    previous run whose outputs it then guards (one job start instead of four)."""
    root = tmp_path_factory.mktemp("previous")
    run_curate([str(_jsonl(root / "in.jsonl", 3))], str(root / "out"), parse_recipe(RECIPE))
    return root / "out"


def _previous(previous_run: Path, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(previous_run, out, symlinks=True)
    return out


def _snapshot(out: Path) -> dict:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def _ours(out: Path) -> list:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*")
                  if STAGING_PREFIX in str(p) or "beam-temp-" in p.name)


def test_fixed_part_and_uri_outputs_are_checked_without_touching_storage():
    assert fixed_part("OUT/documents/*.parquet") == "OUT/documents"
    assert fixed_part("code:src/tree") == "src/tree"
    assert fixed_part("*.jsonl") == "."
    with pytest.raises(ValueError, match="inside the output directory"):
        refuse_inputs_inside_output(["gs://bucket/cur/documents/*.parquet"], "gs://bucket/cur/")
    with pytest.raises(ValueError, match="inside the output directory"):
        refuse_inputs_inside_output(["gs://bucket/x/../cur/a.jsonl"], "gs://bucket/cur")
    refuse_inputs_inside_output(["gs://bucket/curated2/a.jsonl", "gs://bucket/*.jsonl"], "gs://bucket/cur")


def test_output_holding_its_own_input_is_refused_and_left_untouched(previous_run, tmp_path, capsys):
    out = _previous(previous_run, tmp_path)
    before = _snapshot(out)
    assert any(name.startswith("documents/part-") for name in before)
    (tmp_path / "elsewhere").mkdir()
    os.symlink(out / "documents", tmp_path / "elsewhere" / "docs")
    _jsonl(out / "mine" / "data.jsonl", 2)
    before = _snapshot(out)
    for spec in (f"{out}/documents/*.parquet", f"{tmp_path}/x/../out/documents/*.parquet",
                 f"{tmp_path}/elsewhere/docs/*.parquet", str(out / "mine" / "data.jsonl"), str(out)):
        rc = main(["curate", "-i", spec, "-o", str(out), "--recipe", str(_recipe_file(tmp_path))])
        err = capsys.readouterr().err.strip()
        assert rc == 1, spec
        assert len(err.splitlines()) == 1 and "inside the output directory" in err, err
        assert _snapshot(out) == before, spec


def test_rerun_replaces_only_its_own_files_and_cleans_what_killed_runs_left(previous_run, tmp_path):
    out = _previous(previous_run, tmp_path)
    (out / "notes.txt").write_text("mine")
    (out / "documents" / "README").write_text("mine too")
    (out / "documents" / "part-00007-of-00009.parquet").write_bytes(b"stale part of an older layout")
    (out / "other" / "beam-temp-keep").mkdir(parents=True)
    (out / "other" / "beam-temp-keep" / "x").write_text("not in a table: not ours")
    for leftover in (out / f"{STAGING_PREFIX}killed" / "documents" / "beam-temp-part-0a1b", out / "rejected" / "beam-temp-part-99ff",
                     out / f"{STAGING_PREFIX}empty"):
        leftover.mkdir(parents=True)
    (out / f"{STAGING_PREFIX}killed" / "documents" / "beam-temp-part-0a1b" / "tmp").write_bytes(b"x")
    report = run_curate([str(_jsonl(tmp_path / "b.jsonl", 4, "new"))], str(out), parse_recipe(RECIPE))
    assert report.outputs["documents"] == 4
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "documents" / "README").read_text() == "mine too"
    assert (out / "other" / "beam-temp-keep" / "x").exists()
    assert _ours(out) == ["other/beam-temp-keep"]
    parts = sorted(p.name for p in (out / "documents").iterdir() if p.name.startswith("part-"))
    texts = [t for p in parts for t in pq.read_table(out / "documents" / p).column("text").to_pylist()]
    assert sorted(texts) == sorted(f"new number {i} of the test corpus" for i in range(4))
    assert json.loads((out / "report.json").read_text())["inputs"] == [str(tmp_path / "b.jsonl")]


def _fail(_):
    raise RuntimeError("the job fails after its writes started")


def test_failed_run_keeps_previous_outputs_and_leaves_no_staging(previous_run, tmp_path, monkeypatch):
    out = _previous(previous_run, tmp_path)
    before = _snapshot(out)
    real_build = curate.build_curate_pipeline

    def failing_build(p, inputs, output_dir, recipe, **kwargs):
        real_build(p, inputs, output_dir, recipe, **kwargs)
        _ = p | "Boom" >> beam.Create([1]) | "Fail" >> beam.Map(_fail)

    monkeypatch.setattr(curate, "build_curate_pipeline", failing_build)
    with pytest.raises(Exception, match="the job fails after its writes started"):
        run_curate([str(_jsonl(tmp_path / "b.jsonl", 6, "new"))], str(out), parse_recipe(RECIPE))
    assert _snapshot(out) == before
    assert _ours(out) == []


@pytest.mark.slow  # ~7 s: a curate child killed mid-run, then a rerun
def test_killed_run_leaves_previous_outputs_and_the_next_run_cleans_up(previous_run, tmp_path):
    out = _previous(previous_run, tmp_path)
    before = _snapshot(out)
    big = _jsonl(tmp_path / "big.jsonl", 20000, "big")
    cmd = [sys.executable, "-m", "pipelines.cli", "curate", "-i", str(big), "-o", str(out),
           "--recipe", str(_recipe_file(tmp_path))]
    own_tmp = tmp_path / "tmp"  # what the killed child cannot clean up (Beam's pipeline temp dir) stays in here
    own_tmp.mkdir()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "TMPDIR": str(own_tmp)})
    killed = False
    deadline = time.time() + 120
    try:
        while time.time() < deadline and proc.poll() is None:
            if any(p.name.startswith(STAGING_PREFIX) for p in out.iterdir()):
                os.killpg(proc.pid, signal.SIGKILL)
                killed = True
                break
            time.sleep(0.005)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert killed, "the run finished before its staging directory was seen: the kill did not happen"
    assert _snapshot(out) == {k: v for k, v in _snapshot(out).items() if STAGING_PREFIX in k} | before
    assert [p.name for p in out.iterdir() if p.name.startswith(STAGING_PREFIX)]
    report = run_curate([str(_jsonl(tmp_path / "c.jsonl", 2, "after"))], str(out), parse_recipe(RECIPE))
    assert report.outputs["documents"] == 2
    assert _ours(out) == []


class _MemoryWriter(io.BytesIO):
    def __init__(self, store, path):
        super().__init__()
        self._store, self._path = store, path

    def close(self):
        if not self.closed:
            self._store[self._path] = self.getvalue()
        super().close()


class MemoryObjectStore(FileSystem):
    """An object store in this process (no directories, "dirs" are key prefixes, as on gs://): curate must reach
    its output only through Beam FileSystems for a URI output to work."""

    objects: dict = {}

    @classmethod
    def scheme(cls):
        return "memtest"

    def join(self, basepath, *paths):
        return "/".join([basepath.rstrip("/")] + [p.strip("/") for p in paths])

    def split(self, path):
        head, _, tail = path.rstrip("/").rpartition("/")
        return head, tail

    def mkdirs(self, path):
        pass

    def has_dirs(self):
        return False

    def _list(self, dir_or_prefix):
        for key in sorted(self.objects):
            if key.startswith(dir_or_prefix):
                yield FileMetadata(key, len(self.objects[key]), 0.0)

    def create(self, path, mime_type="application/octet-stream", compression_type=CompressionTypes.AUTO):
        return _MemoryWriter(self.objects, path)

    def open(self, path, mime_type="application/octet-stream", compression_type=CompressionTypes.AUTO):
        return io.BytesIO(self.objects[path])

    def copy(self, source_file_names, destination_file_names):
        for src, dst in zip(source_file_names, destination_file_names):
            self.objects[dst] = self.objects[src]

    def rename(self, source_file_names, destination_file_names):
        for src, dst in zip(source_file_names, destination_file_names):
            self.objects[dst] = self.objects.pop(src)

    def exists(self, path):
        return path in self.objects

    def size(self, path):
        return len(self.objects[path])

    def last_updated(self, path):
        return 0.0

    def checksum(self, path):
        return str(len(self.objects[path]))

    def metadata(self, path):
        return FileMetadata(path, len(self.objects[path]), 0.0)

    def delete(self, paths):
        for path in paths:
            doomed = [k for k in self.objects if k.startswith(path)] if path.endswith("/") else \
                [m.path for m in self.match([path])[0].metadata_list]
            for key in doomed:
                del self.objects[key]


def test_object_store_output_is_staged_published_and_cleaned_through_beam_filesystems(tmp_path, monkeypatch):
    monkeypatch.setattr(MemoryObjectStore, "objects", {})
    store = MemoryObjectStore.objects
    out = "memtest://bucket/curated"
    store[f"{out}/notes.txt"] = b"mine"
    store[f"{out}/documents/part-00003-of-00004.parquet"] = b"an older run's part"
    store[f"{out}/{STAGING_PREFIX}killed/documents/beam-temp-part-0a1b/tmp"] = b"left by a killed run"
    store[f"{out}/errors/beam-temp-part-99ff/tmp"] = b"left by a run before staging"
    with pytest.raises(ValueError, match="inside the output directory"):
        run_curate([f"{out}/documents/*.parquet"], out, parse_recipe(RECIPE))
    report = run_curate([str(_jsonl(tmp_path / "a.jsonl", 3))], out, parse_recipe(RECIPE))
    assert report.outputs["documents"] == 3
    names = sorted(k[len(out) + 1:] for k in store)
    assert "notes.txt" in names and "report.json" in names and "recipe.yaml" in names
    assert not [n for n in names if STAGING_PREFIX in n or "beam-temp-" in n], names
    assert "documents/part-00003-of-00004.parquet" not in names
    parts = [k for k in store if k.startswith(f"{out}/documents/part-")]
    rows = sum(pq.read_table(io.BytesIO(store[k])).num_rows for k in parts)
    assert rows == 3
    assert json.loads(store[f"{out}/report.json"])["outputs"]["documents"] == 3
