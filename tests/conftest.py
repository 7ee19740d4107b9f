"""Shared test fixtures: the location of ../shared/data and how tests behave when it is absent."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

SHARED_DATA = Path(os.environ.get("SFTBENCH_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def shared_data(relative: str) -> Path:
    """Path inside ../shared/data; skips the test where it is absent (a user's fresh clone) unless CI requires it."""
    path = SHARED_DATA / relative
    if not path.exists():
        message = (f"{path} not found: these tests read the public reference data in ../shared/data "
                   "(set SFTBENCH_SHARED_DATA to its location)")
        if os.environ.get("SFTBENCH_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(message + "; CI requires it")
        pytest.skip(message)
    return path


# Steps go to a store shared by every suite (suites/engine/view.py); a test never touches the user's: the session
# gets a throwaway default, and every test its own store.
os.environ["SFTBENCH_STORE"] = tempfile.mkdtemp(prefix="sftbench-test-store-")


@pytest.fixture(autouse=True)
def own_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    store = tmp_path / "store"
    monkeypatch.setenv("SFTBENCH_STORE", str(store))
    return store
