"""Fixtures shared by the test tiers.

Tests that read third-party data take it where it lies, in ../shared/data beside the checkout, and skip
with a visible reason when it is absent (a fresh clone has none; CI always has it).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("WINNOW_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (CI has it beside the checkout; "
                    f"set WINNOW_SHARED_DATA to point elsewhere)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def lid_model_file() -> Path:
    from filters.models import ModelMissingError, lid_model_path

    try:
        return lid_model_path()
    except ModelMissingError as exc:
        pytest.fail(str(exc))  # the README test command fetches it; its absence is a setup defect, not a skip
