"""Differential test: gslb must answer like Knot DNS 3.2 serving the same zone files.

Unit tests check the authoritative rules one by one as we understood them; this test checks them against
an independent, widely deployed implementation, over real sockets, on a few hundred seeded queries that
cover every kind of name in the two zones (apex, plain names, empty non-terminals, NXDOMAIN, wildcards,
CNAME chains, delegations and glue, names outside both zones) with and without EDNS and the DO bit.

Every query goes to both servers over UDP, a quarter of them also over TCP. The rcode (with its extended
bits), AA, TC, the OPT record (present, its version, the DO bit) and the answer, authority and additional
RRsets (order-insensitive, names case-insensitive, TTLs included) must be equal, except where
ALLOWED_DIFFERENCES says why a difference is a legitimate choice. All differing queries are reported together.
CD is not compared: Knot 3.2 clears it in every response, while RFC 4035 3.2.2 (written for resolvers)
says to copy it, so neither behaviour is a reference for the other.
"""

from __future__ import annotations

import random
import socket
import string
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.rrset
import pytest

from harness.static_pools import with_pools_as_static_rrsets
from tests.integration.knot import KnotServer, ZoneSource

pytestmark = pytest.mark.reference

REPO = Path(__file__).resolve().parents[2]
POOL_NAMES = frozenset({"www.gslb.example.test."})  # declared in zones/pools.toml
ZONES = (
    ZoneSource("gslb.example.test", REPO / "zones" / "gslb.example.test.zone"),
    ZoneSource("auth.test", REPO / "tests" / "data" / "zones" / "auth.test.zone"),
)

SEED = 20261125
RANDOM_PROBES = 150
TCP_SHARE = 0.25
TIMEOUT = 2.0

QTYPES = (
    "A", "AAAA", "MX", "TXT", "NS", "SOA", "CNAME", "SRV", "PTR", "CAA", "HINFO", "DS", "ANY", "TYPE65280",
)  # fmt: skip

# Every name worth asking, with the types that exercise its rule. Each pair is sent with every EDNS
# variant; random pairs (any name, any type) fill in the rest.
NAMES: dict[str, tuple[str, ...]] = {
    # auth.test: the zone written to exercise the authoritative rules
    "auth.test": ("SOA", "NS", "MX", "TXT", "ANY"),
    "ns1.auth.test": ("A", "AAAA"),
    "host.auth.test": ("A", "AAAA", "TXT", "HINFO", "ANY", "TYPE65280"),
    "multi.auth.test": ("A",),
    "mx1.auth.test": ("A", "AAAA"),
    "_sip._udp.auth.test": ("SRV",),
    "_udp.auth.test": ("SRV",),  # empty non-terminal
    "caa.auth.test": ("CAA",),
    "ptr.auth.test": ("PTR",),
    "a.b.c.auth.test": ("A",),
    "b.c.auth.test": ("A", "ANY"),  # empty non-terminals
    "c.auth.test": ("A",),
    "alias.auth.test": ("A", "CNAME", "ANY"),
    "alias2.auth.test": ("A", "MX"),
    "outside.auth.test": ("A",),
    "dangling.auth.test": ("A",),
    "loop1.auth.test": ("A",),
    "loop2.auth.test": ("CNAME",),
    "wild.auth.test": ("A",),  # empty non-terminal above the wildcard
    "*.wild.auth.test": ("A",),
    "foo.wild.auth.test": ("A", "MX", "TXT", "ANY"),
    "a.b.foo.wild.auth.test": ("TXT",),
    "sub.wild.auth.test": ("TXT", "A"),
    "x.sub.wild.auth.test": ("A",),  # the existing sub.wild blocks the wildcard: NXDOMAIN
    "foo.cwild.auth.test": ("A", "CNAME"),
    "sub.auth.test": ("NS", "DS", "A", "ANY"),
    "x.sub.auth.test": ("A", "DS"),
    "ns.sub.auth.test": ("A", "AAAA"),  # glue below the cut: a referral
    "other.auth.test": ("NS", "DS"),
    "x.other.auth.test": ("A",),
    "big.auth.test": ("TXT", "ANY"),  # too big for 512 bytes: TC
    "bigmx.auth.test": ("MX",),  # additional records that do not all fit in 512 bytes
    "m08.auth.test": ("A",),
    "nope.auth.test": ("A",),
    "x.nope.auth.test": ("A",),
    # gslb.example.test: the quickstart zone
    "gslb.example.test": ("SOA", "NS", "MX", "TXT", "ANY"),
    "ns1.gslb.example.test": ("A", "AAAA"),
    "ns2.gslb.example.test": ("A",),
    "www.gslb.example.test": ("A", "AAAA", "ANY"),
    "mail.gslb.example.test": ("A",),
    "api.gslb.example.test": ("A", "AAAA"),
    "docs.gslb.example.test": ("A",),
    "_http._tcp.www.gslb.example.test": ("SRV",),
    "_tcp.www.gslb.example.test": ("SRV",),
    "nope.gslb.example.test": ("A",),
    # outside both zones: REFUSED
    "example.com": ("A",),
    "xauth.test": ("A",),  # shares a suffix with auth.test, but not a label boundary
    "test": ("SOA",),
    "example.test": ("NS",),
    ".": ("NS",),
    "target.elsewhere.test": ("A",),
}

