"""The batched UDP loop (gslb/answer/mmsg.py) on real loopback sockets, and the server on either loop.

The risky part of batching is bookkeeping: which answer goes to which client when a batch holds
datagrams from many clients, some answered, some dropped, some failing. So these tests hold a
loop still while a burst queues up, then check every reply's payload against its receiver.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gslb.answer import mmsg
from tests.integration.server import GslbProcess
from tests.integration.test_dig import run_dig

pytestmark = pytest.mark.skipif(not mmsg.available(), reason="recvmmsg/sendmmsg: Linux only")

Respond = Callable[[bytes, str], bytes | None]


@contextmanager
def batched_loop(
    respond: Respond, host: str = "127.0.0.1", size: int = 32
) -> Iterator[tuple[tuple[str, int], list[BaseException]]]:
    """``mmsg.serve`` on a fresh socket in a thread; yields its address and what it reported."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    stopping = threading.Event()
    reported: list[BaseException] = []
    thread = threading.Thread(target=mmsg.serve, args=(sock, respond, stopping, reported.append, size))
    thread.start()
    try:
        yield sock.getsockname()[:2], reported
    finally:
        stopping.set()
        with contextlib.suppress(OSError):  # ENOTCONN, yet it wakes the blocked call (Linux)
            sock.shutdown(socket.SHUT_RDWR)  # as DnsServer.stop does
        thread.join(timeout=5)
        sock.close()
        assert not thread.is_alive(), "the loop did not stop"


class Gate:
    """Holds the loop inside its first answer until opened, so the datagrams behind it queue up."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()

    def wait_once(self) -> None:
        if not self.entered.is_set():
            self.entered.set()
            assert self.opened.wait(10)


def receive_all(sock: socket.socket, count: int) -> list[bytes]:
    sock.settimeout(5)
    return [sock.recv(65535) for _ in range(count)]


def test_a_burst_from_many_clients_is_answered_each_to_its_sender() -> None:
    gate = Gate()

    def respond(query: bytes, client_ip: str) -> bytes:
        gate.wait_once()
        return b"re:" + query + b" from " + client_ip.encode()

    clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(8)]
    with batched_loop(respond, size=16) as (address, reported):
        for client in clients:
            client.bind(("127.0.0.1", 0))
        clients[0].sendto(b"first", address)
        assert gate.entered.wait(5)
        # 8 clients x 12 datagrams queue behind the held one (well within the default receive
        # buffer): the loop must take them in batches of up to 16.
        for n in range(12):
            for index, client in enumerate(clients):
                client.sendto(f"{index}:{n}".encode(), address)
        gate.opened.set()
        for index, client in enumerate(clients):
            expected = {f"re:{index}:{n} from 127.0.0.1".encode() for n in range(12)}
            if index == 0:
                expected.add(b"re:first from 127.0.0.1")
            assert set(receive_all(client, len(expected))) == expected
    assert reported == []
    for client in clients:
        client.close()


def test_silence_and_failures_inside_a_batch_cost_only_their_own_queries() -> None:
    gate = Gate()

    def respond(query: bytes, client_ip: str) -> bytes | None:
        gate.wait_once()
        if query.startswith(b"drop"):
            return None
        if query.startswith(b"boom"):
            raise ValueError(query.decode())
        return b"re:" + query

    speaker, quiet = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2))
    with batched_loop(respond) as (address, reported):
        speaker.sendto(b"hold", address)
        assert gate.entered.wait(5)
        for n in range(30):
            quiet.sendto(f"{'drop' if n % 2 else 'boom'}{n}".encode(), address)
            speaker.sendto(f"say{n}".encode(), address)
        gate.opened.set()
        expected = {b"re:hold"} | {f"re:say{n}".encode() for n in range(30)}
        assert set(receive_all(speaker, len(expected))) == expected
        quiet.settimeout(0.3)
        with pytest.raises(TimeoutError):
            quiet.recv(65535)  # nothing was answered to it, nor misaddressed to it
    assert sorted(str(exc) for exc in reported) == sorted(f"boom{n}" for n in range(0, 30, 2))
    speaker.close()
    quiet.close()


def test_ipv6_clients_are_answered_and_named() -> None:
    try:
        probe = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("no IPv6 loopback")
    with batched_loop(lambda query, client_ip: query + client_ip.encode(), host="::1") as (address, _):
        client = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        client.sendto(b"who:", address)
        client.settimeout(5)
        assert client.recv(100) == b"who:::1"
        client.close()


def test_the_largest_datagram_goes_through_whole() -> None:
    """Slots are as large as a datagram can be: nothing is cut on the way in or out."""
    largest = 65507  # 65,535 less the IPv4 and UDP headers
    with batched_loop(lambda query, client_ip: query) as (address, _):
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        payload = bytes(range(256)) * (largest // 256) + b"x" * (largest % 256)
        client.sendto(payload, address)
        client.settimeout(5)
        assert client.recv(65535) == payload
        client.close()


@pytest.mark.parametrize("udp_batch", ["1", "64"])
def test_the_server_answers_on_either_loop(udp_batch: str, dig: str, example_zones: Path) -> None:
    with GslbProcess(example_zones, ["--udp-batch", udp_batch]) as server:
        answer = run_dig(dig, "dig @127.0.0.1 -p 5353 www.gslb.example.test A +short", server.port)
        log = server.log
    assert len(answer.split()) == 2
    assert f"udp_batch={udp_batch}" in log


def test_client_addresses_are_named_as_recvfrom_names_them() -> None:
    assert mmsg.client_address(socket.inet_pton(socket.AF_INET, "192.0.2.7")) == "192.0.2.7"
    loopback6 = socket.inet_pton(socket.AF_INET6, "::1")
    assert mmsg.client_address(loopback6 + bytes(4)) == "::1"
    link_local = socket.inet_pton(socket.AF_INET6, "fe80::1")
    scope = socket.if_nameindex()[0]
    named = mmsg.client_address(link_local + scope[0].to_bytes(4, sys.byteorder))
    assert named == f"fe80::1%{scope[1]}"


def test_slots_start_in_cache_sets_of_their_own() -> None:
    """64 KiB apart, every slot would start in the same cache set (see ``mmsg.STRIDE``)."""
    starts = [mmsg.STRIDE * i % 4096 for i in range(64)]
    assert len(set(starts)) == 64
    assert all(start % 64 == 0 for start in starts)  # each on a cache line's boundary
    assert mmsg.STRIDE >= mmsg.SLOT
