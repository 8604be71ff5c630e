"""Query files for dnsperf, named after the targets of the performance issue: ``pool``, ``static``, ``mixed``.

Every workload is written in dnsperf's binary input format (``-B``: each query as a TCP-stream frame, a
2-byte big-endian length then the DNS message), because ``mixed`` needs EDNS and a Client Subnet option on
some queries and not others, which dnsperf's text format (one ``NAME TYPE`` per line, EDNS all or nothing)
cannot say. dnsperf replays the file in a loop and sets each message's ID itself. The order is a fixed
shuffle, so every server and every round replays the very same sequence.
"""

from __future__ import annotations

import enum
import ipaddress
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.edns
import dns.flags
import dns.message
import dns.rdatatype

ZONE = "gslb.example.test"
POOL_NAME = f"www.{ZONE}"
"""The weighted pool of zones/pools.toml (three VIPs, two per A answer; one IPv6 VIP)."""

STATIC_QUERIES: tuple[tuple[str, str], ...] = (
    (f"mail.{ZONE}", "A"),
    (f"mail.{ZONE}", "AAAA"),
    (ZONE, "SOA"),
    (ZONE, "NS"),
    (ZONE, "MX"),
    (ZONE, "TXT"),
    (f"ns1.{ZONE}", "A"),
    (f"_http._tcp.www.{ZONE}", "SRV"),
    # api is a CNAME to the pool name: asked for the CNAME itself, its answer is static. (api A would add
    # the pool's addresses, and gdnsd does not follow a CNAME inside its zone.)
    (f"api.{ZONE}", "CNAME"),
    # docs is a CNAME out of the zone: the answer is the CNAME alone.
    (f"docs.{ZONE}", "A"),
)
"""Names served from the zone file as they are: what Knot serves too, so the comparison is like for like."""

EDNS_PAYLOAD = 1232
"""The UDP payload size the DNS flag day 2020 recommends, what current resolvers send."""
SEED = 20261125

MIXED_SIZE = 1000
MIXED_POOL_SHARE = 0.80
MIXED_STATIC_SHARE = 0.10
MIXED_NXDOMAIN_SHARE = 0.10
MIXED_EDNS_SHARE = 0.5
"""Of every kind of query (pool, static, NXDOMAIN) this share carries an OPT record..."""
MIXED_ECS_SHARE_OF_EDNS = 0.2
"""...and this share of those an EDNS Client Subnet option with a /24 source prefix."""
ECS_SOURCE_PREFIX = 24


class Kind(enum.Enum):
    """What a query asks for, as the targets count it."""

    POOL = "pool"
    STATIC = "static"
    NXDOMAIN = "nxdomain"


@dataclass(frozen=True, slots=True)
class Query:
    """One query of a workload: the question, and the EDNS it carries (none, OPT only, or OPT with ECS)."""

    kind: Kind
    qname: str
    rdtype: str
    edns: bool = False
    client_subnet: str | None = None
    """``a.b.c.0/24`` when the query carries an EDNS Client Subnet option (implies ``edns``)."""

    def to_wire(self) -> bytes:
        options: list[dns.edns.Option] = []
        if self.client_subnet is not None:
            network = ipaddress.ip_network(self.client_subnet)
            options.append(dns.edns.ECSOption(str(network.network_address), network.prefixlen))
        message = dns.message.make_query(
            self.qname,
            dns.rdatatype.from_text(self.rdtype),
            use_edns=0 if self.edns else False,
            payload=EDNS_PAYLOAD,
            options=options or None,
        )
        # dnsperf overwrites the ID; a fixed one keeps the file the same byte for byte on every run. RD
        # stays set, as dnsperf sets it on the queries it builds from text.
        message.id = 0
        message.flags |= dns.flags.RD
        return message.to_wire()


def frame(wire: bytes) -> bytes:
    """One message as dnsperf's ``-B`` input wants it: TCP-stream framing (RFC 1035 4.2.2)."""
    return len(wire).to_bytes(2, "big") + wire


