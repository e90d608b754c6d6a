"""Fixtures shared by the test tiers.

Tests that read third-party data take it where it lies, in ../shared/data beside the checkout, and skip
with a visible reason when it is absent (a fresh clone has none; CI always has it).

`word_corpus` is built once per session and shared by the files that only need some documents and a
tokenizer trained on them (verify checks, stage shell, Dataflow dry runs): treat it as read-only and copy it
before damaging it.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("WINNOW_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def pytest_collection_modifyitems(config, items):
    """In a parallel run (pytest-xdist's workers, `bash dev.sh test`), the files that hold a `slow` test come first,
    each file whole and in its own order: the workers are handed files in this order, so the long files start at
    once and the many short ones fill the end, instead of one long file starting last while the other worker idles."""
    if not hasattr(config, "workerinput"):
        return
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)  # stable: the order inside each group stays


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (CI has it beside the checkout; "
                    f"set WINNOW_SHARED_DATA to point elsewhere)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def hq_model(tmp_path_factory):
    """A small quality classifier trained as `winnow classifier train` trains one (labels __label__hq/lq)."""
    import random

    from filters.classifier import train_quality_classifier

    rng = random.Random(0)
    hq = "the harbour town kept its lighthouse for a century and keepers wrote down the weather".split()
    lq = "click here buy now cheap offer free deal win prize best price today only limited".split()
    positive = [" ".join(rng.choice(hq) for _ in range(12)) for _ in range(100)]
    negative = [" ".join(rng.choice(lq) for _ in range(12)) for _ in range(100)]
    out = tmp_path_factory.mktemp("hq-model")
    train_quality_classifier(positive, negative, str(out), epoch=2, bucket=10_000)  # a 3 MB model, not 513 MB
    return out / "model.bin"


@pytest.fixture(scope="session")
def lid_model_file() -> Path:
    from filters.models import ModelMissingError, lid_model_path

    try:
        return lid_model_path()
    except ModelMissingError as exc:
        pytest.fail(str(exc))  # the README test command fetches it; its absence is a setup defect, not a skip


@pytest.fixture(scope="session")
def word_corpus(tmp_path_factory) -> Path:
    """The session corpus: `documents/` (100 seeded documents of random common words, sources web and books,
    ids d000..d099, one Parquet file) and `tok/`, a 300-token BPE tokenizer trained on them (tests/corpora.py)."""
    from corpora import word_corpus_with_tokenizer

    root = tmp_path_factory.mktemp("word-corpus")
    word_corpus_with_tokenizer(root, root / "documents", 100, seed=5, words_per_doc=(3, 120),
                               sources=("web", "books"), id_width=3)
    return root


@pytest.fixture(scope="session")
def fresh_run(tmp_path_factory):
    """Exactly what `bash dev.sh run` does, from an empty directory outside the checkout: `winnow run` with no
    options, so the output is the default relative `out`; (that directory, stdout). tests/test_run.py reads
    this one run (a whole chain costs ~100 s on 2 cores)."""
    winnow = Path(sys.executable).parent / "winnow"
    cmd = [str(winnow)] if winnow.exists() else [sys.executable, "-m", "pipelines.cli"]
    cwd = tmp_path_factory.mktemp("newcomer")
    proc = subprocess.run(cmd + ["run"], cwd=cwd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"winnow run exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return cwd, proc.stdout


@pytest.fixture(autouse=True)
def no_time_limit_outlives_its_test():
    """After each test, no `filters.deadline` limit of the main thread may still be armed: one left behind
    fires into whatever runs next (a CI run died of one inside pytest's own code). It is disarmed and this
    test, the one that left it, fails."""
    yield
    deadline = sys.modules.get("filters.deadline")
    if deadline is None:
        return
    import threading

    left = deadline.armed(threading.main_thread().ident)
    for d in left:
        deadline.disarm(d)
    assert not left, f"time limits still armed after the test: {[d.message for d in left]}"


@pytest.fixture()
def live_progress(monkeypatch):
    """`live_progress(job_module)`: the live progress lines `job_module` opens with `beam_progress` while a job
    runs, each into a StringIO as a log (not a terminal); returns the list the reporters are appended to."""
    import contextlib
    import io

    from pipelines.runtime.progress import beam_progress

    def record(module):
        shown = []

        @contextlib.contextmanager
        def recorded(name, counters, unit="docs"):
            with beam_progress(name, counters, unit=unit, stream=io.StringIO(), tty=False) as rep:
                shown.append(rep)
                yield rep

        monkeypatch.setattr(module, "beam_progress", recorded)
        return shown

    return record
