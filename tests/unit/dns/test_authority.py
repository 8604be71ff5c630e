"""The authoritative rules, on the test zone, without sockets."""

from __future__ import annotations

import dns.name
import dns.rdatatype
import pytest

from gslb.dns.authority import Catalog, Resolution, resolve
from gslb.dns.wire import RCODE_NOERROR, RCODE_NXDOMAIN, RCODE_REFUSED
from gslb.dns.zonefile import load_zones
from tests.conftest import EXAMPLE_ZONES, TEST_ZONES


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.from_zones(z.zone for z in [*load_zones(TEST_ZONES), *load_zones(EXAMPLE_ZONES)])


def ask(catalog: Catalog, name: str, rdtype: str, tcp: bool = False) -> Resolution:
    return resolve(catalog, dns.name.from_text(name), dns.rdatatype.from_text(rdtype), tcp=tcp)


def names(rrsets: tuple[object, ...]) -> list[str]:
    return [f"{r.name} {dns.rdatatype.to_text(r.rdtype)}" for r in rrsets]  # type: ignore[attr-defined]


def test_positive_answer_is_authoritative_without_authority_section(catalog: Catalog) -> None:
    result = ask(catalog, "host.auth.test", "A")
    assert (result.rcode, result.authoritative) == (RCODE_NOERROR, True)
    assert names(result.answer) == ["host.auth.test. A"]
    assert result.authority == () and result.additional == ()


def test_nxdomain_carries_soa_with_negative_ttl(catalog: Catalog) -> None:
    result = ask(catalog, "nope.auth.test", "A")
    assert result.rcode == RCODE_NXDOMAIN and result.authoritative
    (soa,) = result.authority
    assert soa.rdtype == dns.rdatatype.SOA
    assert soa.ttl == 30  # min(SOA TTL 600, MINIMUM 30)


def test_nodata_and_empty_non_terminal(catalog: Catalog) -> None:
    for qname, qtype in [("host.auth.test", "MX"), ("b.c.auth.test", "A"), ("c.auth.test", "TXT")]:
        result = ask(catalog, qname, qtype)
        assert result.rcode == RCODE_NOERROR, qname
        assert result.answer == ()
        assert names(result.authority) == ["auth.test. SOA"]


def test_outside_every_zone_is_refused(catalog: Catalog) -> None:
    assert ask(catalog, "example.com", "A").rcode == RCODE_REFUSED
    assert ask(catalog, "test", "SOA").rcode == RCODE_REFUSED


def test_cname_is_followed_inside_served_zones(catalog: Catalog) -> None:
    result = ask(catalog, "alias2.auth.test", "A")
    assert names(result.answer) == ["alias2.auth.test. CNAME", "alias.auth.test. CNAME", "host.auth.test. A"]
    outside = ask(catalog, "outside.auth.test", "A")
    assert names(outside.answer) == ["outside.auth.test. CNAME"] and outside.rcode == RCODE_NOERROR
    dangling = ask(catalog, "dangling.auth.test", "A")
    assert dangling.rcode == RCODE_NXDOMAIN and names(dangling.answer) == ["dangling.auth.test. CNAME"]
    assert ask(catalog, "alias.auth.test", "CNAME").answer[0].rdtype == dns.rdatatype.CNAME


def test_cname_loop_terminates(catalog: Catalog) -> None:
    result = ask(catalog, "loop1.auth.test", "A")
    assert names(result.answer) == ["loop1.auth.test. CNAME", "loop2.auth.test. CNAME"]


def test_wildcard_synthesis_follows_rfc4592(catalog: Catalog) -> None:
    result = ask(catalog, "foo.wild.auth.test", "A")
    assert names(result.answer) == ["foo.wild.auth.test. A"]
    assert ask(catalog, "a.b.wild.auth.test", "TXT").answer[0].name == dns.name.from_text(
        "a.b.wild.auth.test"
    )
    nodata = ask(catalog, "foo.wild.auth.test", "MX")
    assert nodata.rcode == RCODE_NOERROR and nodata.answer == ()
    # sub.wild exists, so the wildcard does not apply at or below it
    assert ask(catalog, "x.sub.wild.auth.test", "A").rcode == RCODE_NXDOMAIN
    assert ask(catalog, "sub.wild.auth.test", "A").answer == ()
    chased = ask(catalog, "foo.cwild.auth.test", "A")
    assert names(chased.answer) == ["foo.cwild.auth.test. CNAME", "host.auth.test. A"]


def test_delegation_answers_with_referral_and_glue(catalog: Catalog) -> None:
    for qname, qtype in [("x.sub.auth.test", "A"), ("sub.auth.test", "NS"), ("ns.sub.auth.test", "A")]:
        result = ask(catalog, qname, qtype)
        assert result.rcode == RCODE_NOERROR and not result.authoritative, qname
        assert result.answer == ()
        assert names(result.authority) == ["sub.auth.test. NS"]
        assert sorted(names(result.additional)) == ["ns.sub.auth.test. A", "ns.sub.auth.test. AAAA"]
        assert result.glue_required
    ds = ask(catalog, "sub.auth.test", "DS")
    assert ds.authoritative and names(ds.authority) == ["auth.test. SOA"]
    no_glue = ask(catalog, "other.auth.test", "A")
    assert not no_glue.authoritative and no_glue.additional == () and not no_glue.glue_required


def test_additional_addresses_for_ns_mx_srv(catalog: Catalog) -> None:
    assert sorted(names(ask(catalog, "auth.test", "NS").additional)) == [
        "ns1.auth.test. A",
        "ns1.auth.test. AAAA",
    ]
    assert names(ask(catalog, "auth.test", "MX").additional) == ["mx1.auth.test. A"]
    assert sorted(names(ask(catalog, "_sip._udp.auth.test", "SRV").additional)) == [
        "host.auth.test. A",
        "host.auth.test. AAAA",
    ]


def test_any_is_minimal_over_udp_and_complete_over_tcp(catalog: Catalog) -> None:
    assert len(ask(catalog, "host.auth.test", "ANY").answer) == 1
    assert len(ask(catalog, "host.auth.test", "ANY", tcp=True).answer) == 4


def test_longest_zone_wins(catalog: Catalog) -> None:
    result = ask(catalog, "mail.gslb.example.test", "A")
    assert result.answer[0][0].to_text() == "192.0.2.25"
