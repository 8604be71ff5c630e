"""Authoritative behaviour through the real server's UDP and TCP sockets."""

from __future__ import annotations

import socket

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from tests.integration.conftest import TRANSFER_CLIENT
from tests.integration.dnsclient import ask, raw_udp
from tests.integration.server import GslbProcess

WWW = {"192.0.2.10", "198.51.100.10", "203.0.113.10"}  # the example pool's IPv4 VIPs


def two_of_www(response: dns.message.Message) -> bool:
    """The example pool answers two distinct VIPs of its three."""
    found = [rd.to_text() for rrset in response.answer for rd in rrset if rrset.rdtype == dns.rdatatype.A]
    return len(found) == 2 == len(set(found)) and set(found) <= WWW


def addresses(response: dns.message.Message) -> set[str]:
    return {
        rdata.to_text() for rrset in response.answer for rdata in rrset if rrset.rdtype == dns.rdatatype.A
    }


def test_quickstart_names_answer(gslb_auth: GslbProcess) -> None:
    response = ask(gslb_auth.host, gslb_auth.port, "www.gslb.example.test", "A")
    assert two_of_www(response)
    assert response.flags & dns.flags.AA and not response.flags & dns.flags.RA
    soa = ask(gslb_auth.host, gslb_auth.port, "gslb.example.test", "SOA", tcp=True)
    assert soa.answer[0].rdtype == dns.rdatatype.SOA and soa.answer[0][0].serial == 2026112501


def test_rd_is_echoed_but_no_recursion_is_offered(gslb_auth: GslbProcess) -> None:
    query = dns.message.make_query("www.gslb.example.test", "A")
    query.flags |= dns.flags.RD | dns.flags.CD
    response = dns.query.udp(query, gslb_auth.host, port=gslb_auth.port, timeout=3)
    assert response.flags & dns.flags.RD and response.flags & dns.flags.CD
    assert not response.flags & dns.flags.RA
    query.flags &= ~(dns.flags.RD | dns.flags.CD)
    response = dns.query.udp(query, gslb_auth.host, port=gslb_auth.port, timeout=3)
    assert not response.flags & (dns.flags.RD | dns.flags.CD)


def test_question_is_echoed_byte_for_byte(gslb_auth: GslbProcess) -> None:
    for qname in ("WwW.gSlB.ExAmPlE.TeSt", "NoPe.AuTh.TeSt", "FOO.wild.AUTH.test", "Alias2.Auth.Test"):
        query = dns.message.make_query(qname, "A", id=4242)
        wire = query.to_wire()
        reply = raw_udp(gslb_auth.host, gslb_auth.port, wire)
        assert reply is not None
        assert reply[:2] == wire[:2]
        assert reply[12 : len(wire)] == wire[12:], qname
        dns.message.from_wire(reply)  # and the compression pointers into it still decode


def test_nxdomain_and_nodata_per_rfc2308(gslb_auth: GslbProcess) -> None:
    nx = ask(gslb_auth.host, gslb_auth.port, "missing.gslb.example.test", "A")
    assert nx.rcode() == dns.rcode.NXDOMAIN and nx.flags & dns.flags.AA
    (soa,) = nx.authority
    assert soa.rdtype == dns.rdatatype.SOA and soa.ttl == 60  # min(3600, MINIMUM 60)
    nodata = ask(gslb_auth.host, gslb_auth.port, "mail.gslb.example.test", "TXT")
    assert nodata.rcode() == dns.rcode.NOERROR and nodata.answer == [] and nodata.authority[0].ttl == 60
    ent = ask(gslb_auth.host, gslb_auth.port, "c.auth.test", "A")
    assert ent.rcode() == dns.rcode.NOERROR and ent.answer == []


def test_names_outside_served_zones_are_refused(gslb_auth: GslbProcess) -> None:
    for qname in ("example.com", "example.test", "test"):
        response = ask(gslb_auth.host, gslb_auth.port, qname, "A")
        assert response.rcode() == dns.rcode.REFUSED
        assert not response.flags & dns.flags.AA and response.answer == []


