"""What the end-to-end tests need to build bench/stale.py's chain, and how they explain a failure.

The chain needs root (port 53 on 127.0.53.x) and the Debian packages knot and unbound (and gdnsd for
its reference run): under CI=true a missing piece fails the test, elsewhere it skips it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import NoReturn

import pytest

from bench.stale import Run, bind_problem, timeline
from harness.gdnsd import which_gdnsd
from harness.unbound import which_unbound
from tests.integration.knot import find_knotd


@dataclass(frozen=True, slots=True)
class Tools:
    knotd: str
    unbound: str
    gdnsd: str | None = None  # only where asked for


def unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: required under CI", pytrace=False)
    pytest.skip(reason)


def chain_tools(*, gdnsd: bool = False) -> Tools:
    """The servers' paths, once the chain's addresses are known to be free; fails or skips otherwise."""
    knotd = find_knotd()
    unbound = which_unbound()
    if unbound is None:
        unavailable("unbound (Debian package 'unbound') is not installed")
    reference = which_gdnsd() if gdnsd else None
    if gdnsd and reference is None:
        unavailable("gdnsd (Debian package 'gdnsd') is not installed; it is the reference for this test")
    problem = bind_problem()
    if problem is not None:
        unavailable(f"the chain needs port 53 on 127.0.53.x (root): {problem}")
    return Tools(knotd, unbound, reference)


def explain(run: Run) -> str:
    return "\n".join(timeline(run))
