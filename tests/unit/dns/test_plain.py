"""Plain owners (gslb/dns/plain.py) answer every question byte for byte as dnspython's records do.

A zone is read twice: with the simple lines' owners kept as wire where they may be, and with every
line through dnspython (``simple_lines=False``). Both snapshots must give the same response to
every question about every name near the zone's owners, over UDP and TCP, and the same transfer.
"""

from __future__ import annotations

import ipaddress
import random
from pathlib import Path

import dns.message
import dns.name
import dns.rdatatype
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gslb.answer.responder import ResponderSettings, respond, respond_stream
from gslb.declare.apply import static_owner_names
from gslb.dns import zonefile
from gslb.dns.plain import StaticZone, owner_texts, rdatas_of, records_in, rrset_wire, ttl_of
from gslb.dns.render import plain_answer, render_plain
from gslb.dns.zonefile import LoadedZone
from gslb.errors import ZoneError
from gslb.model import Inventory, Member, Pool, Site
from gslb.snapshot import snapshot

ORIGIN = dns.name.from_text("z.test.")
PATH = Path("z.test.zone")
HEAD = ["$TTL 300", "@ 3600 IN SOA ns1 hostmaster 1 3600 600 86400 60", "@ IN NS ns1", "ns1 A 192.0.2.53"]

OWNERS = ["www", "WWW", "Www.z.test.", "a.b", "A.B", "c.a.b", "mail", "h1", "deep.e.f", "@"]
OWNERS += ["sub", "ns.sub", "x.sub", "q.w", "_x"]
DATA = {
    "A": ["192.0.2.1", "192.0.2.2", "192.0.2.1"],
    "AAAA": ["2001:db8::1", "2001:DB8::1", "2001:db8::2"],
    "TXT": ['"one"', '"two" "three"', '""'],
}
OTHER_LINES = [
    "www A 192.0.2.9 ; a comment makes the line dnspython's",
    'a.b IN TXT "esc\\"aped"',
    "mail 60 IN AAAA 2001:db8::99 ; comment",
    "alias IN CNAME www",
    "alias2 IN CNAME A.b",
    "chain IN CNAME alias",
    "ext IN CNAME www.other.test.",
    "mx IN MX 10 mail",
    "mx2 IN MX 20 WWW.z.test.",
    "_sip._tcp IN SRV 0 0 5060 h1",
    "_sip2._tcp IN SRV 0 0 5060 deep.e.f",
    "sub IN NS ns.sub",
    "sub IN NS h1",
    "sub3 IN NS ns.sub3.other.test.",
    "*.w IN A 192.0.2.50",
    '*.b IN TXT "wild"',
    "*.e.f IN AAAA 2001:db8::5",
    "h1 IN CNAME mail",
    "$TTL 60",
    "@ IN A 192.0.2.80",
    "broken IN A 192.0.2.256",
]
SUFFIXES = ["z.test.", "b.z.test.", "a.b.z.test.", "f.z.test.", "e.f.z.test.", "w.z.test.", "sub.z.test."]
QNAMES = sorted(
    {o.lower() + ("" if o.endswith(".") else ".z.test.") for o in OWNERS if o != "@"}
    | {f"{o}.z.test." for o in ("alias", "alias2", "chain", "mx", "mx2", "_sip._tcp", "sub3", "ext")}
    | {f"{label}.{suffix}" for label in ("nx", "*", "www") for suffix in SUFFIXES}
    | {*SUFFIXES, "deep.e.f.z.test.", "nx.deep.e.f.z.test."}
)
QTYPES = ["A", "AAAA", "TXT", "MX", "CNAME", "NS", "SOA", "SRV", "DS", "ANY", "TYPE65280"]
SETTINGS = ResponderSettings(transfer_allowed=(ipaddress.ip_network("127.0.0.0/8"),))


@st.composite
def simple_line(draw: st.DrawFn) -> str:
    """A simple line, or one with its owner left blank (the last owner's), of any TTL."""
    rdtype = draw(st.sampled_from(sorted(DATA)))
    owner = draw(st.sampled_from(["", *OWNERS]))
    ttl = draw(st.sampled_from(["", "60 ", "300 ", "3600 "]))
    rdclass = draw(st.sampled_from(["", "IN "]))
    return f"{owner} {ttl}{rdclass}{rdtype} {draw(st.sampled_from(DATA[rdtype]))}"


def loaded(text: str, simple_lines: bool) -> LoadedZone | tuple[int | None, str]:
    try:
        return LoadedZone(ORIGIN, PATH, zonefile._parse(PATH, ORIGIN, text, simple_lines=simple_lines))
    except ZoneError as exc:
        return exc.line, exc.detail


def inventory(pool_at: str | None) -> Inventory:
    if pool_at is None:
        return Inventory()
    member = Member("a", "198.51.100.1")
    return Inventory((Site("a"),), (Pool("p", (pool_at,), members=(member,)),)).normalized()


def responses(snap: snapshot.Snapshot, qname: str, qtype: str) -> list[bytes]:
    """The UDP and TCP responses (the TCP one a transfer's messages for AXFR)."""
    query = dns.message.make_query(qname, qtype, use_edns=False)
    query.id = 4660
    data = query.to_wire()
    udp = respond(snap, data, SETTINGS, client_ip="127.0.0.1")
    return [udp or b"", *respond_stream(snap, data, SETTINGS, "127.0.0.1")]


