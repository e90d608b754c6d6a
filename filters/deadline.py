"""Per-record wall-time limits that fire on whichever thread does the work.

A SIGALRM handler only ever runs on the main thread, and Beam runs bundles on a thread pool (Dataflow's SDK
harness, the local runner's `--workers N`), so an alarm-based limit never fires there and one pathological
record stalls a worker. Here one watchdog thread per process holds a heap of deadlines. When one passes,
the watchdog either raises `DeadlineExceeded` in the thread that set it (`PyThreadState_SetAsyncExc`,
delivered at that thread's next bytecode boundary, main thread or not) or, when the deadline was given an
`on_expiry` callback, calls that instead (the crawler shuts its socket down, so a blocked `recv` returns).
An exception that does not end the block (a library's `except BaseException:` swallowed it, or CPython 3.11 lost
it: measured, a 0.3 s limit on trafilatura fired only when the 4 s call finished, in a process where a Beam job
had left its thread pool) is sent again every `RESEND_SECONDS` until the owner leaves its block.

Trade-off: an asynchronous exception cannot interrupt one long C call that holds the GIL (a backtracking
regular expression, lxml parsing a huge document); it arrives as soon as that call returns. Such calls are
bounded where they are made instead: caps on page bytes and tags before extraction, regular expressions on
untrusted text written to run in linear time (filters/pii.py), and socket timeouts on every read.
The same delivery point is why the watchdog's own locks are bare C locks (see `_Watchdog`); a library lock
taken through a Python-level wrapper inside a limited block (logging's handler lock, say) could in principle be
left held if the exception lands between its acquire and its `try`, which no limit based on asynchronous
exceptions can rule out.

`DeadlineExceeded` is a BaseException, like KeyboardInterrupt, so that a library's `except Exception:`
around the interrupted code does not swallow it; callers catch it by name. If the work finishes after the
deadline passed but before the exception arrived (or a bare `except:` swallowed it), leaving the block still
raises it: a record over its limit is over its limit, however the race falls. Forked children (Beam's
forked SDK workers) start their own watchdog on first use.

The exception can also land on the first instruction of `__exit__` itself, before it tells the watchdog the block
is over: the `with` statement then raises it (right), but the watchdog still counted the owner as inside and, from
then on, sent it again every `RESEND_SECONDS` into whatever the thread did next (a CI run: pytest's own code, until
the session died). No Python code can close that gap, so the watchdog asks the interpreter instead: `__exit__` is a
descriptor, the `with` statement looks it up before `__enter__` and holds what it got on its frame's stack until the
statement ends, however it ends; the watchdog keeps only a weak reference to that object and sends nothing once it
is gone (`Deadline._left`).
"""
from __future__ import annotations

import _thread
import ctypes
import functools
import heapq
import itertools
import logging
import os
import threading
import time
import weakref
from typing import Callable, List, Optional

log = logging.getLogger(__name__)


RESEND_SECONDS = 0.25  # a fired limit whose owner is still in its block after this gets its exception again


class DeadlineExceeded(BaseException):
    """The wall-time limit of the enclosing `deadline(...)` block passed."""


def _set_async_exc(thread_id: int, exc_type: Optional[type]) -> int:
    # None clears an exception that was set and not yet delivered.
    return ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc_type) if exc_type is not None else None)


class _ExitLookup:
    """`Deadline.__exit__`: each lookup on an instance returns a fresh callable and records a weak reference to
    it. The `with` statement looks `__exit__` up before calling `__enter__` and holds the result on its frame's
    stack until the statement ends (normally, or by an exception, even one raised before `__exit__` ran a line);
    `__enter__` adopts that reference, so the watchdog can tell from it whether the owner is still inside."""

    def __get__(self, instance, owner=None):
        if instance is None:
            return owner._exit
        bound = functools.partial(owner._exit, instance)  # a partial, not a method: its frame holds no `bound`
        instance._looked_up = weakref.ref(bound)
        return bound


