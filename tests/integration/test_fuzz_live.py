"""A live server survives hostile packets and keeps answering correctly.

The unit properties call ``respond`` directly; this sends a few hundred random and mutated
datagrams and some TCP garbage through real sockets, where the listener loops, the framing code
and the event loop are in play too. The server runs in its own process (not the shared
``gslb_auth``) so a crash fails this module only. Packets come from a seeded generator, so a
failure is reproducible by its seed and index.
"""

from __future__ import annotations

import os
import random
import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dns.edns
import dns.exception
import dns.message
import dns.query
import dns.rdataclass
import dns.rdatatype
import pytest

from tests.integration.server import GslbProcess

SEED = 7766
UDP_PACKETS = 300
TCP_CONNECTIONS = 24
IDLE_TIMEOUT = 1.0
MAX_CONNECTIONS = 8  # small, so a leaked connection slot shows within a few dozen connections
REPLY_WAIT = 0.3  # a loopback answer arrives in well under a millisecond; this is plenty
KNOWN = "mail.gslb.example.test."  # a static name with one known address
KNOWN_ADDRESSES = {"192.0.2.25"}
# Lines the server writes when a responder raised or an asyncio task died.
FAILURE_MARKERS = ("query failed", "Traceback", "level=error", "Exception in callback")


@dataclass
class LiveServer:
    """The server under fire, and everything it has logged so far."""

    process: GslbProcess
    log: list[str] = field(default_factory=list)

    def logged(self) -> str:
        """The log up to now, read without blocking (the pipe is non-blocking while tests run)."""
        assert self.process.process is not None and self.process.process.stdout is not None
        fd = self.process.process.stdout.fileno()
        for _ in range(1000):  # at most 64 MB; the pipe holds 64 kB at a time
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            self.log.append(chunk.decode(errors="replace"))
        return "".join(self.log)

    def assert_healthy(self) -> None:
        """Alive, answering a known name correctly over UDP and TCP, and no responder error logged."""
        assert self.process.process is not None
        assert self.process.process.poll() is None, f"gslb exited:\n{self.logged()}"
        query = dns.message.make_query(KNOWN, "A")
        for response in (
            dns.query.udp(query, self.process.host, port=self.process.port, timeout=2),
            dns.query.tcp(query, self.process.host, port=self.process.port, timeout=2),
        ):
            rrset = response.find_rrset(
                response.answer, query.question[0].name, dns.rdataclass.IN, dns.rdatatype.A
            )
            assert {rdata.to_text() for rdata in rrset} == KNOWN_ADDRESSES
        log = self.logged()
        assert not any(marker in log for marker in FAILURE_MARKERS), log


@pytest.fixture(scope="module")
def live(all_zones: Path) -> Iterator[LiveServer]:
    args = ["--tcp-idle-timeout", str(IDLE_TIMEOUT), "--tcp-max-connections", str(MAX_CONNECTIONS)]
    server = GslbProcess(all_zones, extra_args=args)
    with server:
        assert server.process is not None and server.process.stdout is not None
        fd = server.process.stdout.fileno()
        os.set_blocking(fd, False)
        try:
            yield LiveServer(server)
        finally:
            os.set_blocking(fd, True)  # GslbProcess.stop() reads the rest with a blocking read


def seed_queries() -> list[bytes]:
    """Valid queries to mutate: fast-path and slow-path names, with and without EDNS and ECS."""
    ecs = dns.edns.ECSOption("192.0.2.0", 24)
    queries = []
    for name in ("www.gslb.example.test.", "big.auth.test.", "x.wild.auth.test.", "nothere.auth.test."):
        for rdtype in ("A", "TXT", "ANY", "AXFR"):
            queries.append(dns.message.make_query(name, rdtype).to_wire())
            queries.append(dns.message.make_query(name, rdtype, use_edns=0, options=[ecs]).to_wire())
    return queries


def mutate(rng: random.Random, message: bytes) -> bytes:
    """One to four edits: bit flips, truncation, inserted/deleted bytes, random header counts."""
    data = bytearray(message)
    for _ in range(rng.randint(1, 4)):
        edit = rng.randrange(5)
        if edit == 0 and data:
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif edit == 1:
            del data[rng.randrange(len(data) + 1) :]
        elif edit == 2:
            data.insert(rng.randrange(len(data) + 1), rng.randrange(256))
        elif edit == 3 and data:
            del data[rng.randrange(len(data))]
        elif edit == 4 and len(data) >= 12:
            index = 4 + 2 * rng.randrange(4)
            data[index : index + 2] = rng.choice((0, 1, 2, 0xFFFF, rng.randrange(65536))).to_bytes(2, "big")
    return bytes(data)


def hostile_packets(rng: random.Random, count: int) -> Iterator[bytes]:
    """Random bytes, random bodies behind a query header, and mutated valid queries."""
    seeds = seed_queries()
    for index in range(count):
        kind = index % 4
        if kind == 0:
            yield rng.randbytes(rng.randrange(0, 600))
        elif kind == 1:
            header = bytearray(rng.randbytes(12))
            header[2] &= 0x7F  # QR clear: this must reach the parser, not be dropped as a response
            yield bytes(header) + rng.randbytes(rng.randrange(0, 300))
        else:
            yield mutate(rng, rng.choice(seeds))


def receive(sock: socket.socket, wait: float) -> Iterator[bytes]:
    """What arrives on ``sock`` within ``wait`` seconds (at most 10000 reads), until a timeout, a
    closed or reset connection, or an empty read."""
    deadline = time.monotonic() + wait
    for _ in range(10000):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65535)
        except (TimeoutError, ConnectionError):
            return
        if not chunk:
            return
        yield chunk


