"""Progress of long local work (documents read, kept, elapsed, rate), shown without cluttering logs.

`Progress` is a small counter set with one renderer chosen once from the output stream:

- a terminal gets one line redrawn in place (`\\r`), at most `tty_interval` apart (0.2 s), so a scan of
  millions of rows costs a few hundred writes;
- anything else (a file, a pipe, CI logs) gets one plain line every `log_interval` seconds (60 s), and only
  when the work lasted that long: a short run writes nothing, a long run one line a minute, never a bar.

`close()` ends the line (terminal) or writes one summary line (when at least one periodic line was
written). Counters are plain ints behind a lock, cheap enough for per-element calls.

It lives in schemas/ (standard library only) so that every package's long local work shows it: `winnow stats`,
`verify` and `export` (pipelines/tools), `winnow tokenizer train` (tokenizer/) and `winnow classifier train`
(filters/). The Beam jobs' live counts are pipelines/runtime/progress.py, which registers these reporters.
"""
from __future__ import annotations

import sys
import threading
import time
from typing import Dict, Iterable, Iterator, Mapping, Optional, Sequence, TextIO

TTY_INTERVAL = 0.2
LOG_INTERVAL = 60.0


def _human(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.1f}{unit}"
    return f"{n:.0f}" if abs(n) >= 99.95 or float(n).is_integer() else f"{n:.1f}"


class Progress:
    """Named counters with a rate, drawn in place on a terminal and as sparse lines elsewhere."""

    def __init__(self, label: str, counters: Sequence[str] = ("read",), total: Optional[int] = None,
                 unit: str = "rows", stream: Optional[TextIO] = None, tty: Optional[bool] = None,
                 tty_interval: float = TTY_INTERVAL, log_interval: float = LOG_INTERVAL,
                 clock=time.monotonic):
        self.label, self.unit, self.total = label, unit, total
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.tty = bool(isatty and isatty()) if tty is None else tty
        self.interval = tty_interval if self.tty else log_interval
        self.counts: Dict[str, int] = {c: 0 for c in counters}
        self._clock = clock
        self.started = clock()
        self._last = self.started
        self._lines = 0
        self._lock = threading.Lock()
        self.closed = False

    @property
    def elapsed(self) -> float:
        return self._clock() - self.started

    def add(self, counter: str = "read", n: int = 1) -> None:
        self.add_counts({counter: n})

    def add_counts(self, counts: Mapping[str, int]) -> None:
        """Add to several counters at once (one line drawn at most)."""
        with self._lock:
            for counter, n in counts.items():
                self.counts[counter] = self.counts.get(counter, 0) + n
            now = self._clock()
            if now - self._last >= self.interval and not self.closed:
                self._last = now
                self._draw(now)

    def line(self) -> str:
        elapsed = max(self.elapsed, 1e-9)
        first = next(iter(self.counts), None)
        parts = [f"{name} {_human(v)}" for name, v in self.counts.items()]
        if self.total and first is not None:
            parts[0] += f"/{_human(self.total)} ({self.counts[first] / self.total:.0%})"
        rate = f"{_human(self.counts[first] / elapsed)} {self.unit}/s" if first is not None else ""
        return f"[{self.label}] " + ", ".join(parts) + f"; {elapsed:.0f}s, {rate}"

    def _draw(self, now: float) -> None:
        if self.tty:
            self.stream.write("\r" + self.line() + "\x1b[K")
        else:
            self.stream.write(self.line() + "\n")
        self._lines += 1
        self.stream.flush()

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
            if self.tty and self._lines:
                self.stream.write("\r" + self.line() + "\x1b[K\n")
            elif not self.tty and self._lines:
                self.stream.write(self.line() + " (done)\n")
            self.stream.flush()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def wrap(self, items: Iterable, counter: Optional[str] = None, weight=None) -> Iterator:
        """Yield `items`, adding 1 (or `weight(item)`) to `counter` (default: the first) for each."""
        counter = counter or next(iter(self.counts))
        for item in items:
            yield item
            self.add(counter, weight(item) if weight else 1)


def counted(items: Iterable, progress: Optional[Progress], counter: str) -> Iterable:
    """`items`, each one added to `progress`'s `counter` as it is taken (`items` itself without a reporter)."""
    return items if progress is None or progress.closed else progress.wrap(items, counter)


def add_to(progress: Optional[Progress], **counts: int) -> None:
    """Add `counts` (counter=n, ...) to `progress`; nothing without a reporter. For work that reports when asked."""
    if progress is not None:
        progress.add_counts(counts)


def hand_over_terminal(progress: Optional[Progress]) -> bool:
    """On a terminal, end `progress`'s line so that a library's own progress display (HF tokenizers' bars,
    fastText's line) can draw there instead; True when it did, and the library should show its own."""
    if progress is None or not progress.tty:
        return False
    progress.close()
    return True
