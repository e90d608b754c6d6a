"""Per-record time limits fire on whichever thread does the work (issue 16, item 4).

Beam's SDK harness runs bundles on a thread pool (Dataflow, `--workers N`), where a SIGALRM limit never
fires. filters.deadline's watchdog must stop a busy record on a non-main thread, in a forked worker, and in a
real `--workers 2` curate run, where the page over the limit becomes a `timeout` rejection and the report
balances. Regular expressions run on untrusted text cannot be interrupted that way; every pattern in
filters/ must run in (near) linear time on hostile text instead.
"""
from __future__ import annotations

import glob
import io
import os
import re
import threading
import time

import pyarrow.parquet as pq
import pytest

from filters.deadline import DeadlineExceeded, armed, deadline, disarm
from pipelines.ingest.html import ExtractConfig, extract_record
from pipelines.ingest.records import BODY, CONTENT_TYPE, HTTP_STATUS
from schemas import ID, SOURCE, URL


def _busy_forever():
    while True:
        sum(range(1000))


def _in_thread(fn):
    """Run fn() on a fresh non-main thread; (its return value or exception, seconds it took)."""
    out = {}

    def target():
        start = time.monotonic()
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 -- the test inspects it
            out["value"] = exc
        out["seconds"] = time.monotonic() - start

    thread = threading.Thread(target=target, name="not-main")
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "the limit never fired: the thread is still running after 60 s"
    return out["value"], out["seconds"]


def test_deadline_stops_a_busy_non_main_thread_and_is_not_swallowed():
    def limited():
        with deadline(0.3, message="record over 0.3s"):
            while True:
                try:  # a library's broad handler around the slow code must not eat the limit
                    sum(range(1000))
                except Exception:
                    pass

    value, seconds = _in_thread(limited)
    assert isinstance(value, DeadlineExceeded) and "record over 0.3s" in str(value)
    assert 0.3 <= seconds < 3


def test_deadline_on_the_main_thread_and_nothing_fires_after_a_block_that_finished():
    start = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        with deadline(0.2):
            _busy_forever()
    assert time.monotonic() - start < 3
    time.sleep(0.3)
    sum(range(200_000))  # a stray exception (one sent again after the block) would surface here


_NEAR_THE_EDGE = """
import random, sys, threading, time
from filters.deadline import DeadlineExceeded, deadline

def burn():
    while True:
        sum(range(1000))

threading.Thread(target=burn, daemon=True).start()
sys.setswitchinterval(0.0001)  # the owner is often descheduled with an exception pending: it lands everywhere
random.seed(7)
fired = 0
for trial in range(2):
    for _ in range(3000):  # limits about as long as the work: each block either finishes or raises
        try:
            with deadline(random.uniform(0.0001, 0.001)):
                sum(range(5000))
        except DeadlineExceeded:
            fired += 1
    try:
        end = time.monotonic() + 0.6  # outside every block: nothing may arrive here
        while time.monotonic() < end:
            sum(range(100))
    except DeadlineExceeded:
        print("stray after", fired, "fired")
        sys.exit(1)
print("done", fired)
"""


def test_nothing_fires_after_blocks_that_ended_near_their_limit():
    # The exception often lands on the first instruction of __exit__, before it tells the watchdog the block is
    # over. Before the fix the watchdog then sent it again every 0.25 s, forever, into whatever the thread did
    # next: in a CI run it hit pytest's own code and ended the session (here: 3 of 3 runs leaked in the first
    # 3000 blocks). A child process, so that a stray exception fails this test and nothing else.
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", _NEAR_THE_EDGE], cwd=root, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("done"), (proc.stdout, proc.stderr[-2000:])
    assert int(proc.stdout.split()[-1]) > 0, "no limit fired: the test did not reach the race it is about"


def test_a_limit_whose_exit_never_ran_sends_nothing_after_its_statement():
    """The same gap made deterministic: an exception raised as `__exit__` starts (a trace function raises it at
    the call, where an asynchronous one can land) ends the statement before the limit is disarmed."""
    import sys

    from filters.deadline import _watchdog

    class Interrupted(BaseException):
        pass

    def raise_at_exit(frame, event, arg):
        if event == "call" and frame.f_code.co_name in ("__exit__", "_exit") \
                and frame.f_code.co_filename.endswith("deadline.py"):
            raise Interrupted
        return None

    limit = deadline(0.1)
    try:
        with pytest.raises(Interrupted):
            with limit:
                sys.settrace(raise_at_exit)
        sys.settrace(None)
        assert limit not in armed(threading.get_ident())  # the statement has ended: nothing of it is armed
        end = time.monotonic() + 0.5  # the limit passes in here, outside its statement: nothing may arrive
        while time.monotonic() < end:
            sum(range(100))
        assert not limit.expired
    finally:
        sys.settrace(None)
        _watchdog().cancel(limit)  # when this fails, leave nothing armed to hit the tests that follow


