"""Read a master file with dnspython's reader, except for the lines simple enough to read directly.

dnspython reads about 14,000 records a second here: its tokenizer looks at one character at a
time, and that is most of the cost of loading a million-record zone. Yet nearly every line of
such a zone is ``owner [ttl] [IN] A|AAAA address``: no quotes, escapes, comments or
parentheses. Those lines are matched by one regular expression and added to the zone through
the same transaction, with the same rdata classes and the same reader state (last owner, TTLs,
``$ORIGIN``) that dnspython's reader keeps; every other line, in runs, goes through the reader
itself, so dnspython stays the definition of the syntax and of every error message, and a
property test holds the two paths to identical zones.
"""

from __future__ import annotations

import re

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.tokenizer
import dns.ttl
import dns.zone
import dns.zonefile

IN = dns.rdataclass.IN
MAX_NAME_WIRE = 255
MAX_LABEL = 63

# owner (or leading blank: the last owner), then [ttl] [IN] or IN ttl, the type, one address.
_SIMPLE = re.compile(
    r"(?:(?P<owner>@|[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?)|(?=[ \t]))[ \t]+"
    r"(?:(?P<ttl>[0-9]{1,10})[ \t]+(?:[Ii][Nn][ \t]+)?|[Ii][Nn][ \t]+(?:(?P<ttl2>[0-9]{1,10})[ \t]+)?)?"
    r"(?P<type>[Aa]|[Aa]{4})[ \t]+(?P<address>[0-9A-Fa-f:.]+)[ \t]*\r?"
)
_RDATA: dict[int, tuple[type[dns.rdata.Rdata], dns.rdatatype.RdataType]] = {
    1: (dns.rdtypes.IN.A.A, dns.rdatatype.A),  # by the length of the type's name
    4: (dns.rdtypes.IN.AAAA.AAAA, dns.rdatatype.AAAA),
}


Simple = dict[dns.name.Name, dict[dns.rdatatype.RdataType, dns.rdataset.Rdataset]]
"""The records of the simple lines, by owner and type, to add to the zone once its transaction is
committed (a transaction's add costs more than parsing the line did)."""


def read(reader: dns.zonefile.Reader, text: str, filename: str) -> Simple:
    """Read ``text``: every line the reader would read goes to its transaction, except the simple
    lines, whose records are returned for ``merge``."""
    simple: Simple = {}
    lines = text.split("\n")
    ending = "\n" if lines[-1] == "" else ""  # end-of-file errors are counted on the file's last line
    if ending:
        lines.pop()
    depth = 0  # open parentheses: inside them, a line continues the record before it
    pending = 0  # first line not yet read
    zone = reader.zone_origin
    assert zone is not None  # the zone is made with its origin
    origin_inside = True  # the current origin is in the zone (relative owners are too)
    origin = reader.current_origin
    for number, line in enumerate(lines):
        match = _SIMPLE.fullmatch(line) if depth == 0 else None
        if match is None:
            depth = _depth_after(line, depth)
            continue
        if pending < number:
            _read_run(reader, lines, pending, number, filename)
        if reader.current_origin is not origin:
            origin = reader.current_origin
            origin_inside = origin is not None and origin.is_subdomain(zone)
        if not _add(simple, reader, zone, match, origin_inside):
            _read_run(reader, lines, number, number + 1, filename)  # let dnspython decide, or say why
        pending = number + 1
    if pending < len(lines):
        _read_run(reader, lines, pending, len(lines), filename, ending)
    return simple


def merge(zone: dns.zone.Zone, simple: Simple) -> None:
    """Add what ``read`` returned to the zone (after its transaction), as the transaction would have:
    into the owner's node, with the TTL of an RRset the lowest of its records' TTLs."""
    for name, by_type in simple.items():
        node = zone.nodes.get(name)
        if node is None:
            node = zone.nodes[name] = zone.node_factory()
        elif node.get_rdataset(IN, dns.rdatatype.CNAME) is not None:
            raise dns.zonefile.CNAMEAndOtherData(f"{name} has a CNAME and address records")
        for rdtype, rdataset in by_type.items():
            existing = node.get_rdataset(IN, rdtype)
            if existing is None:
                node.replace_rdataset(rdataset)
            else:
                existing.union_update(rdataset)


def _read_run(
    reader: dns.zonefile.Reader, lines: list[str], start: int, stop: int, filename: str, ending: str = "\n"
) -> None:
    """Lines ``start`` to ``stop`` (0-based) through dnspython, which numbers them as in the file."""
    codec = reader.tok.idna_codec  # a $UNICODE directive's choice outlives the run that made it
    reader.tok = dns.tokenizer.Tokenizer("\n".join(lines[start:stop]) + ending, filename, codec)
    reader.tok.line_number = start + 1
    reader.read()


def _add(
    simple: Simple,
    reader: dns.zonefile.Reader,
    zone: dns.name.Name,
    match: re.Match[str],
    origin_inside: bool,
) -> bool:
    """Add a simple line's record as dnspython's reader would; False leaves the line to dnspython
    (a name or TTL it must judge, an owner outside the zone, a TTL it must infer or refuse)."""
    owner, ttl_text = match["owner"], match["ttl"] or match["ttl2"]
    if owner is None:
        name = reader.last_name
        if name is None or not (origin_inside or name.is_subdomain(zone)):
            return False
    elif owner == "@":
        name = reader.current_origin
        if name is None or not origin_inside:
            return False
    else:
        name = _name(owner, reader.current_origin)
        if name is None:
            return False
        if owner.endswith(".") and not name.is_subdomain(zone):
            return False
        if not owner.endswith(".") and not origin_inside:
            return False
    if ttl_text is not None:
        ttl = int(ttl_text)
        if ttl > dns.ttl.MAX_TTL:
            return False
    else:
        implicit = reader._implicit_ttl()
        if implicit is None:
            return False
        ttl = implicit
    kind, rdtype = _RDATA[len(match["type"])]
    try:
        rdata = kind(IN, rdtype, match["address"])  # type: ignore[call-arg]
    except (ValueError, dns.exception.DNSException):
        return False
    if ttl_text is not None:
        reader.last_ttl, reader.last_ttl_known = ttl, True
    reader.last_name = name
    by_type = simple.get(name)
    if by_type is None:
        by_type = simple[name] = {}
    rdataset = by_type.get(rdtype)
    if rdataset is None:
        rdataset = by_type[rdtype] = dns.rdataset.Rdataset(IN, rdtype)
    rdataset.add(rdata, ttl)
    return True


def _name(text: str, origin: dns.name.Name | None) -> dns.name.Name | None:
    """The owner name, as dnspython's tokenizer would make it of this plain text; None if invalid."""
    absolute = text.endswith(".")
    labels = [label.encode() for label in (text[:-1] if absolute else text).split(".")]
    if not absolute:
        if origin is None:
            return None
        labels.extend(origin.labels)
    else:
        labels.append(b"")
    if (
        any(len(label) > MAX_LABEL for label in labels)
        or sum(len(label) + 1 for label in labels) > MAX_NAME_WIRE
    ):
        return None
    return dns.name.Name(labels)


def _depth_after(line: str, depth: int) -> int:
    """Parenthesis depth after a line, skipping quoted strings, escapes and comments."""
    if "(" not in line and ")" not in line:
        return depth
    quoted = escaped = False
    for char in line:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif char == ";":
            break
        elif char == "(":
            depth += 1
        elif char == ")":
            depth = max(depth - 1, 0)
    return depth
