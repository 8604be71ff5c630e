"""DNS over TCP as RFC 7766 asks, through real sockets, and both address families.

TCP is where a DNS server holds per-client state, so it is where slow, silent or greedy
clients can starve it: these tests check the framing and pipelining that resolvers rely on, the
idle timeout and connection cap that protect the server, and that truncated UDP answers are
complete over TCP. Shared read-only checks use ``gslb_auth``; the timeout and cap tests start
their own servers with small limits so they finish in seconds.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import pytest

from tests.integration.server import GslbProcess

KNOWN = "mail.gslb.example.test."  # a static name with one known address
KNOWN_ADDRESSES = {"192.0.2.25"}
BIG_TXT_RECORDS = 4
IDLE_TIMEOUT = 1.0
CLOSE_WITHIN = 3.0  # the idle timeout plus a generous margin for a loaded CI machine
MAX_CONNECTIONS = 4
SOCKET_TIMEOUT = 5.0


# --- helpers -----------------------------------------------------------------------------------


def framed(message: bytes) -> bytes:
    """``message`` with its 2-byte length prefix (RFC 1035 4.2.2)."""
    return struct.pack("!H", len(message)) + message


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    """``size`` bytes, or EOFError if the server closes first."""
    data = bytearray()
    for _ in range(size + 1):  # each recv returns at least one byte or ends the loop
        if len(data) == size:
            return bytes(data)
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError(f"connection closed after {len(data)} of {size} bytes")
        data += chunk
    return bytes(data)


def read_message(sock: socket.socket) -> dns.message.Message:
    """One length-prefixed response from ``sock``."""
    length = int.from_bytes(recv_exactly(sock, 2), "big")
    return dns.message.from_wire(recv_exactly(sock, length))


def query(name: str = KNOWN, rdtype: str = "A", query_id: int | None = None) -> dns.message.Message:
    message = dns.message.make_query(name, rdtype)
    if query_id is not None:
        message.id = query_id
    return message


def addresses(response: dns.message.Message, name: str = KNOWN) -> set[str]:
    rrset = response.find_rrset(response.answer, dns.name.from_text(name), dns.rdataclass.IN, dns.rdatatype.A)
    return {rdata.to_text() for rdata in rrset}


def connect(server: GslbProcess, host: str | None = None) -> socket.socket:
    return socket.create_connection((host or server.host, server.port), timeout=SOCKET_TIMEOUT)


def seconds_until_closed(sock: socket.socket, limit: float) -> float | None:
    """How long until the server closes ``sock`` (EOF or reset), or None if it stays open.

    Anything the server sends first is read and discarded.
    """
    started = time.monotonic()
    deadline = started + limit
    for _ in range(10000):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        sock.settimeout(remaining)
        try:
            if not sock.recv(65535):
                return time.monotonic() - started
        except TimeoutError:
            return None
        except ConnectionError:
            return time.monotonic() - started
    return None


def answers_over_tcp(server: GslbProcess) -> bool:
    """One TCP query answered correctly on a fresh connection (False if refused or closed)."""
    try:
        with connect(server) as sock:
            sock.sendall(framed(query().to_wire()))
            return addresses(read_message(sock)) == KNOWN_ADDRESSES
    except (ConnectionError, EOFError, TimeoutError):
        return False


def assert_alive(server: GslbProcess) -> None:
    assert server.process is not None and server.process.poll() is None, "gslb exited"
    assert answers_over_tcp(server)
    response = dns.query.udp(query(), server.host, port=server.port, timeout=2)
    assert addresses(response) == KNOWN_ADDRESSES


# --- servers with small limits -------------------------------------------------------------------


@pytest.fixture(scope="module")
def short_idle(all_zones: Path) -> Iterator[GslbProcess]:
    """A server that drops connections idle for a second."""
    with GslbProcess(all_zones, extra_args=["--tcp-idle-timeout", str(IDLE_TIMEOUT)]) as server:
        yield server


@pytest.fixture(scope="module")
def capped(all_zones: Path) -> Iterator[GslbProcess]:
    """A server that admits four connections, and keeps idle ones long enough to fill the cap."""
    args = ["--tcp-max-connections", str(MAX_CONNECTIONS), "--tcp-idle-timeout", "30"]
    with GslbProcess(all_zones, extra_args=args) as server:
        yield server


# --- framing and pipelining ----------------------------------------------------------------------


def test_length_prefixed_query_and_response(gslb_auth: GslbProcess) -> None:
    sent = query(query_id=0x4242)
    with connect(gslb_auth) as sock:
        sock.sendall(framed(sent.to_wire()))
        response = read_message(sock)
    assert response.id == 0x4242
    assert response.flags & dns.flags.QR and response.flags & dns.flags.AA
    assert addresses(response) == KNOWN_ADDRESSES


def test_prefix_and_message_in_separate_segments(gslb_auth: GslbProcess) -> None:
    """Framing must not depend on how TCP segments the stream (RFC 7766 8)."""
    wire = query().to_wire()
    with connect(gslb_auth) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(framed(wire)[:1])
        time.sleep(0.05)
        sock.sendall(framed(wire)[1:10])
        time.sleep(0.05)
        sock.sendall(framed(wire)[10:])
        assert addresses(read_message(sock)) == KNOWN_ADDRESSES


def test_pipelined_queries_in_one_write_are_all_answered(gslb_auth: GslbProcess) -> None:
    """Resolvers send several queries without waiting (RFC 7766 6.2.1.1); match answers by ID."""
    questions = {
        0x1001: (KNOWN, "A"),
        0x1002: ("www.gslb.example.test.", "AAAA"),
        0x1003: ("host.auth.test.", "TXT"),
        0x1004: ("nothere.auth.test.", "A"),
        0x1005: ("big.auth.test.", "TXT"),
        0x1006: ("multi.auth.test.", "A"),
    }
    stream = b"".join(framed(query(name, rdtype, qid).to_wire()) for qid, (name, rdtype) in questions.items())
    with connect(gslb_auth) as sock:
        sock.sendall(stream)
        responses = {}
        for _ in questions:
            response = read_message(sock)
            responses[response.id] = response
    assert set(responses) == set(questions)
    for qid, (name, rdtype) in questions.items():
        question = responses[qid].question[0]
        assert (question.name, question.rdtype) == (dns.name.from_text(name), dns.rdatatype.from_text(rdtype))
    assert addresses(responses[0x1001]) == KNOWN_ADDRESSES
    assert responses[0x1004].rcode() == dns.rcode.NXDOMAIN
    assert len(responses[0x1005].answer[0]) == BIG_TXT_RECORDS


def test_connection_stays_open_between_queries(gslb_auth: GslbProcess) -> None:
    """Several queries in turn on one connection (RFC 7766 6.2.1: clients reuse connections)."""
    with connect(gslb_auth) as sock:
        for qid in range(5):
            sock.sendall(framed(query(query_id=qid).to_wire()))
            response = read_message(sock)
            assert response.id == qid
            assert addresses(response) == KNOWN_ADDRESSES


# --- truncation: UDP says TC, TCP gives everything ----------------------------------------------


def test_big_answer_is_truncated_over_udp_without_edns(gslb_auth: GslbProcess) -> None:
    response = dns.query.udp(query("big.auth.test.", "TXT"), gslb_auth.host, port=gslb_auth.port, timeout=2)
    assert response.flags & dns.flags.TC
    assert not response.answer  # no partial RRsets (RFC 2181 9)


def test_big_answer_is_whole_over_tcp(gslb_auth: GslbProcess) -> None:
    with connect(gslb_auth) as sock:
        sock.sendall(framed(query("big.auth.test.", "TXT").to_wire()))
        response = read_message(sock)
    assert not response.flags & dns.flags.TC
    assert response.rcode() == dns.rcode.NOERROR
    (rrset,) = response.answer
    assert rrset.rdtype == dns.rdatatype.TXT and len(rrset) == BIG_TXT_RECORDS


# --- idle and slow clients -----------------------------------------------------------------------


def test_silent_connection_is_closed_after_the_idle_timeout(short_idle: GslbProcess) -> None:
    with connect(short_idle) as sock:
        elapsed = seconds_until_closed(sock, CLOSE_WITHIN)
    assert elapsed is not None, f"a silent connection was still open after {CLOSE_WITHIN} s"
    assert elapsed >= IDLE_TIMEOUT * 0.5, f"closed after {elapsed:.2f} s, before the idle timeout"


def test_idle_timeout_restarts_after_each_answer(short_idle: GslbProcess) -> None:
    """The timeout is for idleness, not for the connection's whole life."""
    with connect(short_idle) as sock:
        for qid in range(4):
            sock.sendall(framed(query(query_id=qid).to_wire()))
            assert read_message(sock).id == qid
            time.sleep(IDLE_TIMEOUT * 0.5)
        elapsed = seconds_until_closed(sock, CLOSE_WITHIN)
    assert elapsed is not None