EDNS_VARIANTS: tuple[tuple[int, int] | None, ...] = (None, (0, 512), (0, 1232), (0, 4096))
"""None is a query without OPT; otherwise (EDNS version, UDP payload size)."""


@dataclass(frozen=True, slots=True)
class Probe:
    """One query, sent the same way to both servers."""

    ident: int
    qname: str
    rdtype: dns.rdatatype.RdataType
    edns: tuple[int, int] | None
    dnssec_ok: bool
    tcp: bool

    def wire(self) -> bytes:
        query = dns.message.make_query(
            self.qname,
            self.rdtype,
            use_edns=self.edns[0] if self.edns else False,
            payload=self.edns[1] if self.edns else 0,
            want_dnssec=self.dnssec_ok,
            id=self.ident,
            flags=0,  # a resolver asking an authoritative server does not set RD
        )
        return query.to_wire()

    def __str__(self) -> str:
        edns = f"+edns={self.edns[0]} +bufsize={self.edns[1]}" if self.edns else "+noedns"
        transport = " +tcp" if self.tcp else ""
        dnssec = " +dnssec" if self.dnssec_ok else ""
        rdtype = dns.rdatatype.to_text(self.rdtype)
        return f"#{self.ident}: dig +norec {edns}{dnssec}{transport} {self.qname} {rdtype}"


def random_case(rng: random.Random, name: str) -> str:
    """Mix the letter case, since both servers must match names case-insensitively and echo the qname."""
    return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in name)


def generate_probes(seed: int = SEED) -> list[Probe]:
    """Every (name, type) pair of NAMES under every EDNS variant, then random pairs, all seeded.

    Each query is a UDP probe; a random TCP_SHARE of them is repeated over TCP, where nothing is truncated.
    """
    rng = random.Random(seed)
    plan: list[tuple[str, str, tuple[int, int] | None]] = [
        (name, rdtype, edns)
        for name, rdtypes in NAMES.items()
        for rdtype in rdtypes
        for edns in EDNS_VARIANTS
    ]
    for _ in range(RANDOM_PROBES):
        if rng.random() < 0.2:
            label = "".join(rng.choices(string.ascii_lowercase + string.digits + "-", k=rng.randint(1, 12)))
            name = f"{label.strip('-') or 'x'}.{rng.choice([z.origin for z in ZONES] + ['wild.auth.test'])}"
        else:
            name = rng.choice(list(NAMES))
        # EDNS version 1 is answered BADVERS, an extended rcode
        edns = (1, 1232) if rng.random() < 0.1 else rng.choice(EDNS_VARIANTS)
        plan.append((name, rng.choice(QTYPES), edns))
    probes: list[Probe] = []
    for name, rdtype, edns in plan:
        udp = Probe(
            ident=len(probes) + 1,
            qname=random_case(rng, name),
            rdtype=dns.rdatatype.from_text(rdtype),
            edns=edns,
            dnssec_ok=edns is not None and rng.random() < 0.5,
            tcp=False,
        )
        probes.append(udp)
        if rng.random() < TCP_SHARE:
            probes.append(replace(udp, ident=len(probes) + 1, tcp=True))
    return probes


