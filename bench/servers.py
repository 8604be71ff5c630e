"""The servers under load: gslb, Knot DNS and gdnsd, each pinned to one CPU with taskset on a free
loopback port.

Starting, probing and stopping them is harness/, the integration tests' code: each server logs to a
file in its own temporary directory and is stopped by its PID when the ``with`` block ends. This module
only adds what the benchmark needs: the zones of a directory, the CPU pinning and a look at the log.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from harness.gdnsd import GdnsdServer
from harness.gslb import GslbProcess
from harness.knot import KnotServer, ZoneSource
from harness.static_pools import with_pools_as_static_rrsets

ZONE_SUFFIX = ".zone"
"""gslb names a zone after its file (``gslb.example.test.zone``); Knot is given the same origins."""

_TROUBLE = re.compile(r"level=(warning|error|critical)|Traceback|\berror\b|^(warning|fatal):", re.IGNORECASE)
"""gslb's levels, Python tracebacks, any ``error``, and gdnsd's line-leading ``warning:`` and ``fatal:``."""


def zone_sources(zones: Path) -> list[ZoneSource]:
    """Every ``*.zone`` file of the directory with the origin gslb derives from its name."""
    files = sorted(path for path in zones.iterdir() if path.is_file() and path.name.endswith(ZONE_SUFFIX))
    if not files:
        raise FileNotFoundError(f"no *{ZONE_SUFFIX} files in {zones}")
    return [ZoneSource(path.name[: -len(ZONE_SUFFIX)] + ".", path) for path in files]


def pinned(taskset: str, cpu: int) -> tuple[str, ...]:
    # taskset execs the server, so the PID we hold is the server's own (for /proc/PID/stat).
    return (taskset, "-c", str(cpu))


def gslb_server(
    repo_root: Path,
    zones: Path,
    taskset: str,
    cpu: int,
    workers: int = 1,
    environ: Mapping[str, str] | None = None,
) -> GslbProcess:
    """``python -m gslb serve`` from the repository checkout (gslb need not be installed); with
    ``workers`` > 1, ``--workers N``: a supervisor and N worker processes, all on ``cpu`` (the affinity
    taskset sets is inherited by every child)."""
    probe_zone = zone_sources(zones)[0].origin
    extra_args = ("--workers", str(workers)) if workers > 1 else ()
    return GslbProcess(
        zones,
        extra_args,
        probe_zone=probe_zone,
        workdir=repo_root,
        prefix=pinned(taskset, cpu),
        environ=environ,
    )


def gslb_has_workers_option(repo_root: Path) -> bool:
    """Whether this checkout's ``gslb serve`` takes ``--workers`` (gslb-w2 needs it)."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "gslb", "serve", "--help"],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=repo_root,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return "--workers" in done.stdout


def knot_server(knotd: str, zones: Path, taskset: str, cpu: int, scratch: Path) -> KnotServer:
    """knotd with one UDP, TCP and background worker, on copies of the same zone files in which each
    pool is a static RRset of all its members (plain round robin: what Knot can do)."""
    sources = with_pools_as_static_rrsets(zone_sources(zones), zones, scratch)
    return KnotServer(sources, knotd, prefix=pinned(taskset, cpu))


def gdnsd_server(gdnsd: str, zones: Path, taskset: str, cpu: int) -> GdnsdServer:
    """gdnsd with one UDP and one TCP thread, on copies of the same zone files in which each pool is a
    ``weighted`` DYNA resource built from the same declarations (answer_count addresses per answer)."""
    return GdnsdServer(zone_sources(zones), gdnsd, declarations=zones, prefix=pinned(taskset, cpu))


def trouble(log: str) -> list[str]:
    """Log lines that look like warnings or errors: worth a look after a run."""
    return [line for line in log.splitlines() if _TROUBLE.search(line)]
