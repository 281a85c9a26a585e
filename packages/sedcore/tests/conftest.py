"""Shared fixtures for sedcore tests."""

from pathlib import Path

import jax
import pytest

SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"


@pytest.fixture
def x64():
    """Run the test with float64 enabled (the user-facing opt-in), restored afterwards."""
    with jax.enable_x64(True):
        yield


@pytest.fixture
def shared_data() -> Path:
    """../shared/data beside the repository; skips when absent (e.g. a user's machine)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA}")
    return SHARED_DATA
