"""DNS wire format: just enough parsing for a query, and the fixed pieces of every response.

Only what an authoritative server must read from a query is parsed here: the header, the one
question, and the OPT record with its Client Subnet option. Everything is read by byte
indexing, because this runs for every query (see ARCHITECTURE.md, "Data path").
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from gslb.errors import FormatError

HEADER_SIZE = 12

# Header bits (RFC 1035 4.1.1), as they sit in bytes 2 and 3 of the message.
QR = 0x80
AA = 0x04
TC = 0x02
RD = 0x01
CD = 0x10  # byte 3 (RFC 4035 3.1.6: copied from the query)

OPCODE_QUERY = 0

RCODE_NOERROR = 0
RCODE_FORMERR = 1
RCODE_SERVFAIL = 2
RCODE_NXDOMAIN = 3
RCODE_NOTIMP = 4
RCODE_REFUSED = 5
RCODE_NOTAUTH = 9
RCODE_BADVERS = 16  # extended: upper 8 bits live in the OPT TTL (RFC 6891 6.1.3)

TYPE_OPT = 41
OPTION_ECS = 8  # RFC 7871
CLASS_IN = 1

MIN_UDP_PAYLOAD = 512  # RFC 6891 6.2.3: smaller advertised values are treated as 512
MAX_NAME_LENGTH = 255


@dataclass(frozen=True, slots=True)
class ClientSubnet:
    """The EDNS Client Subnet option of a query (RFC 7871 6), validated."""

    family: int  # 1 = IPv4, 2 = IPv6 (IANA address family numbers)
    source_prefix: int
    scope_prefix: int
    address: bytes  # exactly ceil(source_prefix / 8) bytes, trailing bits zero

    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        """The client network the resolver speaks for."""
        size = 4 if self.family == 1 else 16
        packed = self.address + bytes(size - len(self.address))
        if self.family == 1:
            return ipaddress.IPv4Network((packed, self.source_prefix))
        return ipaddress.IPv6Network((packed, self.source_prefix))

    def option(self, scope_prefix: int) -> bytes:
        """The option as echoed in a response, with the scope the answer is true for."""
        body = self.family.to_bytes(2, "big") + bytes((self.source_prefix, scope_prefix)) + self.address
        return OPTION_ECS.to_bytes(2, "big") + len(body).to_bytes(2, "big") + body


@dataclass(frozen=True, slots=True)
class Edns:
    """What a query's OPT record asks for (RFC 6891 6.1)."""

    payload: int  # already raised to at least 512
    version: int
    dnssec_ok: bool
    client_subnet: ClientSubnet | None


def question_end(data: bytes) -> int:
    """Offset just past QCLASS of the first question; FormatError if it is not well formed.

    Compression pointers are refused: nothing precedes the question they could point to.
    """
    offset = HEADER_SIZE
    end = len(data)
    while True:
        if offset >= end:
            raise FormatError("question name runs past the end of the message")
        length = data[offset]
        if length == 0:
            offset += 1
            break
        if length > 63:
            raise FormatError("compressed or extended label in the question name")
        offset += length + 1
        if offset - HEADER_SIZE > MAX_NAME_LENGTH - 1:
            raise FormatError("question name longer than 255 octets")
    offset += 4
    if offset > end:
        raise FormatError("question truncated before QTYPE/QCLASS")
    return offset


