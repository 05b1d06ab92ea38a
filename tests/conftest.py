"""Shared test set-up. Qt runs offscreen; real data is used when ../shared exists."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
RESOURCES = REPO / "resources"
REALDATA = (REPO.parent / "shared" / "realdata").resolve()


@pytest.fixture
def realdata() -> Path:
    """Path of ../shared/realdata; the test is skipped when it is absent."""
    if not REALDATA.is_dir():
        pytest.skip("../shared/realdata is absent")
    return REALDATA


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES
