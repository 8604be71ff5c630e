"""Listeners: a blocking UDP loop per socket, and asyncio for TCP (RFC 7766).

UDP is the hot path: one thread per socket doing blocking reads and sends and nothing else but
``respond`` (the system calls release the GIL, and a blocking loop is the cheapest Python can
do): ``recvmmsg``/``sendmmsg`` batches on Linux (gslb/answer/mmsg.py), ``recvfrom``/``sendto``
elsewhere or with ``udp_batch = 1``. TCP is rare and must withstand slow or silent clients, so it
lives on an event loop with timeouts on every read and write, and a cap on concurrent connections.

Several worker processes (``workers`` > 1, gslb/node/supervisor.py) each bind their own sockets on
every listener with SO_REUSEPORT, and the kernel spreads clients across them.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import threading
import time
from dataclasses import dataclass, field

from gslb.answer import mmsg
from gslb.answer.counters import RebuildTimes, Totals
from gslb.answer.responder import ResponderSettings, respond, respond_stream
from gslb.config import Endpoint, Settings
from gslb.runtime import timeslice
from gslb.snapshot.snapshot import Snapshot

log = logging.getLogger("gslb.dns")

# Address families a host may lack; an unconfigured default listener on them is skipped.
_UNAVAILABLE = {errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT}


@dataclass(slots=True)
class SnapshotHolder:
    """The one mutable cell between the control path and the responders.

    Readers take ``holder.snapshot`` once per query; writers assign a new, complete snapshot.
    A reference assignment is atomic in CPython, so no lock is needed on either side.
    """

    snapshot: Snapshot


@dataclass(slots=True)
class ErrorBudget:
    """Logs unexpected responder errors at most once a second, so a hostile stream can't flood logs."""

    last: float = 0.0
    suppressed: int = 0

    def report(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self.last < 1.0:
            self.suppressed += 1
            return
        log.error("query failed", exc_info=exc, extra={"suppressed": self.suppressed})
        self.last, self.suppressed = now, 0


def bind_udp(endpoint: Endpoint, *, reuse_port: bool = False) -> socket.socket:
    family = socket.AF_INET6 if endpoint.family_v6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if endpoint.family_v6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if reuse_port:
            # Every worker process binds the same address; the kernel hands each datagram to one
            # of them, chosen by a hash of the client's address and port.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.bind((endpoint.host, endpoint.port))
    except OSError:
        sock.close()
        raise
    return sock


def check_free(settings: Settings) -> None:
    """Raise OSError, naming the listener, unless every listener's UDP and TCP port is free now.

    Workers share their listeners through SO_REUSEPORT, which would just as quietly let them join
    the sockets of another process of the same user that set the option too: two servers
    splitting the queries between them. Binding each port once without the option, as a lone
    server does, makes such a port fail start-up loudly like any other port already taken.
    """
    for endpoint in settings.listen:
        family = socket.AF_INET6 if endpoint.family_v6 else socket.AF_INET
        for kind, protocol in ((socket.SOCK_DGRAM, "udp"), (socket.SOCK_STREAM, "tcp")):
            with socket.socket(family, kind) as sock:
                if endpoint.family_v6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                if kind == socket.SOCK_STREAM:
                    # As the listener itself will: connections left in TIME_WAIT do not count.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((endpoint.host, endpoint.port))
                except OSError as exc:
                    if _skippable(settings, endpoint, exc):
                        break
                    raise OSError(exc.errno, f"{endpoint} ({protocol}): {exc.strerror}") from exc


def _skippable(settings: Settings, endpoint: Endpoint, exc: OSError) -> bool:
    """An unconfigured default IPv6 listener on a host without IPv6."""
    return settings.listen_is_default and endpoint.family_v6 and exc.errno in _UNAVAILABLE


def serve_udp(
    sock: socket.socket,
    holder: SnapshotHolder,
    settings: ResponderSettings,
    stopping: threading.Event,
    batch: int = 1,
) -> None:
    """The UDP loop: ``batch`` datagrams per system call where the platform allows (gslb/answer/mmsg.py),
    else one. Nothing a client sends may end it; only ``stopping`` does."""
    errors = ErrorBudget()
    if timeslice.request_short_slice():
        log.debug("udp thread: short time slice", extra={"slice_us": timeslice.SLICE_NS // 1000})
    if batch > 1 and mmsg.available():

        def answer(query: bytes, client_ip: str) -> bytes | None:
            return respond(holder.snapshot, query, settings, client_ip)

        mmsg.serve(sock, answer, stopping, errors.report, batch)
        return
    recvfrom = sock.recvfrom
    sendto = sock.sendto
    while True:
        try:
            data, address = recvfrom(65535)
        except OSError:
            if stopping.is_set():
                return
            continue
        if stopping.is_set():
            return
        try:
            response = respond(holder.snapshot, data, settings, address[0])
        except Exception as exc:  # a bug must cost one query, never the listener
            errors.report(exc)
            continue
        if response is not None:
            try:  # noqa: SIM105 - contextlib.suppress costs a call per query here
                sendto(response, address)
            except OSError:
                pass  # e.g. the client's port is gone; nothing to do for a datagram


@dataclass(slots=True)
class TcpListener:
    """RFC 7766 framing, pipelining, idle timeout and a connection cap."""

    holder: SnapshotHolder
    settings: ResponderSettings
    idle_timeout: float
    max_connections: int
    active: int = 0
    refused: int = 0
    errors: ErrorBudget = field(default_factory=ErrorBudget)
    connections: dict[asyncio.Task[None], asyncio.StreamWriter] = field(default_factory=dict)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.active >= self.max_connections:
            self.refused += 1
            writer.transport.abort()
            return
        self.active += 1
        task = asyncio.current_task()
        assert task is not None
        self.connections[task] = writer
        peer = writer.get_extra_info("peername")
        client_ip = peer[0] if peer else ""
        try:
            await self._serve(reader, writer, client_ip)
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception as exc:
            self.errors.report(exc)
        finally:
            self.active -= 1
            del self.connections[task]
            writer.transport.abort()

    async def close_all(self, timeout: float = 2.0) -> None:
        """Drop every open connection and let its handler finish, so shutdown cancels nothing."""
        tasks = list(self.connections)
        for writer in self.connections.values():
            writer.transport.abort()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, client_ip: str
    ) -> None:
        while True:
            # A whole message must arrive within the idle timeout, so a client trickling
            # bytes holds a connection no longer than a silent one.
            async with asyncio.timeout(self.idle_timeout):
                prefix = await reader.readexactly(2)
                data = await reader.readexactly(int.from_bytes(prefix, "big"))
            for response in respond_stream(self.holder.snapshot, data, self.settings, client_ip):
                writer.write(len(response).to_bytes(2, "big") + response)
            async with asyncio.timeout(self.idle_timeout):
                await writer.drain()


class DnsServer:
    """All listeners of one process, answering from one SnapshotHolder, and what they counted.

    ``swap`` and ``totals`` run on the event loop's thread (the snapshot follower, a scrape), so
    only the UDP threads race them, which gslb/answer/counters.py allows for.
    """

    def __init__(self, settings: Settings, holder: SnapshotHolder) -> None:
        self.settings = settings
        self.holder = holder
        self.responder_settings = ResponderSettings(
            settings.max_udp_payload,
            settings.transfer_allow,
            client_prefix_v4=settings.client_prefix_v4,
            client_prefix_v6=settings.client_prefix_v6,
        )
        self.tcp = TcpListener(
            holder, self.responder_settings, settings.tcp_idle_timeout, settings.tcp_max_connections
        )
        self.counters = self.responder_settings.counters
        self.rebuilds = RebuildTimes()
        self.rebuilds.swapped(None, holder.snapshot)
        self._stopping = threading.Event()
        self._udp_sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._tcp_servers: list[asyncio.Server] = []
        self.endpoints: list[Endpoint] = []
        # One of several worker processes on the same listeners (gslb/node/supervisor.py).
        self.reuse_port = settings.workers > 1
        self.udp_batch = settings.udp_batch if mmsg.available() else 1

    async def start(self) -> None:
        """Bind every listener or none: a server that can't listen where told must not start."""
        try:
            for endpoint in self.settings.listen:
                try:
                    udp = bind_udp(endpoint, reuse_port=self.reuse_port)
                except OSError as exc:
                    if _skippable(self.settings, endpoint, exc):
                        log.warning(
                            "listener skipped", extra={"endpoint": str(endpoint), "reason": exc.strerror}
                        )
                        continue
                    raise
                self._udp_sockets.append(udp)
                server = await asyncio.start_server(
                    self.tcp.handle,
                    endpoint.host,
                    endpoint.port,
                    reuse_address=True,
                    reuse_port=self.reuse_port,
                    limit=65535 + 2,
                )
                self._tcp_servers.append(server)
                self.endpoints.append(endpoint)
        except OSError:
            await self.stop()
            raise
        for sock, endpoint in zip(self._udp_sockets, self.endpoints, strict=True):
            thread = threading.Thread(
                target=serve_udp,
                args=(sock, self.holder, self.responder_settings, self._stopping, self.udp_batch),
                name=f"udp {endpoint}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
            log.info(
                "listening",
                extra={"endpoint": str(endpoint), "protocols": "udp,tcp", "udp_batch": self.udp_batch},
            )

    async def stop(self) -> None:
        self._stopping.set()
        for server in self._tcp_servers:
            server.close()
        await self.tcp.close_all()
        for sock in self._udp_sockets:
            _wake(sock)
        for thread in self._threads:
            thread.join(timeout=2)
        for sock in self._udp_sockets:
            sock.close()
        for server in self._tcp_servers:
            await server.wait_closed()
        self._tcp_servers.clear()
        self._udp_sockets.clear()
        self._threads.clear()

    @property
    def listening(self) -> bool:
        """Every listener bound and its UDP thread started (and not stopped since)."""
        return bool(self._threads) and not self._stopping.is_set()

    def swap(self, snapshot: Snapshot) -> None:
        """Answer from ``snapshot`` from now on; what was counted so far is translated with the
        snapshot that answered it, since question keys and choices mean nothing without it."""
        old = self.holder.snapshot
        counted = self.counters.take()
        self.holder.snapshot = snapshot
        self.counters.attribute(counted, old)
        self.rebuilds.swapped(old, snapshot)

    def totals(self) -> Totals:
        """Every answer counted so far, by label."""
        self.counters.fold(self.holder.snapshot)
        return self.counters.totals()


def _wake(sock: socket.socket) -> None:
    """Unblock a thread sitting in ``recvfrom`` on this socket (Linux: shutdown wakes it)."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