def test_an_exception_swallowed_inside_the_block_is_sent_again():
    """A library that catches BaseException (or loses the asynchronous exception: CPython 3.11 did, after a Beam
    job left its thread pool behind) does not keep the block running to its natural end."""
    started = time.monotonic()
    end = started + 6.0
    swallowed = []
    with pytest.raises(DeadlineExceeded):
        with deadline(0.2):
            try:
                while time.monotonic() < end:
                    pass
            except DeadlineExceeded:  # the first delivery, swallowed
                swallowed.append(time.monotonic() - started)
            while time.monotonic() < end:
                pass
    took = time.monotonic() - started
    assert swallowed and swallowed[0] < 2.0
    assert took < 3.0, took  # sent again a quarter of a second later, not left until the loop's 6 s end


def test_nested_deadlines_report_the_one_that_passed():
    with pytest.raises(DeadlineExceeded, match="outer"):
        with deadline(0.2, message="outer"):
            with deadline(30, message="inner"):
                _busy_forever()


def test_armed_lists_the_limits_of_blocks_still_open_and_disarm_takes_one_off():
    me = threading.get_ident()
    with deadline(30) as outer:
        with deadline(20, on_expiry=lambda: None) as inner:
            assert {id(d) for d in armed(me)} == {id(outer), id(inner)}
        assert [id(d) for d in armed(me)] == [id(outer)]
    assert armed(me) == []
    entered, release, theirs = threading.Event(), threading.Event(), []

    def other_thread():
        with deadline(30) as d:
            theirs.append((threading.get_ident(), d))
            entered.set()
            release.wait(10)

    worker = threading.Thread(target=other_thread)
    worker.start()
    assert entered.wait(10)
    try:
        assert armed(me) == [] and [id(d) for d in armed(theirs[0][0])] == [id(theirs[0][1])]
    finally:
        release.set()
        worker.join(10)
    assert armed(theirs[0][0]) == []
    by_hand = deadline(0.2)
    by_hand.__enter__()  # no `with` statement: only disarming ends it
    assert [id(d) for d in armed(me)] == [id(by_hand)]
    disarm(by_hand)
    assert armed(me) == []
    time.sleep(0.4)
    sum(range(200_000))  # disarmed before its 0.2 s: nothing arrives
    assert not by_hand.expired


def test_callback_form_runs_on_expiry_and_not_after_cancel():
    called = threading.Event()
    with deadline(0.1, on_expiry=called.set) as d:
        assert called.wait(5)
    assert d.expired
    quick = threading.Event()
    with deadline(0.2, on_expiry=quick.set) as d:
        pass
    time.sleep(0.4)
    assert not quick.is_set() and not d.expired


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_deadline_works_in_a_forked_child_of_a_process_that_used_one():
    with deadline(5):  # the parent's watchdog thread exists now; the child does not inherit it
        pass
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            with deadline(0.2):
                _busy_forever()
        except DeadlineExceeded:
            code = 0
        finally:
            os._exit(code)
    waited = time.monotonic()
    while time.monotonic() - waited < 30:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the forked child's deadline never fired")
    assert os.waitstatus_to_exitcode(status) == 0


def slow_page(rows: int = 8000) -> bytes:
    """~1 MB of link-bearing blocks in a main region: several seconds of trafilatura on one core, well under
    the byte and tag caps, so only the time limit can stop it. (The default `cascade` engine's resiliparse pass
    takes ~0.15 s on it, so these tests name the `trafilatura` engine: they check the limit, not an engine.)"""
    blocks = "".join(f"<div class='c{i % 7}'><p>Paragraph {i} with <a href='/l{i}'>a link</a> and some words "
                     f"to score.</p><span>x{i}</span></div>" for i in range(rows))
    return f"<html><body><main>{blocks}</main></body></html>".encode()


def test_extraction_limit_fires_off_the_main_thread():
    raw = {ID: "slow", SOURCE: "web", URL: "http://example.com/slow", BODY: slow_page(), HTTP_STATUS: 200,
           CONTENT_TYPE: "text/html; charset=utf-8"}
    (doc, reason), seconds = _in_thread(lambda: extract_record(raw, ExtractConfig(max_seconds=0.3, engine="trafilatura")))
    assert reason == "timeout" and seconds < 3, (reason, seconds)
    small = dict(raw, **{BODY: b"<html><body><p>" + b"A short page that extracts in milliseconds. " * 5
                         + b"</p></body></html>"})
    (doc, reason), _ = _in_thread(lambda: extract_record(small, ExtractConfig(max_seconds=5)))
    assert reason is None and "short page" in doc["text"]


def _write_warc(path: str, pages):
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for url, html in pages:
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(html),
                                                          http_headers=http))


