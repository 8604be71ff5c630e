"""How long an API write on one node takes to reach another node's DNS answers, and what an idle
node asks its database.

Usage: python bench/propagation.py [--writes 50] [--idle 20] [--stores sqlite,postgresql] [--checkout DIR]
                                   [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

- sqlite: one node on its SQLite file; each write goes to its API and is looked for in its own answers
  (the single-node figure).
- postgresql: two nodes (A and B, their own loopback addresses and ports) on one PostgreSQL database
  made for the run and dropped after it; each write goes to A's API and is looked for in B's answers.

A write is ``PATCH /api/v1/pools/www`` with a new TTL; its latency runs from just before the request is
sent to the first answer from the watched node that carries the new TTL (queries every millisecond).
Writes are spaced by a random 100-200 ms so they do not fall into step with any poll. With
``--idle`` seconds, the PostgreSQL nodes then sit idle and the database's own count of transactions
(``pg_stat_database``, read from another database) gives the queries an idle node sends a second.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rdatatype

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from gslb.tokens import ApiToken, Role, token_hash  # noqa: E402
from harness.gslb import GslbProcess  # noqa: E402

TOKEN = "gslb_propagation_bench_token_0123456789"
NAME = "www.gslb.example.test."
POOL = "www"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TIMEOUT = 5.0  # seconds a write may take to show before the run fails
HOSTS = ("127.0.0.1", "127.0.0.2")


@dataclass(frozen=True, slots=True)
class Propagation:
    store: str
    latencies_ms: list[float]
    acknowledged_ms: list[float]  # from the request to the API's answer: the write itself
    idle_queries_per_node_second: float | None = None

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def maximum(self) -> float:
        return max(self.latencies_ms)

    def line(self) -> str:
        idle = (
            f"; idle node: {self.idle_queries_per_node_second:.2f} queries/s"
            if self.idle_queries_per_node_second is not None
            else ""
        )
        return (
            f"{self.store:<10} writes {len(self.latencies_ms)}: p50 {self.p50:.1f} ms, "
            f"p90 {statistics.quantiles(self.latencies_ms, n=10)[-1]:.1f} ms, max {self.maximum:.1f} ms "
            f"(the API's answer itself: p50 {statistics.median(self.acknowledged_ms):.1f} ms){idle}"
        )


def answer_ttl(server: GslbProcess) -> int | None:
    query = dns.message.make_query(NAME, dns.rdatatype.A)
    try:
        response = dns.query.udp(query, server.host, port=server.port, timeout=0.5)
    except (dns.exception.Timeout, OSError):
        return None
    return response.answer[0].ttl if response.answer else None


def set_ttl(server: GslbProcess, ttl: int) -> None:
    request = urllib.request.Request(
        f"{server.api_url}/api/v1/pools/{POOL}",
        data=json.dumps({"ttl": ttl}).encode(),
        method="PATCH",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        response.read()


def next_ttl(ttl: int) -> int:
    """A TTL unlike ``ttl``, from 31 to 230: within the server's default bounds (1-300)."""
    return 31 + (ttl - 30) % 200


def measure(
    writer: GslbProcess, watched: GslbProcess, writes: int, rng: random.Random
) -> tuple[list[float], list[float]]:
    """Each write's latency to the watched node's answers, and to the API's own answer (ms)."""
    latencies, acknowledged = [], []
    ttl = answer_ttl(watched) or 30
    for _ in range(writes):
        ttl = next_ttl(ttl)
        time.sleep(rng.uniform(0.1, 0.2))
        started = time.perf_counter()
        set_ttl(writer, ttl)
        acknowledged.append((time.perf_counter() - started) * 1000)
        while answer_ttl(watched) != ttl:
            if time.perf_counter() - started > TIMEOUT:
                raise SystemExit(f"propagation: a write did not show within {TIMEOUT} s")
            time.sleep(0.001)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies, acknowledged


def node(db: str, host: str, checkout: Path = REPO_ROOT) -> GslbProcess:
    """``gslb serve`` from ``checkout`` on the example zones and ``db``, its API open to this script."""
    environ = {"GSLB_API_TOKENS": str(ApiToken("bench", Role.ADMIN, token_hash(TOKEN)))}
    extra = ("--db", db) if db else ()
    return GslbProcess(REPO_ROOT / "zones", extra, host=host, workdir=checkout, environ=environ)


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A database of its own on the server (so its transaction count is the nodes' alone), dropped after."""
    name = f"gslb_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def transactions(admin_url: str, database: str) -> int:
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_stat_clear_snapshot()"))
            count = connection.execute(
                text("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = :name"),
                {"name": database},
            ).scalar_one()
            return int(count)
    finally:
        engine.dispose()


def run_sqlite(writes: int, rng: random.Random, checkout: Path) -> Propagation:
    """One node on a SQLite file of its own (GslbProcess's default store)."""
    with node("", HOSTS[0], checkout) as alone:
        return Propagation("sqlite", *measure(alone, alone, writes, rng))


def run_postgres(admin_url: str, writes: int, idle: float, rng: random.Random, checkout: Path) -> Propagation:
    with postgres_database(admin_url) as db, ExitStack() as stack:
        first = stack.enter_context(node(db, HOSTS[0], checkout))  # the first start applies zones/*.toml
        second = stack.enter_context(node(db, HOSTS[1], checkout))
        latencies, acknowledged = measure(first, second, writes, rng)
        per_second = None
        if idle > 0:
            time.sleep(2.0)  # the last write's reads settle
            name = make_url(db).database or ""
            before = transactions(admin_url, name)
            time.sleep(idle)
            per_second = (transactions(admin_url, name) - before) / idle / 2
        return Propagation("postgresql", latencies, acknowledged, per_second)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--writes", type=int, default=50)
    parser.add_argument(
        "--idle", type=float, default=20.0, help="seconds of idle nodes to count queries over"
    )
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument(
        "--postgres", default=DEFAULT_POSTGRES, help="a database to create the run's database from"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--checkout",
        type=Path,
        default=REPO_ROOT,
        metavar="DIR",
        help="run the nodes' gslb from this checkout (e.g. a worktree of the commit before a change)",
    )
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    stores = [name.strip() for name in args.stores.split(",") if name.strip()]
    if not stores or not set(stores) <= {"sqlite", "postgresql"} or args.writes < 2:
        parser.error("--stores takes sqlite and/or postgresql, --writes at least 2")
    results = []
    for store in stores:
        if store == "sqlite":
            results.append(run_sqlite(args.writes, rng, args.checkout.resolve()))
        else:
            results.append(run_postgres(args.postgres, args.writes, args.idle, rng, args.checkout.resolve()))
        print(results[-1].line(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
