"""`winnow run` checks its options before the first step, a Ctrl-C that Beam wraps still ends a command as
interrupted (exit 130), and a pipeline built and never run leaves no temporary directory behind."""
from __future__ import annotations

import os

import pytest

from pipelines import cli


@pytest.mark.parametrize("argv, message", [
    (["--docs-port", "70000"], "70000 is not a port"),        # was an OverflowError traceback at bind
    (["--train-steps", "-1"], "-1 is not at least 1"),        # failed after crawl, curate and tokenize
    (["--seq-len", "0"], "0 is not at least 1"),              # failed after the tokenizer step
    (["--max-pages", "0"], "0 is not at least 1"),
])
def test_run_refuses_bad_numbers_before_any_step(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as stop:
        cli.main(["run", "-o", str(tmp_path / "out")] + argv)
    assert stop.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv, message", [
    (["--vocab-size", "100"], "--vocab-size 100 is below 258"),  # failed after crawl and curate
    (["--runner", "DataflowRunner", "--project=p", "--region=us-central1", "--temp_location=gs://bkt-x/tmp",
      "--dry_run=True", "--no_auth"], "each step of `winnow run` reads what the step before it wrote"),
])
def test_run_refuses_what_a_later_step_would_refuse_before_the_first(tmp_path, capsys, argv, message):
    # the dry run used to build the crawl job, then fail with AttributeError: 'NoneType' object has no attribute
    # 'stages' after the curate job (and wrote both to one --dataflow_job_file)
    assert cli.main(["run", "-o", str(tmp_path / "out")] + argv) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    assert not (tmp_path / "out").exists()


def test_a_ctrl_c_inside_a_beam_transform_ends_the_command_as_interrupted(capsys):
    """Beam re-raises a KeyboardInterrupt raised in a running transform as its own error: `winnow curate` said
    `error: KeyboardInterrupt [while running ...]` and exited 1."""
    import apache_beam as beam

    from pipelines.runtime.options import make_pipeline
    from schemas.errors import report_errors

    def interrupt(_):
        raise KeyboardInterrupt()

    def job():
        p = make_pipeline()
        _ = p | beam.Create([1, 2]) | beam.Map(interrupt)
        p.run().wait_until_finish()
        return 0

    assert report_errors("curate", job) == 130
    assert capsys.readouterr().err.strip().endswith("winnow curate: interrupted")


def test_an_unrun_pipelines_temporary_directory_goes_with_it_even_when_a_time_limit_lands_in_the_removal(monkeypatch):
    """Beam's Pipeline makes a temporary directory that only `run()` removes; make_pipeline removes it when the
    pipeline object goes. That removal runs wherever garbage collection runs, and a per-record time limit's
    exception landing in it left the directory (the finalizer swallowed the exception): it is tried again."""
    import gc

    from filters.deadline import DeadlineExceeded
    from pipelines.runtime import options

    pipeline = options.make_pipeline()  # built, never run
    tempdir = pipeline.local_tempdir
    assert os.path.isdir(tempdir)
    real_rmdir, calls = os.rmdir, []

    def interrupted_once(path, *args, **kwargs):  # shutil.rmtree's last step, the directory itself
        if os.fspath(path) == tempdir:  # (other pipelines left by earlier tests may be collected here too)
            calls.append(tempdir)
            if len(calls) == 1:
                raise DeadlineExceeded("over 1s of wall time")
        return real_rmdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "rmdir", interrupted_once)
    del pipeline
    gc.collect()
    monkeypatch.undo()
    assert len(calls) == 2 and not os.path.exists(tempdir), calls