@dataclass(frozen=True, slots=True, order=True)
class Record:
    """One resource record, normalised: owner lower-cased, names inside RDATA in canonical (lower) case."""

    owner: str
    rdtype: str
    rdata: str
    ttl: int

    def __str__(self) -> str:
        return f"{self.owner} {self.ttl} {self.rdtype} {self.rdata}"


@dataclass(frozen=True, slots=True)
class Answer:
    """What the comparison looks at in one response."""

    rcode: str
    aa: bool
    tc: bool
    edns_version: int | None  # None: no OPT record
    dnssec_ok: bool
    answer: frozenset[Record]
    authority: frozenset[Record]
    additional: frozenset[Record]

    def render(self) -> list[str]:
        flags = " ".join(flag for flag, on in (("aa", self.aa), ("tc", self.tc)) if on) or "-"
        opt = "no OPT" if self.edns_version is None else f"OPT v{self.edns_version} do={int(self.dnssec_ok)}"
        lines = [f"rcode={self.rcode} flags={flags} {opt}"]
        for title, section in (
            ("ANSWER", self.answer),
            ("AUTHORITY", self.authority),
            ("ADDITIONAL", self.additional),
        ):
            if section:
                lines.append(f";; {title}")
                lines += [f"  {record}" for record in sorted(section)]
        return lines


@dataclass(frozen=True, slots=True)
class Failure:
    """No usable response: a timeout, a closed connection, or bytes that are not a DNS response to us."""

    reason: str

    def render(self) -> list[str]:
        return [self.reason]


Outcome = Answer | Failure


def records(rrsets: Sequence[dns.rrset.RRset]) -> frozenset[Record]:
    """Flatten RRsets into normalised records, so sets compare regardless of order and name case."""
    result = set()
    for rrset in rrsets:
        for rdata in rrset:
            canonical = rdata.to_digestable()  # RFC 4034 6.2: names in RDATA lower-cased, the rest as is
            normal = dns.rdata.from_wire(rdata.rdclass, rdata.rdtype, canonical, 0, len(canonical))
            owner = rrset.name.to_text().lower()
            result.add(Record(owner, dns.rdatatype.to_text(rrset.rdtype), normal.to_text(), rrset.ttl))
    return frozenset(result)


def to_outcome(query: bytes, response: bytes) -> Outcome:
    """Parse a response and reduce it to what is compared; anything unusable becomes a Failure."""
    if response[:2] != query[:2]:
        return Failure(f"response ID {response[:2].hex()} does not match query ID {query[:2].hex()}")
    try:
        message = dns.message.from_wire(response)
    except dns.exception.DNSException as error:
        return Failure(f"unparseable response ({error!r}): {response.hex()}")
    return Answer(
        rcode=dns.rcode.to_text(message.rcode()),
        aa=bool(message.flags & dns.flags.AA),
        tc=bool(message.flags & dns.flags.TC),
        edns_version=message.edns if message.edns >= 0 else None,
        dnssec_ok=bool(message.ednsflags & dns.flags.DO),
        answer=records(message.answer),
        authority=records(message.authority),
        additional=records(message.additional),
    )