def test_extraction_limit_under_two_workers(tmp_path):
    from pipelines.jobs.curate import run_curate
    from pipelines.jobs.recipe import parse_recipe

    normal = [(f"http://example.com/p{i}", b"<html><body><article><p>" + (f"Page {i} says something plain "
               f"and readable about topic {i}. ").encode() * 8 + b"</p></article></body></html>") for i in range(6)]
    warc = str(tmp_path / "pages.warc.gz")
    _write_warc(warc, normal[:3] + [("http://example.com/slow", slow_page())] + normal[3:])
    out = tmp_path / "out"
    start = time.monotonic()
    report = run_curate([warc], str(out), parse_recipe({"extract": {"max_seconds": 1.0, "engine": "trafilatura"}}), workers=2)
    assert time.monotonic() - start < 120
    extract = report.stage("extract")
    assert extract.balanced and extract.in_ == 7
    assert extract.dropped.get("timeout") == 1 and extract.kept == 6, extract
    rejected = [r for f in glob.glob(str(out / "rejected" / "*.parquet")) for r in pq.read_table(f).to_pylist()]
    assert [(r["url"], r["stage"], r["reason"]) for r in rejected] == [("http://example.com/slow", "extract", "timeout")]


# --- regular expressions on untrusted text -----------------------------------------------------------------

def _filter_patterns():
    import importlib
    import pkgutil

    import filters

    for info in pkgutil.iter_modules(filters.__path__):
        module = importlib.import_module(f"filters.{info.name}")
        for name, value in vars(module).items():
            if isinstance(value, re.Pattern):  # str and bytes patterns (bytes ones get the texts encoded)
                yield f"filters.{info.name}.{name}", value


# Inputs that make a backtracking pattern quadratic or worse: long runs of one class, alternations of two,
# and a near-miss of each kind of structure the filters look for (addresses, IPs, hex bytes, escapes).
_N = 40_000
HOSTILE_TEXTS = {
    "bang": "!" * _N, "brace-run": "{a}" * (_N // 3), "word-punct": "a!" * (_N // 2), "dots": "a." * (_N // 2),
    "at-domain": "!" * _N + "@" + "a" * _N, "at-labels": "x@" + "a." * (_N // 2) + "1",
    "local-then-at": ("a" * 60 + "!") * (_N // 61) + "@", "colons": "1:" * (_N // 2), "hex": "ab " * (_N // 3),
    "escapes": "\\u00" * (_N // 4), "brackets": "[1" * (_N // 2), "digits": "1." * (_N // 2),
    "newlines": "\n \n" * (_N // 3), "spaces": " " * _N,
}


@pytest.mark.parametrize("name,pattern", list(_filter_patterns()), ids=lambda v: v if isinstance(v, str) else "")
def test_filter_patterns_run_in_linear_time_on_hostile_text(name, pattern):
    for label, text in HOSTILE_TEXTS.items():
        subject = text.encode("utf-8") if isinstance(pattern.pattern, bytes) else text
        start = time.perf_counter()
        for _ in pattern.finditer(subject):
            pass
        seconds = time.perf_counter() - start
        # Linear patterns take milliseconds on 40 KB; a quadratic one took 8 s on 20 KB (EMAIL_RE before).
        assert seconds < 1.0, f"{name} took {seconds:.2f}s on {label!r} ({len(text)} chars)"


def test_pii_filter_on_hostile_text_is_fast_and_still_redacts():
    from filters.pii import PIIFilter

    f = PIIFilter()
    text = "!" * 200_000 + " contact: jane.doe+x@mail.example.org from 8.8.8.8 " + "{a}" * 50_000
    doc = {ID: "x", SOURCE: "web", "text": text}
    start = time.perf_counter()
    assert f.apply(doc) is None
    assert time.perf_counter() - start < 2.0
    assert "<EMAIL>" in doc["text"] and "<IP_ADDRESS>" in doc["text"] and "jane.doe" not in doc["text"]


_STORM = """
import sys, threading
from filters.deadline import DeadlineExceeded, deadline

def burn():
    while True:
        sum(range(1000))

threading.Thread(target=burn, daemon=True).start()
sys.setswitchinterval(0.0001)  # switch threads often: the pending exception lands at every possible point
fired = 0
for _ in range(20000):
    try:
        with deadline(0.0002):
            sum(range(100))
    except DeadlineExceeded:
        fired += 1
with deadline(5, message="still alive"):  # the watchdog must still serve a normal limit afterwards
    pass
print("done", fired)
"""


def test_a_storm_of_limits_expiring_at_the_block_edge_never_freezes_the_watchdog():
    # Each tiny limit fires about when its block ends, so the DeadlineExceeded is often pending while the owner
    # runs the watchdog's own add/cancel. With threading.Condition there, it landed between acquire and release
    # and leaked the lock: the next limit in the process waited forever (the CI run that timed out; here
    # 3 of 3 runs froze). A child process, so that a freeze fails this test instead of hanging the suite.
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        proc = subprocess.run([sys.executable, "-c", _STORM], cwd=root, capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail("20000 short limits froze the deadline watchdog (no exit within 90 s)")
    assert proc.returncode == 0, proc.stderr[-2000:]
    fired = int(proc.stdout.split()[-1])
    assert proc.stdout.startswith("done") and 0 < fired < 20000, proc.stdout
