"""gdnsd as the reference of the stale-cache experiment (issue 10): with ``multifo`` and an ``http_status``
monitor every 2 s, gdnsd stops handing out a dead backend after its down threshold, a real resolver forgets
it once the cached answer expires, and the backend comes back after its up threshold.

The chain is the one of test_end_to_end.py (bench/stale.py) with gdnsd as the child on 127.0.53.3 port 53.
It needs root and the Debian packages knot, unbound and gdnsd: under CI=true a missing piece fails,
elsewhere it skips. What is asserted is what must hold for gdnsd to serve as a reference at all; the
figures themselves are bench/stale_window.py's to print.
"""

from __future__ import annotations

import pytest

from bench.stale import (
    BACKENDS,
    GDNSD_SERVICE,
    GDNSD_TTL,
    Child,
    Scenario,
    run_experiment,
    running_chain,
)
from tests.integration.chain import Tools, chain_tools, explain

pytestmark = pytest.mark.reference

MARGIN = 2.0
"""Unbound counts a TTL down in whole seconds and serves "ttl 0" for up to a second; the rest is the
client's period and a busy two-core machine."""
DETECTION_BOUND = GDNSD_SERVICE.down_thresh * GDNSD_SERVICE.interval + GDNSD_SERVICE.timeout + MARGIN
"""The first poll after the kill comes within one interval, the down_thresh-th one (down_thresh - 1)
intervals later, and it fails within the timeout (a refused connect fails at once)."""
WITHDRAWAL_BOUND = DETECTION_BOUND + GDNSD_TTL + 1.0
"""Detection, then the answer the resolver cached just before it for at most the zone's TTL (gdnsd's MAX;
it serves less) and the second Unbound still serves at "ttl 0"."""
RESTORE_BOUND = GDNSD_SERVICE.up_thresh * GDNSD_SERVICE.interval + GDNSD_SERVICE.timeout + GDNSD_TTL + MARGIN
"""up_thresh good polls in a row, then the cached two-address answer expires (at most the zone's TTL)."""


@pytest.fixture(scope="module")
def tools() -> Tools:
    return chain_tools(gdnsd=True)


def test_gdnsd_withdraws_a_dead_backend_within_detection_plus_ttl_and_restores_it(tools: Tools) -> None:
    # Kill at once after the warm-up rather than on a fresh answer: the bounds hold either way (they allow
    # a whole TTL of cache), and not waiting up to a TTL for a fresh answer keeps the test under a minute.
    scenario = Scenario(
        "gdnsd",
        Child.GDNSD,
        GDNSD_TTL,
        down_for=WITHDRAWAL_BOUND + 1.0,
        restore_limit=RESTORE_BOUND + 1.0,
        kill_fresh=False,
        track_child=True,
    )
    with running_chain(Child.GDNSD, tools.knotd, tools.unbound, gdnsd=tools.gdnsd) as chain:
        run = run_experiment(chain, scenario)
    everyone = frozenset(BACKENDS.values())
    before = [s for s in run.samples if s.at < run.killed_at]
    # multifo answers every address that is up: all three before the kill
    assert before and all(frozenset(s.addresses) == everyone for s in before), explain(run)
    assert run.served_ttl is not None and 0 < run.served_ttl <= GDNSD_TTL, explain(run)
    # gdnsd itself withdraws the dead address, after at least one poll and within its thresholds
    assert run.detection is not None, explain(run)
    assert 0 < run.detection <= DETECTION_BOUND, explain(run)
    # and the resolver forgets it within one cached answer after that
    assert not run.still_served_at_end, explain(run)
    assert run.withdrawal_window <= WITHDRAWAL_BOUND, explain(run)
    assert run.withdrawal_window <= run.detection + run.served_ttl + MARGIN, explain(run)
    assert run.failed_connects > 0, explain(run)
    # the restored backend is handed out again, by gdnsd and then by the resolver
    assert run.child_restore_delay is not None, explain(run)
    assert run.restore_delay is not None, explain(run)
    assert run.restore_delay <= RESTORE_BOUND, explain(run)