def test_trickling_client_is_closed_within_the_timeout(short_idle: GslbProcess) -> None:
    """A byte now and then must not hold a connection longer than silence would (slowloris)."""
    stream = framed(query().to_wire())
    interval = IDLE_TIMEOUT / 4
    started = time.monotonic()
    closed_after: float | None = None
    with connect(short_idle) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for byte in stream:  # 2 + ~40 bytes at 4 a second would take ~10 s if never cut off
            if time.monotonic() - started > CLOSE_WITHIN:
                break
            try:
                sock.send(bytes((byte,)))
            except ConnectionError:
                closed_after = time.monotonic() - started
                break
            sock.settimeout(interval)
            try:
                if not sock.recv(1):
                    closed_after = time.monotonic() - started
                    break
            except TimeoutError:
                continue
            except ConnectionError:
                closed_after = time.monotonic() - started
                break
    assert closed_after is not None, f"a trickling client still connected after {CLOSE_WITHIN} s"
    assert closed_after <= CLOSE_WITHIN


# --- the connection cap --------------------------------------------------------------------------


def test_connection_cap_refuses_extra_connections_but_not_udp(capped: GslbProcess) -> None:
    with ExitStack() as stack:
        idle = [stack.enter_context(connect(capped)) for _ in range(MAX_CONNECTIONS)]
        for qid, sock in enumerate(idle):  # one answer each proves the server holds all four
            sock.sendall(framed(query(query_id=qid).to_wire()))
            assert read_message(sock).id == qid
        with connect(capped) as fifth:
            with suppress(ConnectionError):  # refused before we could even write: fine
                fifth.sendall(framed(query().to_wire()))
            elapsed = seconds_until_closed(fifth, 2.0)
        assert elapsed is not None, "a fifth connection was kept open over a cap of four"
        udp = dns.query.udp(query(), capped.host, port=capped.port, timeout=2)
        assert addresses(udp) == KNOWN_ADDRESSES, "a full TCP cap must not affect UDP"
    # The four are closed now; their slots must come back (the server notices asynchronously).
    deadline = time.monotonic() + 3
    for _ in range(60):
        if answers_over_tcp(capped) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert answers_over_tcp(capped), "TCP still refused after the idle connections closed"


