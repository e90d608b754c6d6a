"""`--workers N`: SDK workers forked from a zygote (pipelines.runtime.local_runner), results equal to one worker's."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import apache_beam as beam
import pytest

import pipelines.runtime.local_runner as local_runner
from pipelines.runtime.options import make_pipeline, quiet_beam_logging

REPO_ROOT = Path(__file__).resolve().parents[1]


def _run_noting(tmp_path: Path, workers: int, n: int = 64, name: str = ""):
    out = tmp_path / (name or f"w{workers}")
    out.mkdir()
    out_dir = str(out)

    def note(element):  # a nested function pickles by value: Beam's fresh subprocess workers need no import
        import os

        with open(os.path.join(out_dir, str(os.getpid())), "a") as f:
            f.write(f"{element}\n")
        return element

    quiet_beam_logging()
    p = make_pipeline(workers=workers)
    _ = p | beam.Create(list(range(n))) | beam.Reshuffle() | beam.Map(note)
    p.run().wait_until_finish()
    return {int(f.name): sorted(int(x) for x in f.read_text().split()) for f in out.iterdir()}


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked workers are Linux-only")
def test_two_workers_are_forked_processes_that_share_the_work_and_exit(tmp_path):
    one = _run_noting(tmp_path, 1)
    assert list(one) == [os.getpid()] and one[os.getpid()] == list(range(64))  # in-process runner
    if local_runner._zygote_refused:
        pytest.skip(f"this process cannot fork workers: {local_runner._zygote_refused}")
    two = _run_noting(tmp_path, 2)
    assert local_runner._zygote is not None
    assert len(two) == 2 and os.getpid() not in two  # two worker processes, neither the driver
    assert sorted(x for xs in two.values() for x in xs) == list(range(64))  # every element once
    assert all(len(xs) >= 16 for xs in two.values())  # the work is shared, not done by one
    zygote = local_runner._zygote.pid
    again = _run_noting(tmp_path, 2, name="again")
    assert local_runner._zygote.pid == zygote  # one zygote per driver process
    assert not set(again) & set(two)  # fresh workers per pipeline ...
    assert not any(_alive(pid) for pid in list(two) + list(again))  # ... which are gone when it returns


@pytest.mark.slow  # ~5 s: Beam's own subprocess workers start
def test_beams_subprocess_workers_when_forking_is_refused(tmp_path, monkeypatch):
    """A process that already runs gRPC threads is never forked: Beam's own subprocess workers run instead."""
    monkeypatch.setattr(local_runner, "_zygote", None)
    monkeypatch.setattr(local_runner, "_zygote_refused", "refused for the test")
    two = _run_noting(tmp_path, 2, n=16)
    assert os.getpid() not in two
    assert sorted(x for xs in two.values() for x in xs) == list(range(16))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked workers are Linux-only")
