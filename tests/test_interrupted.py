"""Interrupted tokenize runs (issue #11): a run killed mid-write leaves nothing `winnow verify` accepts as
complete (the manifest is written last), and rerunning the same command completes with shards and manifest
byte-identical to an uninterrupted run."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from corpora import word_corpus_with_tokenizer
from pipelines.jobs.tokenize import run_tokenize_job
from pipelines.tools.verify import VerifyError, verify_shards
from schemas import MANIFEST_NAME

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # ~40 s: 1,500-document tokenize runs, one killed mid-write through the CLI
SEQ_LEN = 64


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("interrupted")
    word_corpus_with_tokenizer(root, root / "docs", 1500, seed=7, words_per_doc=(5, 200))
    ref = root / "ref"
    run_tokenize_job(str(root / "docs"), str(root / "tok"), str(ref), SEQ_LEN, rows_per_shard=40)
    verify_shards(str(ref))
    return root, ref


def _files(d: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.name.startswith("shard-") or p.name == MANIFEST_NAME}


def _winnow() -> list:
    """The console script of the interpreter running the tests (whatever virtualenv that is: ./.venv, or
    $WINNOW_VENV via dev.sh), else the same CLI as a module of that interpreter."""
    script = Path(sys.executable).parent / "winnow"
    return [str(script)] if script.exists() else [sys.executable, "-m", "pipelines.cli"]


def _cmd(root: Path, out: Path):
    return _winnow() + ["tokenize", "--input", str(root / "docs"), "--tokenizer", str(root / "tok"),
                        "--seq-len", str(SEQ_LEN), "--output", str(out), "--rows-per-shard", "40"]


def _writing(out: Path) -> list:
    """What shows the job has started writing its output: shard files or Beam temp directories, at any depth
    (a run may write into a staging directory inside the output)."""
    if not out.is_dir():
        return []
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.name.startswith(("shard-", "beam-temp-")))


def _kill_while_writing(cmd, out: Path, attempts: int = 3) -> list:
    """Starts `cmd`, and as soon as it has started writing, stops it (SIGSTOP: nothing more happens while the
    state is checked) and kills it. Returns what it had written. A run whose manifest was already written when
    it was stopped, or that exited before a poll saw it writing, was not interrupted mid-write: it is retried,
    and the test fails after `attempts` misses rather than passing without having tested anything."""
    misses = []
    for attempt in range(attempts):
        shutil.rmtree(out, ignore_errors=True)
        log = out.parent / f"{out.name}-attempt{attempt}.log"  # a file, not a pipe nobody drains while it runs
        own_tmp = out.parent / f"{out.name}-tmp{attempt}"  # what the killed child leaves in $TMPDIR stays here
        own_tmp.mkdir(exist_ok=True)
        with open(log, "wb") as stderr:
            proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True,
                                    env={**os.environ, "TMPDIR": str(own_tmp)})
        written, manifests, deadline = [], None, time.time() + 300
        try:
            while time.time() < deadline and proc.poll() is None and not written:
                written = _writing(out)
                if not written:
                    time.sleep(0.002)
            if written and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGSTOP)
                written = _writing(out)
                manifests = [str(p.relative_to(out)) for p in out.rglob(MANIFEST_NAME)]
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:  # it exited between the poll and the signal
            pass
        finally:
            proc.wait(timeout=60)
        if proc.returncode == -signal.SIGKILL and written and not manifests:
            return written
        misses.append(f"exit {proc.returncode}, saw {written[:3]}, manifest {manifests}, "
                      f"stderr {log.read_text(errors='replace')[-300:]!r}")
    pytest.fail(f"never caught {' '.join(cmd)} writing without its manifest in {attempts} attempts: either the "
                f"manifest is no longer written last, or the run is now too quick for the poll (make the input "
                f"larger): " + " | ".join(misses))


def _verify_rejects(out: Path, match: str, cli: bool = False) -> None:
    """verify_shards refuses `out`; with `cli`, so does `winnow verify` (a process start: once per file is
    enough, the CLI's exit status and FAILED line on other damage are tests/test_verify_checks.py's)."""
    with pytest.raises(VerifyError, match=match):
        verify_shards(str(out))
    if not cli:
        return
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "verify", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "FAILED" in proc.stderr, proc.stderr


def test_partial_directories_are_rejected_and_a_rerun_repairs_them(corpus, tmp_path):
    root, ref = corpus
    reference = _files(ref)
    assert len(reference) > 3
    shards = sorted(n for n in reference if n.startswith("shard-"))
    # 1. shards written, manifest not yet
    no_manifest = tmp_path / "no_manifest"
    shutil.copytree(ref, no_manifest)
    (no_manifest / MANIFEST_NAME).unlink()
    _verify_rejects(no_manifest, "did not complete")
    # 2. manifest present but a shard cut short (a copy interrupted after the manifest, or a torn write)
    truncated = tmp_path / "truncated"
    shutil.copytree(ref, truncated)
    data = (truncated / shards[0]).read_bytes()
    (truncated / shards[0]).write_bytes(data[: len(data) // 2])
    _verify_rejects(truncated, r"\d+ bytes, (the )?manifest says \d+")
    # 3. a manifest cut short while it was being written
    torn = tmp_path / "torn"
    shutil.copytree(ref, torn)
    (torn / MANIFEST_NAME).write_bytes((ref / MANIFEST_NAME).read_bytes()[:100])
    _verify_rejects(torn, "not a valid manifest")
    # 4. some shards only, plus a stray shard of a different layout from another run
    partial = tmp_path / "partial"
    partial.mkdir()
    shutil.copy(ref / shards[0], partial / shards[0])
    (partial / "shard-00009-of-00099.parquet").write_bytes(b"PAR1")
    _verify_rejects(partial, "did not complete")
    # rerunning into each damaged directory gives the reference bytes exactly (into shards without their
    # manifest: the rerun after the kill below, whose directory is in that state)
    for out in (truncated, partial):
        run_tokenize_job(str(root / "docs"), str(root / "tok"), str(out), SEQ_LEN, rows_per_shard=40)
        assert _files(out) == reference, out
        verify_shards(str(out))


def test_killed_cli_run_is_not_accepted_and_rerun_is_byte_identical(corpus, tmp_path):
    root, ref = corpus
    out = tmp_path / "killed"
    written = _kill_while_writing(_cmd(root, out), out)
    print(f"killed mid-write with {len(written)} output files written: {written[:4]}")
    assert not (out / MANIFEST_NAME).exists()
    _verify_rejects(out, "did not complete", cli=True)
    rerun = subprocess.run(_cmd(root, out), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert _files(out) == _files(ref)
    verify_shards(str(out))
    leftovers = [p.name for p in out.iterdir() if p.name.startswith(("beam-temp-", ".winnow-staging-"))]
    assert not leftovers, f"the rerun left the killed run's temporary files behind: {leftovers}"
