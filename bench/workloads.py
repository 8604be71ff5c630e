"""Query files for dnsperf: one line per query (``NAME TYPE``), read in order and replayed in a loop."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

ZONE = "gslb.example.test"

MIX_STATIC: tuple[tuple[str, str], ...] = (
    (f"www.{ZONE}", "A"),
    (f"www.{ZONE}", "AAAA"),
    (f"mail.{ZONE}", "A"),
    (ZONE, "MX"),
    (ZONE, "SOA"),
    (ZONE, "NS"),
    (f"_http._tcp.www.{ZONE}", "SRV"),
    # api is a CNAME to www: asked for A (the chain plus www's addresses) and for the CNAME itself.
    (f"api.{ZONE}", "A"),
    (f"api.{ZONE}", "CNAME"),
)
MIX_REPEATS = 20
"""Each static query appears this often: 9 x 20 = 180 positive lines, next to 20 NXDOMAIN ones."""

NXDOMAIN_SHARE = 0.10
MIX_SEED = 20261125
"""A fixed shuffle, so every server and every round replays the very same sequence."""


@dataclass(frozen=True, slots=True)
class Workload:
    """A named list of queries, written once to a file that dnsperf replays."""

    name: str
    description: str
    queries: tuple[str, ...]

    def write(self, directory: Path) -> Path:
        path = directory / f"{self.name}.queries"
        path.write_text("\n".join(self.queries) + "\n")
        return path


def single_name() -> Workload:
    """The cheapest possible answer, over and over: the ceiling of the hot path."""
    return Workload("single", f"www.{ZONE} A only", (f"www.{ZONE} A",))


def mix() -> Workload:
    """Static names of several types, a CNAME, and 10% names that do not exist (NXDOMAIN with the SOA)."""
    positive = [f"{name} {rdtype}" for name, rdtype in MIX_STATIC] * MIX_REPEATS
    nxdomain_count = round(len(positive) * NXDOMAIN_SHARE / (1 - NXDOMAIN_SHARE))
    # Distinct names, so a server that caches negative answers per name gets no help from repetition.
    nxdomain = [f"nx-{index:03d}.{ZONE} A" for index in range(nxdomain_count)]
    queries = positive + nxdomain
    random.Random(MIX_SEED).shuffle(queries)
    description = (
        "www A/AAAA, mail A, apex MX/SOA/NS, _http._tcp.www SRV, api A/CNAME; "
        f"{nxdomain_count * 100 // len(queries)}% NXDOMAIN"
    )
    return Workload("mix", description, tuple(queries))


def all_workloads() -> tuple[Workload, ...]:
    return (single_name(), mix())
