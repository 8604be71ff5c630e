"""Zone files for a server without pools: each pool of the declarations written as static RRsets.

Knot (or any plain authoritative server) then answers a pool name with all of the pool's members,
which is what DNS round robin without gslb gives: the reference for the differential test, whose
allowance checks that gslb's pool answers are subsets of it, and the static side of the benchmark.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gslb.declare.apply import declared
from gslb.dns.zonefile import load_zones
from harness.knot import ZoneSource


def with_pools_as_static_rrsets(
    sources: Sequence[ZoneSource], declarations: Path, out: Path
) -> list[ZoneSource]:
    """Copies of ``sources`` in ``out`` with the pools declared in ``declarations`` appended."""
    inventory = declared(declarations, load_zones(declarations))
    written = []
    for source in sources:
        origin = source.origin.rstrip(".") + "."
        lines = [source.path.read_text()]
        for pool in inventory.pools:
            for owner in pool.names:
                if owner == origin or owner.endswith("." + origin):
                    for member in pool.members:
                        rdtype = "AAAA" if ":" in member.address else "A"
                        lines.append(f"{owner} {pool.ttl} IN {rdtype} {member.address}\n")
        path = out / source.path.name
        path.write_text("".join(lines))
        written.append(ZoneSource(source.origin, path))
    return written
