"""The simple-line reader against dnspython's own: the same zone, or the same error at the same line."""

from __future__ import annotations

from pathlib import Path

import dns.name
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gslb.dns import zonefile
from gslb.dns.plain import StaticZone
from gslb.errors import ZoneError

ORIGIN = dns.name.from_text("z.test.")
PATH = Path("z.test.zone")
HEAD = ["@ 3600 IN SOA ns1 hostmaster 1 3600 600 86400 60", "@ IN NS ns1"]

Outcome = tuple[str, object]


def outcome(text: str, simple_lines: bool) -> Outcome:
    """The zone's records in comparable form, or the error's line and detail."""
    try:
        zone = zonefile._parse(PATH, ORIGIN, text, simple_lines=simple_lines)
    except ZoneError as exc:
        return "error", (exc.line, exc.detail)
    return "zone", records(zone)


def records(zone: StaticZone) -> set[tuple[str, str, int, tuple[str, ...]]]:
    """Every record, the plain owners' too (their own order and spelling: tests/unit/dns/test_plain.py)."""
    rdatasets = [(name, rdataset) for name, node in zone.nodes.items() for rdataset in node.rdatasets]
    rdatasets += [(name, rrset) for name, by_type in zone.plain.items() for rrset in by_type.values()]
    return {
        (name.to_text(), rdataset.rdtype.name, rdataset.ttl, tuple(sorted(rd.to_text() for rd in rdataset)))
        for name, rdataset in rdatasets
    }


owners = st.one_of(
    st.sampled_from(["", "@", "www", "a.b", "WWW", "x-1", "_sip", "z.test.", "h.z.test.", "out.test.", "1"]),
    st.from_regex(r"[a-z0-9]{1,4}(\.[a-z0-9]{1,3}){0,2}", fullmatch=True),
)
ttls = st.sampled_from(["", "0", "300", "3600", "2147483647", "2147483648", "1h", "099"])
classes = st.sampled_from(["", "IN", "in", "CH"])
addresses = st.sampled_from(
    [
        "192.0.2.1",
        "10.0.0.255",
        "1.2.3.256",
        "01.2.3.4",
        "::1",
        "2001:db8::1",
        "2001:DB8::A",
        "::g",
        "1.2.3",
        "::ffff:192.0.2.1",
        "::192.0.2.1",
        "1:2:3:4:5:6:7:8",
        "1:0:0:4:0:0:0:8",
        "::",
        "1::",
        "2001:db8:0:0:0:0:0:1",
        "1:2:3:4:5:6:7:8:9",
        "::01.2.3.4",
    ]
)
spaces = st.sampled_from([" ", "\t", "  ", " \t"])
texts = st.sampled_from(
    [
        '"v=spf1 -all"',
        '""',
        '"a ) b" "c ; d"',
        '"(" ")"',
        '"a""b"',
        '"x" y',
        "bare",
        '"caf\u00e9"',
        '"tab\there"',
        '"' + "t" * 255 + '"',
        '"' + "t" * 256 + '"',
    ]
)


@st.composite
def simple_line(draw: st.DrawFn) -> str:
    """Lines of the shape the fast path takes, and near misses that it must leave to dnspython."""
    owner, ttl, rdclass = draw(owners), draw(ttls), draw(classes)
    rdtype = draw(st.sampled_from(["A", "AAAA", "a", "aaaa", "TXT", "txt"]))
    gap = draw(spaces)
    fields = [owner]
    if draw(st.booleans()):
        fields += [ttl, rdclass]
    else:
        fields += [rdclass, ttl]
    fields += [rdtype, draw(texts if rdtype.upper() == "TXT" else addresses)]
    line = gap.join(f for f in fields[1:] if f)
    line = (fields[0] + gap if fields[0] else gap) + line
    return line + draw(st.sampled_from(["", " ", "\r", " ; note"]))


other_lines = st.sampled_from(
    [
        "",
        "; a comment with ( in it",
        "$TTL 120",
        "$TTL 2h",
        "$ORIGIN sub.z.test.",
        "$ORIGIN z.test.",
        "$ORIGIN other.test.",
        'txt IN TXT "a ) b" "c ; d"',
        'txt2 IN TXT ( "x ) y"',
        "  A 192.0.2.9 )",
        "multi IN A (",
        "  192.0.2.10 )",
        "mx IN MX 10 mail",
        "long 300 IN TXT ( one",
        "   two ) ; done",
        'esc IN TXT "a\\"(b"',
        "bad IN A",
        "  IN AAAA ::2",
        "www IN CNAME ns1",
        "www 60 IN A 192.0.2.7 ; beside the simple lines",
        "sub IN NS ns.sub",
        "WWW IN MX 10 www",
    ]
)


@settings(max_examples=400, deadline=None)
@given(body=st.lists(st.one_of(simple_line(), other_lines), max_size=14), with_ttl=st.booleans())
@example(body=["www 300 A 192.0.2.1", " A 192.0.2.2", "www 60 IN A 192.0.2.3"], with_ttl=False)
@example(body=["www 300 A 192.0.2.1", "other A 192.0.2.2", "$TTL 60", "third A 192.0.2.3"], with_ttl=False)
@example(body=["multi IN A (", "  www A 192.0.2.10 )"], with_ttl=True)
@example(body=["$ORIGIN other.test.", "x A 192.0.2.1"], with_ttl=True)
@example(body=["x IN 300 A 192.0.2.1", "y 300 IN 300 A 192.0.2.1"], with_ttl=True)
@example(body=["www AAAA ::1", "www IN CNAME ns1", " A 192.0.2.1 ; note"], with_ttl=True)
@example(body=["www IN CNAME ns1", " A 192.0.2.1", " A 1.2.3.256"], with_ttl=True)
def test_the_simple_line_reader_makes_the_zone_dnspython_makes(body: list[str], with_ttl: bool) -> None:
    text = "\n".join([*(["$TTL 300"] if with_ttl else []), *HEAD, *body]) + "\n"
    assert outcome(text, simple_lines=True) == outcome(text, simple_lines=False)


@pytest.mark.parametrize(
    "body",
    [
        ["www IN CNAME ns1", "www IN A 192.0.2.1"],
        ["www IN A 192.0.2.1", "www IN CNAME ns1"],
    ],
)
def test_a_cname_beside_addresses_is_refused_either_way(body: list[str]) -> None:
    text = "\n".join(["$TTL 300", *HEAD, *body]) + "\n"
    for simple_lines in (True, False):
        with pytest.raises(ZoneError, match="CNAME"):
            zonefile._parse(PATH, ORIGIN, text, simple_lines=simple_lines)
    assert outcome(text, simple_lines=True) == outcome(text, simple_lines=False)
