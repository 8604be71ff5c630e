"""Read a master file with dnspython's reader, except for the lines simple enough to read directly.

dnspython reads about 14,000 records a second here: its tokenizer looks at one character at a
time, and that is most of the cost of loading a million-record zone. Yet nearly every line of
such a zone is ``owner [ttl] [IN] A|AAAA address`` or ``owner [ttl] [IN] TXT "text" ...``: no
escapes, comments or parentheses. Those lines are matched by one regular expression and read
with the reader state (last owner, TTLs, ``$ORIGIN``) that dnspython's reader keeps; every other
line, in runs, goes through the reader itself, so dnspython stays the definition of the syntax
and of every error message, and a property test holds the two paths to identical zones.

The simple lines' records are kept as wire (gslb/dns/plain.py). ``merge`` gives dnspython those
of the owners it must hold whole: an owner that also has other lines, the apex, and the names at
or below a delegation; the rest, nearly all of a large zone, become the plain table. Where a
simple line's record would join an RRset that dnspython's reader fills too, the order of its
records would depend on which path read which line (and the owner's spelling on which came
first): ``merge`` then raises Interleaved, and those owners are read again, every line by dnspython.
So it does where dnspython finds an error while an owner's records wait beside its CNAME: read in
order, they would have been the first error.
"""

from __future__ import annotations

import re
import socket
from typing import cast

import dns.exception
import dns.ipv4
import dns.ipv6
import dns.name
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.tokenizer
import dns.ttl
import dns.zone
import dns.zonefile

from gslb.dns.plain import Entry, PlainRecords, fill, name_key, rdatas_of, rdtype_of, records_in, rrset_wire

IN = dns.rdataclass.IN
A = dns.rdatatype.A
AAAA = dns.rdatatype.AAAA
CNAME = dns.rdatatype.CNAME
NS = dns.rdatatype.NS
TXT = dns.rdatatype.TXT
MAX_NAME_WIRE = 255
MAX_LABEL = 63
MAX_RDATA = 0xFFFF

# owner (or leading blank: the last owner), then [ttl] [IN] or IN ttl, then the type and either one
# address or quoted strings of printable ASCII without quotes or backslashes (no escapes to undo).
_SIMPLE = re.compile(
    r"(?:(@|[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?)|(?=[ \t]))[ \t]+"
    r"(?:([0-9]{1,10})[ \t]+(?:[Ii][Nn][ \t]+)?|[Ii][Nn][ \t]+(?:([0-9]{1,10})[ \t]+)?)?"
    r"(?:([Aa]|[Aa]{4})[ \t]+([0-9A-Fa-f:.]+)|[Tt][Xx][Tt]((?:[ \t]+\"[ !#-\[\]-~]{0,255}\")+))"
    r"[ \t]*\r?"
)


class Interleaved(Exception):
    """Simple lines of these owners (lower-cased wire) join RRsets that dnspython's reader fills
    too, or spell the owner otherwise: the zone must be read again with them left to dnspython."""

    def __init__(self, owners: frozenset[bytes]) -> None:
        super().__init__(f"{len(owners)} owners mix simple and other lines")
        self.owners = owners


class _Several:
    """The records of an owner with more than one simple line, until ``merge`` makes its Entry."""

    __slots__ = ("by_type", "owner")

    def __init__(self, owner: bytes, wire: bytes) -> None:
        self.owner = owner
        self.by_type: dict[int, tuple[int, dict[bytes, None]]] = {}
        for rdata in rdatas_of(wire):
            self.add(rdtype_of(wire), int.from_bytes(wire[6:10], "big"), rdata)

    def add(self, rdtype: int, ttl: int, rdata: bytes) -> None:
        """As dnspython's rdataset adds a record: the lowest TTL, each record once, first come first."""
        known = self.by_type.get(rdtype)
        if known is None:
            self.by_type[rdtype] = (ttl, {rdata: None})
        else:
            if ttl < known[0]:
                self.by_type[rdtype] = known = (ttl, known[1])
            known[1].setdefault(rdata)

    def entry(self) -> Entry:
        return (self.owner, *(rrset_wire(t, ttl, rdatas) for t, (ttl, rdatas) in self.by_type.items()))