@settings(max_examples=150, deadline=None)
@given(
    body=st.lists(st.one_of(simple_line(), st.sampled_from(OTHER_LINES)), max_size=16),
    pool_at=st.sampled_from([None, "www.z.test.", "h1.z.test.", "new.b.z.test."]),
    upper=st.booleans(),
)
@example(
    body=["www A 192.0.2.1", "www A 192.0.2.9 ; a comment makes the line dnspython's"],
    pool_at=None,
    upper=False,
)
@example(body=["WWW A 192.0.2.1", "www 60 A 192.0.2.2", "mx2 IN MX 20 WWW.z.test."], pool_at=None, upper=True)
@example(body=["A.B A 192.0.2.1", 'a.b IN TXT "esc\\"aped"'], pool_at=None, upper=False)
@example(body=["sub IN NS ns.sub", "ns.sub A 192.0.2.1", 'x.sub TXT "one"'], pool_at=None, upper=False)
@example(body=["c.a.b A 192.0.2.1", '*.b IN TXT "wild"', "alias2 IN CNAME A.b"], pool_at=None, upper=False)
@example(
    body=["h1 A 192.0.2.1", "h1 AAAA 2001:db8::1", "_sip._tcp IN SRV 0 0 5060 h1"],
    pool_at="h1.z.test.",
    upper=False,
)
def test_plain_owners_answer_as_dnspython_records_do(
    body: list[str], pool_at: str | None, upper: bool
) -> None:
    text = "\n".join([*HEAD, *body]) + "\n"
    fast, slow = loaded(text, True), loaded(text, False)
    if not isinstance(fast, LoadedZone) or not isinstance(slow, LoadedZone):
        assert fast == slow  # the same error at the same line
        return
    assert fast.records == slow.records
    assert static_owner_names([fast]) == static_owner_names([slow])
    snaps = [snapshot.build([z], inventory(pool_at), rng=random.Random(1)) for z in (fast, slow)]
    for qname in QNAMES:
        asked = qname.upper() if upper else qname
        for qtype in QTYPES:
            assert responses(snaps[0], asked, qtype) == responses(snaps[1], asked, qtype), (asked, qtype)
    assert responses(snaps[0], "z.test.", "AXFR") == responses(snaps[1], "z.test.", "AXFR")


def test_most_simple_owners_are_kept_as_wire() -> None:
    text = (
        "\n".join([*HEAD, "www A 192.0.2.1", 'a.b TXT "one"', "mail A 192.0.2.2", "mail A 192.0.2.3"]) + "\n"
    )
    zone = zonefile._parse(PATH, ORIGIN, text)
    plain = sorted(owner_texts(zone.plain.owners))
    assert plain == ["a.b.z.test.", "mail.z.test.", "ns1.z.test.", "www.z.test."]
    assert list(owner_texts(zone.plain.ancestors)) == ["b.z.test."]  # an empty non-terminal
    assert zone.plain.records == 5
    assert [name.to_text() for name in zone.nodes] == ["z.test."]


@pytest.mark.parametrize(
    ("body", "held"),
    [
        (
            ["sub IN NS ns.sub", "ns.sub A 192.0.2.1", "deeper.ns.sub A 192.0.2.2"],
            ["ns.sub", "deeper.ns.sub"],
        ),
        (['www TXT "x\\"y"', "www A 192.0.2.1"], ["www"]),  # another line at the owner
        (["@ A 192.0.2.1"], []),  # the apex
    ],
)
def test_owners_dnspython_must_hold_are_not_plain(body: list[str], held: list[str]) -> None:
    zone = zonefile._parse(PATH, ORIGIN, "\n".join([*HEAD, *body]) + "\n")
    plain = set(owner_texts(zone.plain.owners))
    for owner in held:
        assert f"{owner}.z.test." not in plain
        assert dns.name.from_text(owner, ORIGIN) in zone.nodes


def test_an_rrset_filled_by_both_kinds_of_line_keeps_the_file_order() -> None:
    text = "\n".join([*HEAD, "www A 192.0.2.2", "www A 192.0.2.1 ; comment", "www A 192.0.2.3"]) + "\n"
    zone = zonefile._parse(PATH, ORIGIN, text)
    rdataset = zone.find_rdataset("www.z.test.", "A")
    assert [rd.to_text() for rd in rdataset] == ["192.0.2.2", "192.0.2.1", "192.0.2.3"]


def test_an_rrset_wire_is_the_answer_render_plain_gives() -> None:
    text = "\n".join([*HEAD, "www 60 A 192.0.2.2", "www 30 A 192.0.2.1", "www A 192.0.2.2"]) + "\n"
    zone: StaticZone = zonefile._parse(PATH, ORIGIN, text, simple_lines=False)
    rrset = zone.find_rrset("www.z.test.", "A")
    wire = rrset_wire(rrset.rdtype, rrset.ttl, [rd.to_wire() or b"" for rd in rrset])
    assert plain_answer(wire) == render_plain(rrset)
    assert (ttl_of(wire), records_in(wire)) == (30, 2)
    assert list(rdatas_of(wire)) == [bytes([192, 0, 2, 2]), bytes([192, 0, 2, 1])]
