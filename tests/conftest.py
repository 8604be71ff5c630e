"""Shared test fixtures: paths, and running gslb servers on free loopback ports."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_ZONES = ROOT / "zones"
TEST_ZONES = ROOT / "tests" / "data" / "zones"


@pytest.fixture(scope="session")
def example_zones() -> Path:
    return EXAMPLE_ZONES


@pytest.fixture(scope="session")
def test_zones() -> Path:
    return TEST_ZONES
