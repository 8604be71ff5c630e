"""bench/workloads.py: the query files dnsperf replays (``-B`` framing), read back with dnslib.

dnslib is a decoder independent of dnspython, which writes the files: a framing or encoding slip in the
writer cannot be hidden by the same library reading it back.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import dns.rdatatype
import dns.zone
import dnslib
import pytest

from bench.workloads import (
    EDNS_PAYLOAD,
    POOL_NAME,
    STATIC_QUERIES,
    ZONE,
    Workload,
    all_workloads,
    mixed,
    pool,
    static,
)

OPTION_ECS = 8
EXAMPLE_ZONE_FILE = Path(__file__).resolve().parents[3] / "zones" / f"{ZONE}.zone"


@dataclass(frozen=True)
class Decoded:
    qname: str
    qtype: str
    payload: int | None
    """The OPT record's UDP payload size; None without an OPT record."""
    ecs: tuple[int, int, int, bytes] | None
    """(family, source prefix, scope prefix, address bytes) of an ECS option."""
    rd: bool
    message_id: int


def decode_file(path: Path) -> list[Decoded]:
    """Split a ``-B`` file on its 2-byte length prefixes and decode every message with dnslib."""
    data = path.read_bytes()
    messages = []
    offset = 0
    while offset < len(data):
        assert offset + 2 <= len(data), "a length prefix is cut off"
        length = int.from_bytes(data[offset : offset + 2], "big")
        offset += 2
        assert offset + length <= len(data), "a message is cut off"
        messages.append(data[offset : offset + length])
        offset += length
    return [decode(message) for message in messages]


def decode(wire: bytes) -> Decoded:
    record = dnslib.DNSRecord.parse(wire)
    assert len(record.questions) == 1
    assert not record.rr and not record.auth
    opts = [rr for rr in record.ar if rr.rtype == dnslib.QTYPE.OPT]
    assert len(record.ar) == len(opts) <= 1
    payload, ecs = None, None
    if opts:
        payload = opts[0].rclass
        for option in opts[0].rdata:
            assert option.code == OPTION_ECS, f"unexpected EDNS option {option.code}"
            value = bytes(option.data)
            ecs = (int.from_bytes(value[:2], "big"), value[2], value[3], value[4:])
    question = record.q
    return Decoded(
        qname=str(question.qname).rstrip(".").lower(),
        qtype=dnslib.QTYPE[question.qtype],
        payload=payload,
        ecs=ecs,
        rd=bool(record.header.rd),
        message_id=record.header.id,
    )


def written(workload: Workload, tmp_path: Path) -> list[Decoded]:
    return decode_file(workload.write(tmp_path))


def static_names() -> set[tuple[str, str]]:
    return {(name.lower(), rdtype) for name, rdtype in STATIC_QUERIES}


def test_workload_names_are_those_of_the_issue() -> None:
    assert [workload.name for workload in all_workloads()] == ["pool", "static", "mixed"]


def test_pool_is_the_pool_name_alone_without_edns(tmp_path: Path) -> None:
    decoded = written(pool(), tmp_path)
    assert [(d.qname, d.qtype, d.payload) for d in decoded] == [(POOL_NAME, "A", None)]


def test_static_asks_each_static_question_once_without_edns(tmp_path: Path) -> None:
    decoded = written(static(), tmp_path)
    assert Counter((d.qname, d.qtype) for d in decoded) == Counter(static_names())
    assert all(d.payload is None for d in decoded)


def test_static_questions_have_answers_in_the_example_zone_file() -> None:
    """Each static question is answered from the zone file (its type, or a CNAME), not from a pool."""
    zone = dns.zone.from_file(str(EXAMPLE_ZONE_FILE), origin=ZONE, relativize=False)
    for name, rdtype in STATIC_QUERIES:
        node = zone.get_node(name + ".")
        assert node is not None, name
        found = {dns.rdatatype.to_text(rdataset.rdtype) for rdataset in node.rdatasets}
        assert rdtype in found or "CNAME" in found, (name, rdtype, found)
        assert name != POOL_NAME


def test_every_query_has_rd_and_a_fixed_id(tmp_path: Path) -> None:
    for workload in all_workloads():
        decoded = written(workload, tmp_path)
        assert all(d.rd and d.message_id == 0 for d in decoded), workload.name


def test_mixed_shares_of_pool_static_and_nxdomain(tmp_path: Path) -> None:
    decoded = written(mixed(), tmp_path)
    total = len(decoded)
    pool_queries = [d for d in decoded if d.qname == POOL_NAME]
    static_queries = [d for d in decoded if (d.qname, d.qtype) in static_names()]
    nxdomain = [d for d in decoded if d.qname.startswith("nx-") and d.qname.endswith("." + ZONE)]
    assert len(pool_queries) + len(static_queries) + len(nxdomain) == total
    assert len(pool_queries) / total == pytest.approx(0.80, abs=0.005)
    assert len(static_queries) / total == pytest.approx(0.10, abs=0.005)
    assert len(nxdomain) / total == pytest.approx(0.10, abs=0.005)
    # www A and AAAA in equal parts; every static question asked; each NXDOMAIN name a different one.
    assert Counter(d.qtype for d in pool_queries) == {
        "A": len(pool_queries) // 2,
        "AAAA": len(pool_queries) // 2,
    }
    assert {(d.qname, d.qtype) for d in static_queries} == static_names()
    assert len({d.qname for d in nxdomain}) == len(nxdomain)


def test_mixed_shares_of_edns_and_client_subnet(tmp_path: Path) -> None:
    decoded = written(mixed(), tmp_path)
    with_edns = [d for d in decoded if d.payload is not None]
    with_ecs = [d for d in with_edns if d.ecs is not None]
    assert len(with_edns) / len(decoded) == pytest.approx(0.5, abs=0.005)
    assert len(with_ecs) / len(with_edns) == pytest.approx(0.2, abs=0.01)
    assert all(d.payload == EDNS_PAYLOAD for d in with_edns)
    # Each kind of query carries EDNS and ECS in about the same shares as the whole load.
    for kind in (
        [d for d in decoded if d.qname == POOL_NAME],
        [d for d in decoded if d.qname.startswith("nx-")],
    ):
        assert sum(d.payload is not None for d in kind) / len(kind) == pytest.approx(0.5, abs=0.02)
        assert sum(d.ecs is not None for d in kind) / len(kind) == pytest.approx(0.1, abs=0.02)


def test_mixed_client_subnets_are_valid_and_varied_slash_24s(tmp_path: Path) -> None:
    subnets = []
    for d in written(mixed(), tmp_path):
        if d.ecs is None:
            continue
        family, source, scope, address = d.ecs
        # RFC 7871 6: IPv4, the source prefix, scope 0 in a query, only the prefix's octets, no bits beyond.
        assert (family, source, scope, len(address)) == (1, 24, 0, 3)
        subnets.append(ipaddress.ip_network(bytes(address) + b"\0"))
    assert len(subnets) == len(set(subnets)) > 50
    assert len({network.network_address.packed[0] for network in subnets}) > 20


def test_mixed_is_the_same_sequence_every_time(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    assert mixed().write(first).read_bytes() == mixed().write(second).read_bytes()
    assert mixed().queries != mixed(seed=1).queries