class Deadline:
    """A context manager: `with deadline(seconds):` raises DeadlineExceeded in this thread after `seconds`;
    `with deadline(seconds, on_expiry=f):` calls `f()` from the watchdog thread instead. `expired` tells
    afterwards whether the limit passed. `seconds <= 0` or None means no limit."""

    def __init__(self, seconds: Optional[float], on_expiry: Optional[Callable[[], None]] = None,
                 message: Optional[str] = None):
        self.seconds = seconds
        self.on_expiry = on_expiry
        self.message = message or (f"over {seconds:g}s of wall time" if seconds else "deadline passed")
        self.expired = False
        self.when = 0.0
        self._thread_id = 0
        self._active = False
        self._inside = False  # the raising form's owner is inside its block (under the watchdog's lock)
        self._resend_at = 0.0
        self._looked_up: Optional[weakref.ref] = None  # what `__exit__`'s lookup handed out last
        self._statement: Optional[weakref.ref] = None  # the same, held by the `with` statement that armed this

    def _left(self) -> bool:
        """Whether the `with` statement that armed this limit has ended (its hold on the looked-up `__exit__`
        is gone) without `__exit__` getting as far as disarming it. False when armed some other way
        (`__enter__` called by hand, contextlib.ExitStack): then only `__exit__` disarms."""
        return self._statement is not None and self._statement() is None

    def remaining(self) -> Optional[float]:
        """Seconds left (not below 0), or None without a limit."""
        if not self.seconds or self.seconds <= 0:
            return None
        return max(0.0, self.when - time.monotonic())

    def __enter__(self) -> "Deadline":
        looked_up, self._looked_up = self._looked_up, None
        if self.seconds and self.seconds > 0:
            self._statement = looked_up if looked_up is not None and looked_up() is not None else None
            self._thread_id = threading.get_ident()
            self.when = time.monotonic() + self.seconds
            try:
                _watchdog().add(self)
            except BaseException:  # an enclosing limit's exception arrived here: leave nothing armed behind
                _watchdog().cancel(self)
                raise
        return self

    def _exit(self, exc_type, exc, tb) -> bool:
        if not (self.seconds and self.seconds > 0):
            return False
        try:
            fired = _watchdog().cancel(self)
        except BaseException:  # this or an enclosing limit's exception arrived first: still disarm this one
            _watchdog().cancel(self)
            raise
        if not fired or self.on_expiry is not None:
            return False
        # Raising form and the limit passed: a pending exception must not surface after the block.
        _set_async_exc(self._thread_id, None)
        if exc_type is None or issubclass(exc_type, DeadlineExceeded):
            raise DeadlineExceeded(self.message) from None
        return False  # another exception ended the block first: let it through

    __exit__ = _ExitLookup()


def deadline(seconds: Optional[float], on_expiry: Optional[Callable[[], None]] = None,
             message: Optional[str] = None) -> Deadline:
    return Deadline(seconds, on_expiry, message)


def armed(thread_id: Optional[int] = None) -> List[Deadline]:
    """The limits of this process (of `thread_id`'s blocks only, when given) whose owner has not left its block:
    set and not yet passed, or passed with the exception still being sent. After a block ends there is none of
    it: tests/conftest.py checks that after every test, so that a limit left behind fails the test that left it
    instead of firing into later ones."""
    dog = _instance
    if dog is None:
        return []
    with dog._lock:
        found = [entry[2] for entry in dog._heap if entry[2]._active] + [d for d in dog._fired if d._inside]
    return [d for d in found if not d._left() and (thread_id is None or d._thread_id == thread_id)]


def disarm(d: Deadline) -> None:
    """Take `d` off the watchdog (nothing fires or is sent again), whatever its block did."""
    if _instance is not None:
        _instance.cancel(d)