def parse_opt(data: bytes, offset: int) -> Edns:
    """Parse the additional section, which must be exactly one OPT record, from ``offset``.

    Only called when bytes follow the question, so queries without EDNS never pay for it.
    """
    if data[6:10] != b"\x00\x00\x00\x00":
        raise FormatError("a query carries records in its answer or authority section")
    if data[10:12] != b"\x00\x01":
        raise FormatError("additional section of a query must be one OPT record")
    if len(data) < offset + 11:
        raise FormatError("truncated OPT record")
    if data[offset] != 0:
        raise FormatError("OPT owner name must be the root")
    if data[offset + 1] != 0 or data[offset + 2] != TYPE_OPT:
        raise FormatError("additional record is not OPT")
    payload = (data[offset + 3] << 8) | data[offset + 4]
    version = data[offset + 6]
    dnssec_ok = bool(data[offset + 7] & 0x80)
    rdlength = (data[offset + 9] << 8) | data[offset + 10]
    start = offset + 11
    stop = start + rdlength
    if stop != len(data):
        raise FormatError("OPT RDLENGTH does not match the message length")
    client_subnet = None
    while start < stop:
        if start + 4 > stop:
            raise FormatError("truncated EDNS option header")
        code = (data[start] << 8) | data[start + 1]
        length = (data[start + 2] << 8) | data[start + 3]
        value_start = start + 4
        start = value_start + length
        if start > stop:
            raise FormatError("EDNS option runs past the OPT record")
        if code == OPTION_ECS:
            if client_subnet is not None:
                raise FormatError("more than one Client Subnet option")
            client_subnet = parse_client_subnet(data[value_start:start])
    return Edns(max(payload, MIN_UDP_PAYLOAD), version, dnssec_ok, client_subnet)


def parse_client_subnet(value: bytes) -> ClientSubnet:
    """Validate an ECS option value as RFC 7871 6 and 7.1.1 require of a query."""
    if len(value) < 4:
        raise FormatError("Client Subnet option shorter than 4 octets")
    family = (value[0] << 8) | value[1]
    source_prefix = value[2]
    scope_prefix = value[3]
    address = value[4:]
    if family == 1:
        bits = 32
    elif family == 2:
        bits = 128
    else:
        raise FormatError(f"Client Subnet family {family} is neither IPv4 (1) nor IPv6 (2)")
    if source_prefix > bits:
        raise FormatError(f"Client Subnet source prefix {source_prefix} exceeds {bits}")
    if scope_prefix != 0:
        raise FormatError("Client Subnet scope prefix must be 0 in a query")
    if len(address) != (source_prefix + 7) // 8:
        raise FormatError("Client Subnet address length does not match its source prefix")
    if source_prefix % 8 and address[-1] & (0xFF >> (source_prefix % 8)):
        raise FormatError("Client Subnet address has bits set beyond its source prefix")
    return ClientSubnet(family, source_prefix, scope_prefix, address)


def opt_record(payload: int, dnssec_ok: bool, options: bytes = b"", extended_rcode: int = 0) -> bytes:
    """A response's OPT pseudo-record: our payload size, version 0, DO echoed (RFC 3225)."""
    return (
        b"\x00\x00\x29"
        + payload.to_bytes(2, "big")
        + bytes((extended_rcode >> 4, 0, 0x80 if dnssec_ok else 0, 0))
        + len(options).to_bytes(2, "big")
        + options
    )


def _flag_table() -> tuple[bytes, ...]:
    """Bytes 2-3 of a response, indexed by ``rcode << 3 | aa << 2 | tc << 1 | rd`` plus CD.

    Precomputed so the hot path turns the query's RD and CD bits into the response flags
    with one tuple index instead of arithmetic and a ``bytes()`` call.
    """
    table = []
    for index in range(16 * 8 * 2):
        cd, rest = divmod(index, 128)
        rcode, bits = divmod(rest, 8)
        aa, tc, rd = bits & 4, bits & 2, bits & 1
        table.append(bytes((QR | aa | tc | rd, (CD if cd else 0) | rcode)))
    return tuple(table)


FLAGS = _flag_table()


def flags_index(rcode: int, authoritative: bool, truncated: bool = False) -> int:
    """The base index into FLAGS for an answer; the query adds RD (+1) and CD (+128)."""
    return (rcode & 0xF) << 3 | (4 if authoritative else 0) | (2 if truncated else 0)


def counts(answer: int, authority: int, additional: int, question: int = 1) -> bytes:
    """QDCOUNT..ARCOUNT of a response header."""
    return b"".join(n.to_bytes(2, "big") for n in (question, answer, authority, additional))