def test_zygote_keeps_no_socket_of_the_driver(tmp_path):
    """The zygote outlives the pipeline; a port the driver listened on when it was forked (the docs site of
    `winnow run`) must be free again once the driver closes it."""
    script = textwrap.dedent(f"""
        import socket, sys
        sys.path.insert(0, {str(REPO_ROOT)!r})
        import apache_beam as beam
        import pipelines.runtime.local_runner as local_runner
        import pipelines.runtime.options as options
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0)); listener.listen()
        port = listener.getsockname()[1]
        options.quiet_beam_logging()
        p = options.make_pipeline(workers=2)
        _ = p | beam.Create([1, 2, 3]) | beam.Map(lambda x: x + 1)
        p.run().wait_until_finish()
        assert local_runner._zygote is not None, local_runner._zygote_refused
        listener.close()
        again = socket.socket()
        again.bind(("127.0.0.1", port)); again.listen()
        print("rebound", port)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rebound" in proc.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked workers are Linux-only")
def test_a_one_element_stage_is_set_up_on_one_worker_only(tmp_path):
    """Beam would send the idle worker an empty bundle, making it unpickle and set up the stage's DoFns too."""
    out_dir = str(tmp_path)

    class NoteSetup(beam.DoFn):  # nested: pickled by value
        def setup(self):
            import os

            with open(os.path.join(out_dir, f"setup-{os.getpid()}"), "a") as f:
                f.write("x")

        def process(self, element):
            yield element

    quiet_beam_logging()
    p = make_pipeline(workers=2)
    _ = p | beam.Create(["only"]) | beam.ParDo(NoteSetup())
    p.run().wait_until_finish()
    assert len(list(tmp_path.glob("setup-*"))) == 1


@pytest.mark.slow  # ~20 s: two curates of a 2.5 MB crawl
@pytest.mark.shared_data
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked workers are Linux-only")
def test_curate_shares_a_big_archive_among_workers(shared_data, tmp_path):
    """One big WARC and `--workers 2`: the file is read as two strides of its records (one per worker), and the
    outputs equal one worker's; report.json gives the read pass's wall span."""
    import json

    from benchmarks.bench_workers import _curate_digest
    from pipelines.cli import main

    warc = str(shared_data / "warc/web_crawls/aut__IAH-archive.org-2008__example.warc.gz")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(json.dumps({"name": "shards", "extract": {"engine": "resiliparse"},
                                  "language": {"languages": ["en"]}}))
    reports = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        assert main(["curate", "--input", warc, "--output", str(out), "--recipe", str(recipe),
                     "--workers", str(workers)]) == 0
        reports[workers] = json.loads((out / "report.json").read_text())
    assert _curate_digest(str(tmp_path / "w1")) == _curate_digest(str(tmp_path / "w2"))
    one, two = (reports[w]["stages"][0] for w in (1, 2))
    assert one["name"] == two["name"] == "read" and one["in"] == two["in"] == 822
    assert one["kept"] == two["kept"] and one["dropped"] == two["dropped"]
    assert 0 < one["span_seconds"] <= reports[1]["wall_seconds"] and 0 < two["span_seconds"] <= reports[2]["wall_seconds"]


def test_dofn_specs_cache_gives_beams_answers():
    """`cache_dofn_specs` keeps Beam's state/timer specs per DoFn class (and per wrapped function): the same answer
    as Beam's own inspection, for a stateful DoFn, a plain one and Map wrappers of different functions."""
    from apache_beam.transforms import userstate
    from apache_beam.transforms.core import CallableWrapperDoFn
    from apache_beam.transforms.userstate import BagStateSpec, TimerSpec
    from apache_beam.transforms.timeutil import TimeDomain

    from pipelines.runtime.options import cache_dofn_specs

    class Stateful(beam.DoFn):
        BAG = BagStateSpec("bag", beam.coders.VarIntCoder())
        TIMER = TimerSpec("t", TimeDomain.WATERMARK)

        def process(self, kv, bag=beam.DoFn.StateParam(BAG), timer=beam.DoFn.TimerParam(TIMER)):
            yield kv

    class Plain(beam.DoFn):
        def process(self, x):
            yield x

    cache_dofn_specs()
    cache_dofn_specs()  # idempotent: one wrapper
    cached = userstate.get_dofn_specs
    assert getattr(cached, "_winnow_cached", False)
    for _ in range(2):  # the second call is served from the cache
        assert cached(Stateful()) == ({Stateful.BAG}, {Stateful.TIMER})
        assert cached(Plain()) == (set(), set())
        assert cached(CallableWrapperDoFn(len)) == (set(), set())
    assert userstate.is_stateful_dofn(Stateful()) and not userstate.is_stateful_dofn(Plain())
    with pytest.raises(ValueError, match="duplicate"):  # Beam's own validation still runs on a miss
        class Twice(beam.DoFn):
            def process(self, kv, a=beam.DoFn.StateParam(Stateful.BAG), b=beam.DoFn.StateParam(Stateful.BAG)):
                yield kv

        cached(Twice())


def test_function_arguments_cache_gives_beams_answers():
    """`cache_function_arguments` keeps Beam's (argument names, defaults) per function: for methods bound to
    different instances, the same function unbound, plain functions and a partial (not cached: asked afresh),
    the answers are Beam's own; a caller may change the lists it gets without changing the next answer."""
    import functools

    from apache_beam.transforms import core

    from pipelines.runtime.options import cache_function_arguments

    class Fn(beam.DoFn):
        def process(self, element, side=3, *args, key=beam.DoFn.KeyParam):
            yield element

    def plain(a, b=2):
        return a

    cache_function_arguments()
    cache_function_arguments()  # idempotent: one wrapper
    cached = core.get_function_args_defaults
    beams = cached._winnow_original
    assert beams is not cached and not getattr(beams, "_winnow_cached", False)
    cases = [Fn().process, Fn().process, Fn.process, plain, functools.partial(plain, 1)]
    answers = [(["element", "side"], [3]), (["element", "side"], [3]), (["self", "element", "side"], [3]),
               (["a", "b"], [2]), (["b"], [2])]
    for _ in range(2):  # the second round is served from the cache
        assert [cached(f) for f in cases] == [beams(f) for f in cases] == answers
    got = cached(plain)
    got[0].append("changed")
    assert cached(plain) == (["a", "b"], [2])
    assert core.get_function_arguments(Fn(), "process") == (["element", "side"], [3])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked workers are Linux-only")
@pytest.mark.parametrize("warm", [True, False])
def test_workers_start_with_what_the_zygote_warmed(warm, tmp_path):
    """`warm_workers` has the zygote load spaCy's tokenizer while the driver builds the job: forked workers then
    find it loaded without loading it themselves, and the driver never loads it (without the call they do not)."""
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(REPO_ROOT)!r})
        import apache_beam as beam
        import filters.text as text
        import pipelines.runtime.local_runner as local_runner
        import pipelines.runtime.options as options

        def note(element):
            import os
            import filters.text as text
            name = f"{{element}} {{os.getpid()}} {{text._SPACY_TOKENIZER is not None}}"
            open(os.path.join({str(tmp_path)!r}, name), "w").close()
            return element

        assert text._SPACY_TOKENIZER is None
        options.quiet_beam_logging()
        if {warm!r}:
            assert local_runner.warm_workers("filters.text:_spacy_tokenizer"), local_runner._zygote_refused
        p = options.make_pipeline(workers=2)
        _ = p | beam.Create(list(range(8))) | beam.Reshuffle() | beam.Map(note)
        p.run().wait_until_finish()
        assert text._SPACY_TOKENIZER is None  # the driver did not load it
        print("driver", os.getpid())
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    driver = [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("driver ")]
    seen = [name.split() for name in os.listdir(tmp_path)]
    assert sorted(int(element) for element, _, _ in seen) == list(range(8))
    assert driver and all(pid != driver[0] for _, pid, _ in seen)
    assert {flag for _, _, flag in seen} == {str(warm)}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked workers are Linux-only")
def test_forked_workers_start_without_info_lines_at_the_warning_level(tmp_path):
    """Beam's harness sets the root logger to INFO while it starts; a forked worker of a driver that logs at
    WARNING (the CLI's default) must not print Beam's start-up chatter into the user's terminal."""
    script = textwrap.dedent(f"""
        import logging, sys
        sys.path.insert(0, {str(REPO_ROOT)!r})
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        import apache_beam as beam
        import pipelines.runtime.local_runner as local_runner
        import pipelines.runtime.options as options
        p = options.make_pipeline(workers=2)
        _ = p | beam.Create(list(range(8))) | beam.Reshuffle() | beam.Map(lambda x: x + 1)
        p.run().wait_until_finish()
        assert local_runner._zygote is not None, local_runner._zygote_refused
        logging.getLogger("apache_beam.runners.worker.sdk_worker").warning("a warning still shows")
        print("done")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "done" in proc.stdout
    assert "a warning still shows" in proc.stderr
    assert "INFO" not in proc.stderr, proc.stderr[-3000:]