Simple = dict[bytes, Entry | _Several]
"""The simple lines' records by lower-cased owner wire: an owner of one record has its Entry at
once (most owners of a large zone), one of several a _Several until ``merge``."""


def read(
    reader: dns.zonefile.Reader, text: str, filename: str, slow: frozenset[bytes] = frozenset()
) -> Simple:
    """Read ``text``: every line the reader would read goes to its transaction, except the simple
    lines of owners not in ``slow``, whose records are returned for ``merge``."""
    return _Lines(reader, slow).read(text, filename)


def merge(zone: dns.zone.Zone, simple: Simple) -> PlainRecords:
    """Give the zone (after its transaction) the records of ``read`` that it must hold, as its
    transaction would have; the rest are the plain table. Raises Interleaved (before changing the
    zone) where that would not make the zone dnspython makes of every line."""
    origin = zone.origin
    assert origin is not None
    apex = name_key(origin)
    nodes = {name_key(name): name for name in zone.nodes}
    cuts = {key for key, name in nodes.items() if key != apex and zone.nodes[name].get_rdataset(IN, NS)}
    held: list[bytes] = []
    records = 0
    for key, read_entry in simple.items():
        if type(read_entry) is _Several:
            entry = simple[key] = read_entry.entry()  # a value replaced, not a key added: iteration goes on
            records += sum(records_in(wire) for wire in entry[1:])
        else:
            records += 1
        # Simple lines' owners are never wildcards: the expression takes no "*" label.
        if key in nodes or key == apex or (cuts and _below(key, cuts, len(apex))):
            held.append(key)
    _check_order(zone, nodes, simple, held)
    for key in held:
        entry = cast(Entry, simple.pop(key))
        records -= sum(records_in(wire) for wire in entry[1:])
        name = nodes.get(key)
        if name is None:
            name = dns.name.from_wire(entry[0], 0)[0]
        node = zone.nodes.get(name)
        if node is None:
            node = zone.nodes[name] = zone.node_factory()
        for wire in entry[1:]:
            rdataset = dns.rdataset.Rdataset(IN, _rdtype(wire))
            fill(rdataset, wire)
            node.replace_rdataset(rdataset)
    owners = cast(dict[bytes, Entry], simple)  # every _Several was made an Entry above
    return PlainRecords(owners, _ancestors(owners, apex), records)


def _check_order(
    zone: dns.zone.Zone, nodes: dict[bytes, dns.name.Name], simple: Simple, held: list[bytes]
) -> None:
    """Raise Interleaved for the held owners whose simple records would not simply be added."""
    mixed = set()
    for key in held:
        name = nodes.get(key)
        if name is None:
            continue  # glue without other data: a new node, its records in file order
        entry = cast(Entry, simple[key])
        node = zone.nodes[name]
        if (
            name.to_wire() != entry[0]
            or node.get_rdataset(IN, CNAME) is not None  # dnspython's reader says why not, where
            or any(node.get_rdataset(IN, _rdtype(wire)) is not None for wire in entry[1:])
        ):
            mixed.add(key)
    if mixed:
        raise Interleaved(frozenset(mixed))


def _rdtype(wire: bytes) -> dns.rdatatype.RdataType:
    return dns.rdatatype.RdataType.make(rdtype_of(wire))


def _below(key: bytes, cuts: set[bytes], apex_length: int) -> bool:
    """Whether a name (lower-cased wire) is a delegation point's or below one."""
    start = 0
    while len(key) - start > apex_length:
        if key[start:] in cuts:
            return True
        start += key[start] + 1
    return False


def _ancestors(owners: dict[bytes, Entry], apex: bytes) -> frozenset[bytes]:
    """The names between the owners and the apex that are no owner themselves."""
    found: set[bytes] = set()
    for key in owners:
        start = key[0] + 1
        while len(key) - start > len(apex):
            parent = key[start:]
            if parent in owners or parent in found:
                break  # its own ancestors are, or will be, found from it
            found.add(parent)
            start += key[start] + 1
    return frozenset(found)


