"""Live counts of a Beam job run in this process (documents read and kept, documents encoded).

The reporter itself, `Progress`, is schemas/progress.py (a terminal line redrawn in place; elsewhere a line a
minute, and nothing for a short run). Here is the Beam-side registry: the hook, `CountProgress(name, counter)`
in pipelines/transforms/progress.py (apart, so that `winnow stats` never imports apache_beam), is a
pass-through `PTransform` that adds each element it sees to the counter `counter` of the process-local
reporter registered as `name` (`beam_progress(name)` here registers and closes it around a pipeline run). It
shows live counts with the in-process runner (`direct_running_mode=in_memory`, Winnow's default for
`--workers 1`), where DoFns run in the driver's process; on other runners (multi-process, Dataflow) no
reporter is registered in the worker process and the hook counts nothing and costs one dictionary lookup per
bundle -- their own UIs show progress.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Dict, Iterator, Optional, Sequence, TextIO

from schemas.progress import LOG_INTERVAL, TTY_INTERVAL, Progress

__all__ = ["LOG_INTERVAL", "TTY_INTERVAL", "Progress", "beam_progress", "register", "reporter", "unregister"]

# ---------------------------------------------------------------------------------------------------------
# Beam hook: process-local registry, filled by CountProgress when DoFns run in the driver's process.
# ---------------------------------------------------------------------------------------------------------

_REPORTERS: Dict[str, Progress] = {}
_REGISTRY_LOCK = threading.Lock()


def register(name: str, reporter: Progress) -> Progress:
    with _REGISTRY_LOCK:
        _REPORTERS[name] = reporter
    return reporter


def unregister(name: str) -> None:
    with _REGISTRY_LOCK:
        reporter = _REPORTERS.pop(name, None)
    if reporter is not None:
        reporter.close()


def reporter(name: str) -> Optional[Progress]:
    return _REPORTERS.get(name)


@contextlib.contextmanager
def beam_progress(name: str, counters: Sequence[str] = ("read", "kept"), unit: str = "docs",
                  stream: Optional[TextIO] = None, tty: Optional[bool] = None) -> Iterator[Progress]:
    """Register a reporter `name` for CountProgress steps while a pipeline runs in this process."""
    rep = register(name, Progress(name, counters, unit=unit, stream=stream, tty=tty))
    try:
        yield rep
    finally:
        unregister(name)