class Endpoint(Protocol):
    """A DNS server under test: the gslb_auth fixture and KnotServer both have these."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...


def exchange(server: Endpoint, query: bytes, *, tcp: bool) -> bytes | Failure:
    """Send raw query bytes and return the raw response, so the question can be checked byte for byte."""
    try:
        if tcp:
            with socket.create_connection((server.host, server.port), timeout=TIMEOUT) as sock:
                sock.sendall(len(query).to_bytes(2, "big") + query)
                length = int.from_bytes(read_exactly(sock, 2), "big")
                return read_exactly(sock, length)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(TIMEOUT)
            sock.sendto(query, (server.host, server.port))
            return sock.recv(65535)
    except (OSError, EOFError) as error:
        return Failure(f"no response over {'TCP' if tcp else 'UDP'}: {error!r}")


def read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError(f"connection closed after {len(data)} of {size} bytes")
        data += chunk
    return data


def ask(server: Endpoint, probe: Probe) -> Outcome:
    query = probe.wire()
    response = exchange(server, query, tcp=probe.tcp)
    return response if isinstance(response, Failure) else to_outcome(query, response)


# --- Allowed differences -----------------------------------------------------------------------------
# Each entry takes the probe, Knot's answer, gslb's answer, and a way to ask Knot another question (over
# TCP, so nothing is cut for size), and returns True when the difference is the documented choice.

AskKnot = Callable[[str, dns.rdatatype.RdataType], Answer]


def any_may_pick_other_rrsets(probe: Probe, knot: Answer, gslb: Answer, ask_knot: AskKnot) -> bool:
    """RFC 8482 4.1/4.2: ANY may be answered with one RRset, several, all, or a synthesized HINFO.

    Knot 3.2 returns the RRset of the lowest type at the name, on UDP and TCP alike. gslb may choose
    differently, but each RRset it returns must be exactly what Knot returns for that type alone, and its
    additional records must come from those answers. Everything else (rcode, flags, authority) is compared.
    """
    if probe.rdtype != dns.rdatatype.ANY or not knot.answer or not gslb.answer:
        return False
    if replace(knot, answer=gslb.answer, additional=gslb.additional) != gslb:
        return False
    owner = probe.qname.lower().rstrip(".") + "."
    allowed_additional: set[Record] = set()
    for rdtype in {record.rdtype for record in gslb.answer}:
        chosen = {record for record in gslb.answer if record.rdtype == rdtype}
        if rdtype == "HINFO" and all(r.rdata.startswith('"RFC8482"') for r in chosen):
            continue
        single = ask_knot(probe.qname, dns.rdatatype.from_text(rdtype))
        if chosen != {r for r in single.answer if r.owner == owner and r.rdtype == rdtype}:
            return False
        allowed_additional |= single.additional
    return gslb.additional <= allowed_additional


def pool_answers_are_a_subset(probe: Probe, knot: Answer, gslb: Answer, ask_knot: AskKnot) -> bool:
    """A pool answers ``answer_count`` of its members, chosen by its policy, where Knot serves all of
    them as one static RRset (what plain round robin would answer; see ``knot_zones``).

    Allowed only when everything but the answer section is equal, the records not owned by a pool name
    (e.g. a CNAME leading to it) are equal, and gslb's pool records are some of Knot's.
    """
    if replace(knot, answer=gslb.answer) != gslb:
        return False
    knot_pool = {r for r in knot.answer if r.owner in POOL_NAMES}
    gslb_pool = {r for r in gslb.answer if r.owner in POOL_NAMES}
    if not gslb_pool or not gslb_pool < knot_pool:
        return False
    return knot.answer - knot_pool == gslb.answer - gslb_pool


ALLOWED_DIFFERENCES = (any_may_pick_other_rrsets, pool_answers_are_a_subset)


# --- Tests -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def knot_zones(tmp_path_factory: pytest.TempPathFactory) -> tuple[ZoneSource, ...]:
    """The same zones for Knot, each pool of zones/pools.toml written out as a static RRset of all its
    members: the answer a server without pools gives, of which gslb's pool answers must be subsets."""
    return tuple(with_pools_as_static_rrsets(ZONES, REPO / "zones", tmp_path_factory.mktemp("knot-zones")))


@pytest.fixture(scope="module")
def knot(knot_zones: tuple[ZoneSource, ...]) -> Iterator[KnotServer]:
    with KnotServer(knot_zones) as server:
        yield server


SCALAR_FIELDS = ("rcode", "aa", "tc", "edns_version", "dnssec_ok")
SECTIONS = ("answer", "authority", "additional")