@dataclass(frozen=True, slots=True)
class Workload:
    """A named sequence of queries, written once to a file that dnsperf replays in a loop."""

    name: str
    description: str
    queries: tuple[Query, ...]

    def write(self, directory: Path) -> Path:
        path = directory / f"{self.name}.bin"
        path.write_bytes(b"".join(frame(query.to_wire()) for query in self.queries))
        return path


def pool() -> Workload:
    """The weighted pool name over and over, without EDNS: target 1's pool half, and the ceiling of the
    pool path."""
    return Workload(
        "pool", f"{POOL_NAME} A only (a weighted pool), no EDNS", (Query(Kind.POOL, POOL_NAME, "A"),)
    )


def static() -> Workload:
    """Static names of several types, in equal shares, without EDNS: target 1's static half (vs Knot)."""
    queries = tuple(Query(Kind.STATIC, name, rdtype) for name, rdtype in STATIC_QUERIES)
    listed = ", ".join(
        f"{name.removesuffix(ZONE).rstrip('.') or '@'} {rdtype}" for name, rdtype in STATIC_QUERIES
    )
    return Workload("static", f"static names only ({listed}), no EDNS", queries)


def mixed(size: int = MIXED_SIZE, seed: int = SEED) -> Workload:
    """Target 3's load: 80% pool (www A and AAAA), 10% static, 10% NXDOMAIN; of each kind half with EDNS,
    a fifth of those with a Client Subnet option, each a different /24."""
    rng = random.Random(seed)
    pool_count = round(size * MIXED_POOL_SHARE)
    static_count = round(size * MIXED_STATIC_SHARE)
    nxdomain_count = size - pool_count - static_count
    questions: dict[Kind, list[tuple[str, str]]] = {
        Kind.POOL: [(POOL_NAME, "A" if index % 2 == 0 else "AAAA") for index in range(pool_count)],
        Kind.STATIC: [STATIC_QUERIES[index % len(STATIC_QUERIES)] for index in range(static_count)],
        # Distinct names, so a server that caches negative answers per name gets no help from repetition.
        Kind.NXDOMAIN: [(f"nx-{index:03d}.{ZONE}", "A") for index in range(nxdomain_count)],
    }
    subnets = client_subnets(rng)
    queries: list[Query] = []
    for kind, kind_questions in questions.items():
        # EDNS and ECS are dealt out within each kind, so each kind has the same shares as the whole.
        rng.shuffle(kind_questions)
        edns_count = round(len(kind_questions) * MIXED_EDNS_SHARE)
        ecs_count = round(edns_count * MIXED_ECS_SHARE_OF_EDNS)
        for index, (qname, rdtype) in enumerate(kind_questions):
            subnet = next(subnets) if index < ecs_count else None
            queries.append(Query(kind, qname, rdtype, edns=index < edns_count, client_subnet=subnet))
    rng.shuffle(queries)
    edns_percent = 100 * sum(q.edns for q in queries) / size
    ecs_percent = 100 * sum(q.client_subnet is not None for q in queries) / size
    description = (
        f"{pool_count * 100 / size:.0f}% {POOL_NAME} A/AAAA, {static_count * 100 / size:.0f}% static, "
        f"{nxdomain_count * 100 / size:.0f}% NXDOMAIN; {edns_percent:.0f}% with EDNS ({EDNS_PAYLOAD}), "
        f"{ecs_percent:.0f}% with ECS /{ECS_SOURCE_PREFIX}; {size} queries"
    )
    return Workload("mixed", description, tuple(queries))


def client_subnets(rng: random.Random) -> Iterator[str]:
    """Distinct public-looking /24 source prefixes, drawn from ``rng``: every ECS query a different client
    network, as a resolver serving many networks sends them."""
    seen: set[str] = set()
    while True:
        first = rng.randrange(1, 224)
        if first in (10, 127):
            continue
        subnet = f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.0/{ECS_SOURCE_PREFIX}"
        if subnet not in seen:
            seen.add(subnet)
            yield subnet


def all_workloads() -> tuple[Workload, ...]:
    return (pool(), static(), mixed())