class _Lines:
    """The state of one read: the reader's, and the simple lines' view of it.

    The reader's last owner is a dnspython Name; simple lines keep it as wire and give it back
    to the reader only before a run of other lines (a Name per line cost more than the line).
    """

    def __init__(self, reader: dns.zonefile.Reader, slow: frozenset[bytes]) -> None:
        zone = reader.zone_origin
        assert zone is not None  # the zone is made with its origin
        self.reader = reader
        self.slow = slow
        self.simple: Simple = {}
        self.zone = zone
        self.zone_key = name_key(zone)
        self.origin: dns.name.Name | None = None
        self.origin_wire = b""
        self.origin_inside = False  # the current origin is in the zone (relative owners are too)
        self.last: bytes | None = None  # the last owner's wire (None: undefined)
        self.last_inside = False
        self.last_given = True  # the reader holds the last owner as its last_name
        self.fixed: dict[tuple[int, int], bytes] = {}  # (type, TTL) → the records' fixed part
        self.cnames: set[bytes] = set()  # the owners (lower-cased wire) of the CNAMEs read so far
        reader.txn.check_put_rdataset(self._note_cname)
        self._follow_reader()

    def _note_cname(self, txn: object, name: dns.name.Name, rdataset: dns.rdataset.Rdataset) -> None:
        if rdataset.rdtype == CNAME:
            self.cnames.add(name_key(name))

    def read(self, text: str, filename: str) -> Simple:
        try:
            return self._read(text, filename)
        except Exception:
            # dnspython found an error; had it read the waiting records of an owner with a CNAME,
            # it would have found that error (a CNAME beside other data) first, at a line before.
            beside = frozenset(key for key in self.cnames if key in self.simple)
            if beside:
                raise Interleaved(beside) from None
            raise

    def _read(self, text: str, filename: str) -> Simple:
        lines = text.split("\n")
        ending = "\n" if lines[-1] == "" else ""  # end-of-file errors are counted on the file's last line
        if ending:
            lines.pop()
        depth = 0  # open parentheses: inside them, a line continues the record before it
        pending = 0  # first line not yet read
        simple = _SIMPLE.fullmatch
        for number, line in enumerate(lines):
            match = simple(line) if depth == 0 else None
            if match is None:
                depth = _depth_after(line, depth)
                continue
            if pending < number:
                self._run(lines, pending, number, filename)
            if not self._take(match):
                self._run(lines, number, number + 1, filename)  # let dnspython decide, or say why
            pending = number + 1
        if pending < len(lines):
            self._run(lines, pending, len(lines), filename, ending)
        return self.simple

    def _run(self, lines: list[str], start: int, stop: int, filename: str, ending: str = "\n") -> None:
        """Lines ``start`` to ``stop`` (0-based) through dnspython, which numbers them as in the file."""
        reader = self.reader
        if not self.last_given:
            assert self.last is not None
            reader.last_name = dns.name.from_wire(self.last, 0)[0]
        codec = reader.tok.idna_codec  # a $UNICODE directive's choice outlives the run that made it
        reader.tok = dns.tokenizer.Tokenizer("\n".join(lines[start:stop]) + ending, filename, codec)
        reader.tok.line_number = start + 1
        reader.read()
        self._follow_reader()

    def _follow_reader(self) -> None:
        """Take the reader's last owner and origin, which its lines may have changed."""
        reader = self.reader
        name = reader.last_name
        self.last = None if name is None else name.to_wire()
        self.last_inside = name is not None and name.is_subdomain(self.zone)
        self.last_given = True
        if reader.current_origin is not self.origin:
            self.origin = origin = reader.current_origin
            self.origin_inside = origin is not None and origin.is_subdomain(self.zone)
            self.origin_wire = b"" if origin is None else (origin.to_wire() or b"")

    def _take(self, match: re.Match[str]) -> bool:
        """Read a simple line as dnspython's reader would; False leaves it to dnspython (a name,
        TTL or address it must judge, an owner outside the zone, a TTL it must infer or refuse)."""
        owner, ttl_text, ttl_after_class, rdtype_text, address, strings = match.groups()
        if owner is None:
            wire = self.last
            if wire is None or not (self.origin_inside or self.last_inside):
                return False
        elif owner == "@":
            if not self.origin_inside:
                return False
            wire = self.origin_wire
        else:
            wire = self._owner(owner)
            if wire is None:
                return False
        ttl_text = ttl_text or ttl_after_class
        if ttl_text is not None:
            ttl = int(ttl_text)
            if ttl > dns.ttl.MAX_TTL:
                return False
        else:
            implicit = self.reader._implicit_ttl()
            if implicit is None:
                return False
            ttl = implicit
        if rdtype_text is None:
            rdtype, rdata = TXT, _strings(strings)
            if len(rdata) > MAX_RDATA:
                return False  # no RDLENGTH can say it: dnspython's to judge
        else:
            rdtype = A if len(rdtype_text) == 1 else AAAA
            packed = _address(rdtype, address)
            if packed is None:
                return False
            rdata = packed
        key = wire.lower()
        if key in self.slow:
            return False
        if ttl_text is not None:
            self.reader.last_ttl, self.reader.last_ttl_known = ttl, True
        if wire is not self.last:
            self.last, self.last_inside, self.last_given = wire, True, False
        self._add(key, wire, rdtype, ttl, rdata)
        return True

    def _owner(self, text: str) -> bytes | None:
        """The owner's wire form, as dnspython's tokenizer would make it of this plain text (IDNA
        leaves ASCII labels as they are); None if invalid, or outside the zone."""
        if text.endswith("."):
            labels = _labels(text[:-1])
            if labels is None:
                return None
            wire = labels + b"\x00"
            if not _within(wire.lower(), self.zone_key):
                return None
        else:
            if not self.origin_inside:
                return None
            labels = _labels(text)
            if labels is None:
                return None
            wire = labels + self.origin_wire
        return wire if len(wire) <= MAX_NAME_WIRE else None

    def _add(self, key: bytes, wire: bytes, rdtype: int, ttl: int, rdata: bytes) -> None:
        entry = self.simple.get(key)
        if entry is None:
            fixed = self.fixed.get((rdtype, ttl))
            if fixed is None:
                fixed = self.fixed[rdtype, ttl] = rrset_wire(rdtype, ttl, [b""])[:-2]
            # The owner as written is most often the key itself: one bytes object for both.
            self.simple[key] = (key if wire == key else wire, fixed + len(rdata).to_bytes(2, "big") + rdata)
        elif type(entry) is tuple:
            several = self.simple[key] = _Several(*entry)
            several.add(rdtype, ttl, rdata)
        else:
            cast(_Several, entry).add(rdtype, ttl, rdata)