def test_cname_chain_wildcard_and_referral(gslb_auth: GslbProcess) -> None:
    chain = ask(gslb_auth.host, gslb_auth.port, "api.gslb.example.test", "A")
    assert chain.answer[0].rdtype == dns.rdatatype.CNAME and two_of_www(chain)
    wild = ask(gslb_auth.host, gslb_auth.port, "anything.wild.auth.test", "A")
    assert wild.answer[0].name == dns.name.from_text("anything.wild.auth.test")
    referral = ask(gslb_auth.host, gslb_auth.port, "www.sub.auth.test", "A")
    assert not referral.flags & dns.flags.AA and referral.answer == []
    assert referral.authority[0].rdtype == dns.rdatatype.NS
    assert {r.rdtype for r in referral.additional} == {dns.rdatatype.A, dns.rdatatype.AAAA}


def test_ns_mx_srv_carry_in_zone_addresses(gslb_auth: GslbProcess) -> None:
    ns = ask(gslb_auth.host, gslb_auth.port, "gslb.example.test", "NS")
    glue = {(r.name.to_text(), r.rdtype) for r in ns.additional}
    assert ("ns1.gslb.example.test.", dns.rdatatype.A) in glue and (
        "ns2.gslb.example.test.",
        dns.rdatatype.A,
    ) in glue
    srv = ask(gslb_auth.host, gslb_auth.port, "_http._tcp.www.gslb.example.test", "SRV")
    assert {r.name.to_text() for r in srv.additional} == {"www.gslb.example.test."}


def test_edns_is_answered_only_when_asked(gslb_auth: GslbProcess) -> None:
    plain = ask(gslb_auth.host, gslb_auth.port, "www.gslb.example.test", "A")
    assert plain.edns == -1
    with_edns = ask(gslb_auth.host, gslb_auth.port, "www.gslb.example.test", "A", edns=0, want_dnssec=True)
    assert with_edns.edns == 0 and with_edns.payload == 1232 and with_edns.ednsflags & dns.flags.DO


def test_unsupported_edns_version_gets_badvers(gslb_auth: GslbProcess) -> None:
    response = ask(gslb_auth.host, gslb_auth.port, "www.gslb.example.test", "A", edns=1)
    assert response.rcode() == dns.rcode.BADVERS and response.edns == 0 and response.answer == []


def test_unknown_options_are_ignored_and_ecs_is_echoed_with_scope_zero(gslb_auth: GslbProcess) -> None:
    unknown = dns.edns.GenericOption(dns.edns.OptionType.make(65001), b"hello")
    ecs = dns.edns.ECSOption("198.51.100.0", 24)
    response = ask(
        gslb_auth.host, gslb_auth.port, "mail.gslb.example.test", "A", edns=0, options=[unknown, ecs]
    )
    assert addresses(response) == {"192.0.2.25"}
    (echo,) = response.options
    assert isinstance(echo, dns.edns.ECSOption)
    assert (echo.address, echo.srclen, echo.scopelen) == ("198.51.100.0", 24, 0)


def test_malformed_ecs_gets_formerr(gslb_auth: GslbProcess) -> None:
    bad = dns.edns.GenericOption(dns.edns.ECS, b"\x00\x01\x18\x00\xc6\x33")  # /24 with 2 address bytes
    response = ask(gslb_auth.host, gslb_auth.port, "www.gslb.example.test", "A", edns=0, options=[bad])
    assert response.rcode() == dns.rcode.FORMERR


def test_payload_size_decides_truncation_and_tcp_gets_everything(gslb_auth: GslbProcess) -> None:
    small = ask(gslb_auth.host, gslb_auth.port, "big.auth.test", "TXT")
    assert small.flags & dns.flags.TC and small.answer == []
    large = ask(gslb_auth.host, gslb_auth.port, "big.auth.test", "TXT", edns=0, payload=4096)
    assert not large.flags & dns.flags.TC and len(large.answer[0]) == 4
    full = ask(gslb_auth.host, gslb_auth.port, "big.auth.test", "TXT", tcp=True)
    assert not full.flags & dns.flags.TC and len(full.answer[0]) == 4


