"""Knot DNS as the reference server of the differential tests: skipped where knotd is missing, failed on CI.

Starting and stopping Knot is harness/knot.py, shared with bench/; this adds the test's view of a
missing knotd. It uses nothing from the gslb package.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pytest

from harness import knot
from harness.knot import ZoneSource
from harness.process import HOST

__all__ = ["KnotServer", "ZoneSource", "find_knotd"]


def find_knotd() -> str:
    """Return the path of knotd, or end the test: a loud failure on CI, a skip on a developer machine.

    CI is meant to have the Debian package, so a missing binary there is a broken environment that must not
    pass quietly as a skipped comparison.
    """
    path = knot.which_knotd()
    if path is not None:
        return path
    reason = "knotd (Debian package 'knot') is not installed; it is the reference server for this test"
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


class KnotServer(knot.KnotServer):
    """A knotd child process serving the given zone files on a loopback port, with knotd found for the test.

    Use it as a context manager: entering writes the configuration, starts knotd and returns once every
    zone answers its SOA over UDP and TCP; leaving stops the process and removes its directory.
    """

    def __init__(self, zones: Sequence[ZoneSource], host: str = HOST) -> None:
        super().__init__(zones, find_knotd(), host)