def drain(sock: socket.socket, wait: float) -> list[bytes]:
    """Every datagram that arrives on ``sock`` within ``wait`` seconds."""
    return list(receive(sock, wait))


def test_udp_fuzz(live: LiveServer) -> None:
    """Hundreds of hostile datagrams; every reply is a response to one of them; nothing breaks."""
    rng = random.Random(SEED)
    sent_ids: set[bytes] = set()
    replies: list[bytes] = []
    address = (live.process.host, live.process.port)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        for packet in hostile_packets(rng, UDP_PACKETS):
            sock.send(packet)
            sent_ids.add(packet[:2])
            replies += drain(sock, 0.005)
        # Datagrams as large as UDP allows, with a query header in front.
        for size in (4096, 65000):
            sock.send(b"\x12\x34\x01\x00\x00\x01" + bytes(6) + rng.randbytes(size))
            sent_ids.add(b"\x12\x34")
        replies += drain(sock, REPLY_WAIT)
    assert replies, "not one hostile packet was answered (FORMERR is owed to readable headers)"
    for reply in replies:
        assert len(reply) >= 12 and reply[2] & 0x80, f"reply is not a DNS response: {reply.hex()}"
        assert reply[:2] in sent_ids, f"reply to an ID never sent: {reply.hex()}"
    live.assert_healthy()


def test_responses_are_not_answered(live: LiveServer) -> None:
    """A server that answered responses could be made to loop with another one (or itself)."""
    rng = random.Random(SEED + 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect((live.process.host, live.process.port))
        for packet in hostile_packets(rng, 40):
            if len(packet) >= 3:
                sock.send(packet[:2] + bytes((packet[2] | 0x80,)) + packet[3:])
        assert drain(sock, REPLY_WAIT) == []
    live.assert_healthy()


def tcp_garbage(rng: random.Random, index: int) -> bytes:
    """What one hostile TCP client sends before going quiet or closing."""
    kind = index % 6
    if kind == 0:
        return rng.randbytes(rng.randrange(1, 2000))  # unframed noise
    if kind == 1:
        return b"\xff\xff" + rng.randbytes(100)  # promises 65535 bytes, sends 100
    if kind == 2:
        return b"\x00"  # half a length prefix
    if kind == 3:
        return b"\x00\x00" * 5  # zero-length messages
    message = mutate(rng, rng.choice(seed_queries()))
    framed = struct.pack("!H", len(message)) + message
    return framed * rng.randint(1, 5)  # framed garbage, pipelined


def read_until_closed(sock: socket.socket, limit: float) -> bytes:
    """All the server sends before it closes the connection or ``limit`` seconds pass."""
    return b"".join(receive(sock, limit))


def test_tcp_garbage(live: LiveServer) -> None:
    """Noise, lying length prefixes, half prefixes, framed garbage and resets, on many connections.

    Connections go in batches below the connection cap so their idle timeouts run concurrently;
    half of the batches half-close their side, the rest leave the server to time them out.
    """
    rng = random.Random(SEED + 2)
    address = (live.process.host, live.process.port)
    batch_size = MAX_CONNECTIONS - 2
    for first in range(0, TCP_CONNECTIONS, batch_size):
        batch = range(first, min(first + batch_size, TCP_CONNECTIONS))
        sockets = {index: socket.create_connection(address, timeout=2) for index in batch}
        try:
            for index, sock in sockets.items():
                try:
                    sock.sendall(tcp_garbage(rng, index))
                except ConnectionError:
                    continue  # the server may close on the first bad byte; that is allowed
                if index % 7 == 3:
                    # Reset instead of closing: SO_LINGER with a zero timeout sends RST.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    sock.close()
                elif (first // batch_size) % 2:
                    sock.shutdown(socket.SHUT_WR)
            for sock in sockets.values():
                if sock.fileno() != -1:
                    check_framing(read_until_closed(sock, IDLE_TIMEOUT + 2))
        finally:
            for sock in sockets.values():
                sock.close()
    live.assert_healthy()


def check_framing(received: bytes) -> None:
    """Whatever came back is whole, length-prefixed DNS responses (RFC 7766 8)."""
    offset = 0
    for _ in range(1000):
        if offset == len(received):
            return
        assert offset + 2 <= len(received), f"stray byte after responses: {received.hex()}"
        length = int.from_bytes(received[offset : offset + 2], "big")
        message = received[offset + 2 : offset + 2 + length]
        assert len(message) == length, f"truncated TCP response: {received.hex()}"
        assert length >= 12 and message[2] & 0x80, f"not a DNS response: {message.hex()}"
        offset += 2 + length
    pytest.fail("more than 1000 responses on one connection")


def test_connection_slots_are_freed(live: LiveServer) -> None:
    """Connections that come and go, silent or reset, must give their slot back.

    Each round opens more connections than the server admits; if a slot leaked per round the
    cap would be used up long before the last round and TCP queries would be refused.
    """
    address = (live.process.host, live.process.port)
    for round_ in range(4 * MAX_CONNECTIONS):
        sockets = [socket.create_connection(address, timeout=2) for _ in range(MAX_CONNECTIONS + 2)]
        for index, sock in enumerate(sockets):
            if (round_ + index) % 2:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
    query = dns.message.make_query("www.gslb.example.test.", "A")
    deadline = time.monotonic() + 3
    for _ in range(100):  # the server notices the closes asynchronously; give it a moment
        try:
            dns.query.tcp(query, live.process.host, port=live.process.port, timeout=1)
            break
        except (ConnectionError, EOFError, dns.exception.Timeout):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    live.assert_healthy()