def test_additional_records_are_dropped_before_truncating(gslb_auth: GslbProcess) -> None:
    response = ask(gslb_auth.host, gslb_auth.port, "bigmx.auth.test", "MX", edns=0, payload=512)
    assert not response.flags & dns.flags.TC and len(response.answer[0]) == 8
    assert len(response.to_wire()) <= 512
    assert len(response.additional) == 14  # whole RRsets, as many as fit (m01-m07 A and AAAA), as Knot does
    roomy = ask(gslb_auth.host, gslb_auth.port, "bigmx.auth.test", "MX", edns=0, payload=1232)
    assert len(roomy.additional) == 16


def test_server_maximum_caps_the_advertised_payload(all_zones: object) -> None:
    with GslbProcess(all_zones, extra_args=["--max-udp-payload", "512"]) as server:  # type: ignore[arg-type]
        response = ask(server.host, server.port, "big.auth.test", "TXT", edns=0, payload=4096)
        assert response.flags & dns.flags.TC and response.payload == 512


def test_any_is_minimal_over_udp(gslb_auth: GslbProcess) -> None:
    udp = ask(gslb_auth.host, gslb_auth.port, "host.auth.test", "ANY")
    assert len(udp.answer) == 1
    tcp = ask(gslb_auth.host, gslb_auth.port, "host.auth.test", "ANY", tcp=True)
    assert len(tcp.answer) == 4


@pytest.mark.parametrize(
    "opcode", [dns.opcode.STATUS, dns.opcode.NOTIFY, dns.opcode.UPDATE, dns.opcode.Opcode(3)]
)
def test_unknown_opcodes_get_notimp(gslb_auth: GslbProcess, opcode: dns.opcode.Opcode) -> None:
    query = dns.message.make_query("gslb.example.test", "SOA")
    query.set_opcode(opcode)
    reply = raw_udp(gslb_auth.host, gslb_auth.port, query.to_wire())
    assert reply is not None
    response = dns.message.from_wire(reply)
    assert response.rcode() == dns.rcode.NOTIMP and response.opcode() == opcode


def test_qdcount_other_than_one_gets_formerr_and_responses_are_ignored(gslb_auth: GslbProcess) -> None:
    query = dns.message.make_query("www.gslb.example.test", "A").to_wire()
    zero = query[:4] + b"\x00\x00" + query[6:12]
    two = query[:4] + b"\x00\x02" + query[6:] + query[12:]
    for wire in (zero, two):
        reply = raw_udp(gslb_auth.host, gslb_auth.port, wire)
        assert reply is not None and reply[3] & 0x0F == dns.rcode.FORMERR and reply[:2] == wire[:2]
    as_response = bytes([query[0], query[1], query[2] | 0x80]) + query[3:]
    assert raw_udp(gslb_auth.host, gslb_auth.port, as_response, timeout=0.5) is None
    assert raw_udp(gslb_auth.host, gslb_auth.port, b"\x12\x34\x01", timeout=0.5) is None


def test_zone_transfer_is_refused_unless_allowed(gslb_auth: GslbProcess) -> None:
    refused = ask(gslb_auth.host, gslb_auth.port, "auth.test", "AXFR", tcp=True)
    assert refused.rcode() == dns.rcode.REFUSED
    assert ask(gslb_auth.host, gslb_auth.port, "auth.test", "AXFR").rcode() == dns.rcode.REFUSED
    query = dns.message.make_query("auth.test", "AXFR")
    records = []
    with socket.create_connection(
        (gslb_auth.host, gslb_auth.port), timeout=3, source_address=(TRANSFER_CLIENT, 0)
    ) as sock:
        dns.query.send_tcp(sock, query)
        while True:
            message, _ = dns.query.receive_tcp(sock, expiration=None, one_rr_per_rrset=True)
            assert message.rcode() == dns.rcode.NOERROR and message.flags & dns.flags.AA
            records.extend(message.answer)
            if len(records) > 1 and records[-1].rdtype == dns.rdatatype.SOA:
                break
    assert records[0].rdtype == dns.rdatatype.SOA
    served = {(r.name, r.rdtype, rd.to_text()) for r in records[1:-1] for rd in r}
    assert (dns.name.from_text("big.auth.test"), dns.rdatatype.TXT) in {(n, t) for n, t, _ in served}
    assert len(served) == 61  # every record of the file but the SOA, each exactly once