class _Watchdog:
    """One daemon thread and a heap of (when, seq, Deadline). Cancelled entries are removed lazily, and the
    heap is compacted when they outnumber the live ones (a stream of fast records leaves many behind).

    Every lock here is a bare C lock taken with `with`: an owner thread may have a DeadlineExceeded pending
    when it calls `add` or `cancel`, and CPython delivers it at the next eval-breaker check. Inside
    threading.Condition's Python-level `__enter__`/`__exit__` that check falls between acquiring and releasing,
    which leaked the lock and froze the watchdog (and every later `add`) for good. A C-level `__enter__` has no
    such gap, and an exception raised inside the `with` body releases the lock on the way out. The watchdog is
    woken by releasing a second bare lock it waits on, for the same reason (no Condition, no Event)."""

    def __init__(self):
        self._lock = _thread.allocate_lock()
        self._wake = _thread.allocate_lock()
        self._wake.acquire()  # held: the watchdog's `acquire(timeout=...)` on it is its sleep
        self._heap: List[tuple] = []
        self._seq = itertools.count()
        self._cancelled = 0
        self._fired: List[Deadline] = []  # raising deadlines that fired and whose owner is still in its block
        self._thread: Optional[threading.Thread] = None

    def _notify(self) -> None:
        try:
            self._wake.release()
        except RuntimeError:  # already released: a wake-up is pending
            pass

    def add(self, d: Deadline) -> None:
        with self._lock:
            d._active = True
            d._inside = d.on_expiry is None
            heapq.heappush(self._heap, (d.when, next(self._seq), d))
            first = self._heap[0][2] is d
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="winnow-deadline-watchdog", daemon=True)
                self._thread.start()
        if first:
            self._notify()

    def cancel(self, d: Deadline) -> bool:
        """Deactivate `d`; returns whether it had already fired."""
        with self._lock:
            d._inside = False  # no resend after this
            if d._active:
                d._active = False
                self._cancelled += 1
                if self._cancelled > 1024 and self._cancelled * 2 > len(self._heap):
                    self._heap = [entry for entry in self._heap if entry[2]._active]
                    heapq.heapify(self._heap)
                    self._cancelled = 0
            return d.expired

    def _next_wait(self) -> Optional[float]:
        """Under the lock: drop cancelled entries at the top; seconds until the first live one or the next
        resend (None: neither)."""
        while self._heap and not self._heap[0][2]._active:
            heapq.heappop(self._heap)
            self._cancelled = max(0, self._cancelled - 1)
        self._fired = [d for d in self._fired if d._inside and not d._left()]
        times = ([self._heap[0][0]] if self._heap else []) + [d._resend_at for d in self._fired]
        return min(times) - time.monotonic() if times else None

    def _run(self) -> None:
        while True:
            with self._lock:
                wait = self._next_wait()
            if wait is None:
                self._wake.acquire()
                continue
            if wait > 0:
                self._wake.acquire(timeout=wait)
                continue
            callbacks = []
            with self._lock:
                now = time.monotonic()
                for d in self._fired:  # fired, owner still inside: the exception was lost, send it again
                    if d._inside and d._resend_at <= now and not d._left():
                        d._resend_at = now + RESEND_SECONDS
                        _set_async_exc(d._thread_id, DeadlineExceeded)
                while self._heap and self._heap[0][0] <= now:
                    d = heapq.heappop(self._heap)[2]
                    if not d._active:
                        self._cancelled = max(0, self._cancelled - 1)
                        continue
                    if d._left():  # an exception (an enclosing limit's) ended the statement before `__exit__` ran
                        d._active = d._inside = False
                        continue
                    d._active, d.expired = False, True
                    if d.on_expiry is not None:
                        callbacks.append(d.on_expiry)
                    else:  # under the lock: the owner's __exit__ cannot slip between the check and the raise
                        _set_async_exc(d._thread_id, DeadlineExceeded)
                        d._resend_at = now + RESEND_SECONDS
                        self._fired.append(d)
            for callback in callbacks:  # outside the lock: a callback may block (a socket shutdown)
                try:
                    callback()
                except Exception:  # noqa: BLE001 -- the watchdog must outlive a failing callback
                    log.debug("deadline callback failed", exc_info=True)


_lock = _thread.allocate_lock()
_instance: Optional[_Watchdog] = None


def _watchdog() -> _Watchdog:
    global _instance
    if _instance is None:
        with _lock:
            if _instance is None:
                _instance = _Watchdog()
    return _instance


def _forget_after_fork() -> None:
    # The child has no watchdog thread (only the forking thread survives a fork), and the parent's lock may
    # have been held at the moment of the fork: start afresh.
    global _instance, _lock
    _instance, _lock = None, _thread.allocate_lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