def differing_fields(knot: Outcome, gslb: Outcome) -> list[str]:
    """Names of the compared fields that differ; "response" when either side did not give one."""
    if not (isinstance(knot, Answer) and isinstance(gslb, Answer)):
        return ["response"]
    return [field for field in SCALAR_FIELDS + SECTIONS if getattr(knot, field) != getattr(gslb, field)]


def describe_difference(probe: Probe, knot: Outcome, gslb: Outcome) -> str:
    """The query and both answers side by side, with what differs first, so a failure reads on its own."""
    lines = [str(probe)]
    if isinstance(knot, Answer) and isinstance(gslb, Answer):
        for field in SCALAR_FIELDS:
            if getattr(knot, field) != getattr(gslb, field):
                lines.append(f"  {field}: knot {getattr(knot, field)}, gslb {getattr(gslb, field)}")
        for section in SECTIONS:
            only_knot = sorted(getattr(knot, section) - getattr(gslb, section))
            only_gslb = sorted(getattr(gslb, section) - getattr(knot, section))
            lines += [f"  {section} only from knot: {r}" for r in only_knot]
            lines += [f"  {section} only from gslb: {r}" for r in only_gslb]
    lines += ["  knot:"] + [f"    {line}" for line in knot.render()]
    lines += ["  gslb:"] + [f"    {line}" for line in gslb.render()]
    return "\n".join(lines)


def test_gslb_answers_like_knot(gslb_auth: Endpoint, knot: KnotServer) -> None:
    """gslb and Knot give the same answers to every probe, apart from the documented allowances."""
    probes = generate_probes()
    second_opinions: dict[tuple[str, int], Answer] = {}

    def ask_knot(qname: str, rdtype: dns.rdatatype.RdataType) -> Answer:
        key = (qname.lower(), rdtype)
        if key not in second_opinions:
            outcome = ask(knot, Probe(0, qname, rdtype, None, dnssec_ok=False, tcp=True))
            assert isinstance(outcome, Answer), f"Knot did not answer {qname} {rdtype!r}: {outcome}"
            second_opinions[key] = outcome
        return second_opinions[key]

    differences = []
    tally: Counter[str] = Counter()
    for probe in probes:
        expected, actual = ask(knot, probe), ask(gslb_auth, probe)
        if expected == actual:
            continue
        if (
            isinstance(expected, Answer)
            and isinstance(actual, Answer)
            and any(allowed(probe, expected, actual, ask_knot) for allowed in ALLOWED_DIFFERENCES)
        ):
            continue
        tally.update(differing_fields(expected, actual))
        differences.append(describe_difference(probe, expected, actual))
    if differences:
        summary = ", ".join(f"{field} {count}" for field, count in tally.most_common())
        pytest.fail(
            f"{len(differences)} of {len(probes)} queries answered differently by gslb "
            f"({gslb_auth.host}@{gslb_auth.port}) and Knot ({knot.host}@{knot.port}); "
            f"differing fields: {summary}\n\n" + "\n\n".join(differences),
            pytrace=False,
        )


def test_question_echoed_byte_for_byte(gslb_auth: Endpoint, knot: KnotServer) -> None:
    """Both servers copy the question exactly, letter case included (resolvers use it against spoofing)."""
    problems = []
    probes = generate_probes()
    for server_name, server in (("knot", knot), ("gslb", gslb_auth)):
        for probe in probes:
            query = probe.wire()
            question = query[12 : 12 + len(dns.name.from_text(probe.qname).to_digestable()) + 4]
            response = exchange(server, query, tcp=probe.tcp)
            if isinstance(response, Failure):
                problems.append(f"{server_name} {probe}: {response.reason}")
            elif response[4:6] != b"\x00\x01" or response[12 : 12 + len(question)] != question:
                problems.append(
                    f"{server_name} {probe}: question sent {question.hex()}, "
                    f"echoed QDCOUNT={int.from_bytes(response[4:6], 'big')} {response[12:].hex()}"
                )
    assert not problems, f"{len(problems)} responses do not echo the question:\n" + "\n".join(problems)
