"""What a short TTL costs (issue 10): queries reaching gslb from a real resolver for a steady client
population, with gslb's default (health-aware) TTL and with a fixed 30 s.

Usage: python bench/query_cost.py [--clients 50] [--rate 1] [--seconds 60]

The chain is bench/stale.py's (Knot parent delegating gslb.example.test to gslb, Unbound resolving, three
HTTP backends checked by gslb), needing root for port 53 on 127.0.53.x. ``--clients`` clients each ask
Unbound for www.gslb.example.test every ``1 / --rate`` seconds (spread evenly) for ``--seconds``; the
queries reaching gslb are counted from its own ``gslb_dns_queries_total`` (every name and type, so the
resolver's own lookups count too). Two runs: the pool with a check and gslb's defaults (a settled pool
answers with the 1 s stable TTL), and the pool with ``ttl = 30`` and no check (a fixed 30 s).
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from bench.stale import Child, DeclaredCheck, bind_problem, resolve, running_chain  # noqa: E402
from harness.gslb import GslbProcess  # noqa: E402
from harness.knot import which_knotd  # noqa: E402
from harness.unbound import which_unbound  # noqa: E402

FIXED_TTL = 30
SETTLE = 4.0
"""Seconds before counting: every member checked twice (settled) and the resolver's cache warm."""


@dataclass(frozen=True, slots=True)
class Cost:
    label: str
    ttl: int | None  # the TTL the resolver handed out (the largest seen)
    client_queries: int
    gslb_queries: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.gslb_queries / self.seconds


def gslb_queries(server: GslbProcess) -> int:
    """Every query gslb has answered, from its metrics (no token needed for /metrics)."""
    with urllib.request.urlopen(f"{server.api_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return round(
        sum(
            sample.value
            for family in text_string_to_metric_families(text)
            if family.name == "gslb_dns_queries"
            for sample in family.samples
            if sample.name == "gslb_dns_queries_total"
        )
    )


def measure(label: str, ttl: int | None, clients: int, rate: float, seconds: float) -> Cost:
    knotd, unbound = which_knotd(), which_unbound()
    if knotd is None:
        raise SystemExit("query_cost: needs knotd (Debian package 'knot')")
    if unbound is None:
        raise SystemExit("query_cost: needs unbound (Debian package 'unbound')")
    check = DeclaredCheck() if ttl is None else None
    with running_chain(Child.GSLB, knotd, unbound, ttl=ttl, check=check) as chain:
        assert isinstance(chain.child_server, GslbProcess)
        resolver = chain.resolver.host
        time.sleep(SETTLE)
        resolve(resolver)
        before = gslb_queries(chain.child_server)
        period = 1.0 / (clients * rate)
        start = time.monotonic()
        asked, highest = 0, None
        while (now := time.monotonic()) - start < seconds:
            _, _, served = resolve(resolver)
            asked += 1
            if served is not None and (highest is None or served > highest):
                highest = served
            time.sleep(max(0.0, start + asked * period - now))
        elapsed = time.monotonic() - start
        after = gslb_queries(chain.child_server)
    return Cost(label, highest, asked, after - before, elapsed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rate", type=float, default=1.0, help="queries per second per client")
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    problem = bind_problem()
    if problem is not None:
        raise SystemExit(f"query_cost: the chain needs port 53 on 127.0.53.x (root): {problem}")
    costs = [
        measure("gslb defaults (checked pool)", None, args.clients, args.rate, args.seconds),
        measure(f"fixed {FIXED_TTL} s (no check)", FIXED_TTL, args.clients, args.rate, args.seconds),
    ]
    print(
        f"{args.clients} clients x {args.rate:g} q/s each through Unbound for {args.seconds:g} s, "
        "one name (www.gslb.example.test A)"
    )
    print(f"{'configuration':<30} {'TTL':>5} {'client q/s':>10} {'q/s at gslb':>12} {'share':>7}")
    for cost in costs:
        share = cost.gslb_queries / cost.client_queries if cost.client_queries else 0.0
        ttl = "?" if cost.ttl is None else f"{cost.ttl} s"
        print(
            f"{cost.label:<30} {ttl:>5} {cost.client_queries / cost.seconds:>10.1f} "
            f"{cost.per_second:>12.3f} {share:>7.2%}"
        )
    default, fixed = costs
    if fixed.gslb_queries:
        ratio = default.gslb_queries / fixed.gslb_queries
        print(f"the default TTL costs {ratio:.1f}x the queries of a fixed {FIXED_TTL} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
