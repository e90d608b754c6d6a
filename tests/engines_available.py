"""Which extraction engines a test may skip. resiliparse is a dependency of every install (setup.py) and the
default `cascade` engine is built on it, so a broken resiliparse must fail the tests, not skip them; only
rs-trafilatura, declared for CPython 3.12 alone (its only wheels), may be missing, and only on another Python."""
from __future__ import annotations

import sys

import pytest

from pipelines.ingest.html import ENGINES

DECLARED_FOR = {"rs_trafilatura": (3, 12)}  # engine -> the only Python (major, minor) setup.py installs it on


def require_engine(name: str) -> None:
    """Skip (with the engine's own reason) where setup.py does not install `name` on this Python; fail where it
    does and the engine is still unavailable."""
    reason = ENGINES[name].unavailable_reason()
    if reason is None:
        return
    only = DECLARED_FOR.get(name)
    if only is not None and sys.version_info[:2] != only:
        pytest.skip(reason)
    pytest.fail(f"engine {name!r} is a declared dependency of this install (setup.py) but unavailable: {reason}")