# --- malformed streams ---------------------------------------------------------------------------


def test_zero_length_message_does_not_break_the_server(gslb_auth: GslbProcess) -> None:
    """A zero length prefix frames nothing answerable; the server may skip it or hang up."""
    with connect(gslb_auth) as sock:
        sock.sendall(b"\x00\x00" + framed(query(query_id=7).to_wire()))
        try:
            response: dns.message.Message | None = read_message(sock)
        except (EOFError, ConnectionError):
            response = None
    if response is not None:
        assert response.id == 7 and addresses(response) == KNOWN_ADDRESSES
    assert_alive(gslb_auth)


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01",  # compressed question
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www",  # question cut short
        bytes(12),  # a header asking nothing
        b"\x12\x34\x81\x80" + bytes(8),  # a response
        b"\xde\xad\xbe\xef",  # shorter than a header
    ],
)
def test_garbage_message_does_not_break_the_connection(gslb_auth: GslbProcess, garbage: bytes) -> None:
    """A well-framed but malformed message gets FORMERR or nothing; the stream stays usable."""
    with connect(gslb_auth) as sock:
        sock.sendall(framed(garbage) + framed(query(query_id=9).to_wire()))
        first = read_message(sock)
        if first.id != 9:
            assert first.id == int.from_bytes(garbage[:2], "big")
            assert first.rcode() == dns.rcode.FORMERR
            first = read_message(sock)
    assert first.id == 9 and addresses(first) == KNOWN_ADDRESSES
    assert_alive(gslb_auth)


def test_length_prefix_promising_more_than_is_sent(short_idle: GslbProcess) -> None:
    with connect(short_idle) as sock:
        sock.sendall(b"\xff\xff" + bytes(100))
        assert seconds_until_closed(sock, CLOSE_WITHIN) is not None
    assert_alive(short_idle)


# --- IPv6 ----------------------------------------------------------------------------------------


def test_ipv6_udp(gslb_auth: GslbProcess) -> None:
    response = dns.query.udp(query(), "::1", port=gslb_auth.port, timeout=2)
    assert addresses(response) == KNOWN_ADDRESSES


def test_ipv6_tcp(gslb_auth: GslbProcess) -> None:
    with socket.create_connection(("::1", gslb_auth.port), timeout=SOCKET_TIMEOUT) as sock:
        assert sock.family == socket.AF_INET6
        sock.sendall(framed(query("big.auth.test.", "TXT").to_wire()))
        response = read_message(sock)
    assert not response.flags & dns.flags.TC
    assert len(response.answer[0]) == BIG_TXT_RECORDS


# --- shutdown ------------------------------------------------------------------------------------


def test_stopping_with_an_open_connection_logs_no_traceback(all_zones: Path) -> None:
    """SIGTERM while a resolver holds a connection is routine; the log must stay key=value lines."""
    server = GslbProcess(all_zones)
    with server, connect(server) as sock:
        sock.sendall(framed(query().to_wire()))
        assert addresses(read_message(sock)) == KNOWN_ADDRESSES
        log = server.stop()  # the connection is still open
    assert "Traceback" not in log, log