def _labels(text: str) -> bytes | None:
    """Dot-separated labels of letters, digits, hyphens and underscores, as wire; None if one is too long."""
    if "." not in text:
        return None if len(text) > MAX_LABEL else (chr(len(text)) + text).encode("ascii")
    labels = text.split(".")
    if any(len(label) > MAX_LABEL for label in labels):
        return None
    return "".join(chr(len(label)) + label for label in labels).encode("ascii")


def _within(key: bytes, zone_key: bytes) -> bool:
    """Whether a lower-cased wire name is the zone's apex or below it."""
    start = 0
    while len(key) - start >= len(zone_key):
        if key[start:] == zone_key:
            return True
        start += key[start] + 1
    return False


def _address(rdtype: int, text: str) -> bytes | None:
    """The RDATA of an address, as dnspython reads it. Text that the C library writes back the
    same is in canonical form, which dnspython reads the same; any other is left to dnspython's
    own parser (which refuses what it must, such as leading zeros)."""
    family = socket.AF_INET if rdtype == A else socket.AF_INET6
    try:
        packed = socket.inet_pton(family, text)
        if socket.inet_ntop(family, packed) == text:
            return packed
    except OSError:
        pass
    try:
        return dns.ipv4.inet_aton(text) if rdtype == A else dns.ipv6.inet_aton(text)
    except (ValueError, dns.exception.DNSException):
        return None


def _strings(quoted: str) -> bytes:
    """The RDATA of a TXT line's quoted strings (each at most 255 characters of printable ASCII)."""
    return b"".join(bytes((len(s),)) + s.encode("ascii") for s in quoted.split('"')[1::2])


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
