"""Active probes: TCP connect, HTTP and HTTPS, on asyncio alone.

A probe never raises for anything the target does (refuses, stalls, resets, answers badly,
presents a bad certificate): it returns a ``ProbeResult`` whose reason tells an operator what
happened in a few words. Only programming errors raise. The whole probe, connect included, runs
under one deadline, so a check costs at most ``timeout`` however the target misbehaves.

HTTP is a minimal HTTP/1.1 client (one request, ``Connection: close``): a health check needs
the status line, and the body only when a substring is expected, which is read up to
``MAX_BODY`` bytes so a misconfigured target cannot make a probe read for ever.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import ipaddress
import os
import socket
import ssl
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from gslb.health.state import ProbeResult

MAX_BODY = 64 * 1024
_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST
MAX_HEADERS = 100
DEFAULT_EXPECT = ((200, 399),)

_ERRNO_REASONS = {
    errno.ECONNREFUSED: "connect refused",
    errno.ECONNRESET: "connection reset",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.ECONNABORTED: "connection aborted",
    errno.EPIPE: "connection reset",
}


@dataclass(frozen=True, slots=True)
class HttpCheck:
    """An HTTP(S) request and what its answer must look like to count as healthy.

    ``host`` is the address connected to (the member); ``host_header`` and ``sni`` name the
    service, since a VIP usually serves virtual hosts and a certificate that does not carry
    its address.
    """

    host: str
    scheme: Literal["http", "https"] = "http"
    port: int | None = None  # None: 80 or 443 by scheme
    method: str = "GET"
    path: str = "/"
    host_header: str | None = None  # None: the address (and port, when not the scheme's default)
    expect: tuple[tuple[int, int], ...] = DEFAULT_EXPECT  # inclusive status ranges
    body: str | None = None  # a substring the body must contain (first MAX_BODY bytes)
    sni: str | None = None  # None: the Host header's name
    verify_tls: bool = True
    ca_file: str | None = None  # None: the system's trust store

    @property
    def target_port(self) -> int:
        if self.port is not None:
            return self.port
        return 443 if self.scheme == "https" else 80

    @property
    def host_value(self) -> str:
        if self.host_header is not None:
            return self.host_header
        host = f"[{self.host}]" if _is_ipv6(self.host) else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.target_port == default else f"{host}:{self.target_port}"

    @property
    def server_name(self) -> str:
        """What TLS sends as SNI and verifies the certificate against (an address: no SNI)."""
        if self.sni is not None:
            return self.sni
        if self.host_header is not None:
            name = self.host_header
            return name[1 : name.index("]")] if name.startswith("[") else name.rsplit(":", 1)[0]
        return self.host

    def accepts(self, status: int) -> bool:
        return any(low <= status <= high for low, high in self.expect)

    def request(self) -> bytes:
        return (
            f"{self.method} {self.path} HTTP/1.1\r\n"
            f"Host: {self.host_value}\r\n"
            "User-Agent: gslb-health\r\n"
            "Accept: */*\r\n"
            "Connection: close\r\n\r\n"
        ).encode("latin-1")


# A connect in flight: its socket, when it started, its deadline, its timeout, and whom to tell.
_Connect = tuple[socket.socket, float, float, float, Callable[[ProbeResult], None]]
SWEEP_INTERVAL = 0.05
"""How often ``TcpConnects`` looks for connects past their timeout: a timeout is reported up to this
late, which against a 1 s timeout is noise, and one timer for all is far cheaper than one each."""


class TcpConnects:
    """TCP connect probes to IP addresses, run from callbacks on one event loop.

    ``probe_tcp`` costs a task, a future and a timeout per probe on top of the connect itself; at
    thousands of probes a second that overhead is most of the health process's CPU. Here a probe
    is a non-blocking ``connect_ex``, one writer callback when it completes, and a shared sweep
    that fails the connects past their timeout; its result goes to the ``done`` callback (never
    raised), with the same reasons as ``probe_tcp``.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._pending: dict[int, _Connect] = {}
        self._sweeper: asyncio.TimerHandle | None = None

    @staticmethod
    def takes(host: str) -> bool:
        """Whether ``host`` is an address this prober connects to (a host name needs resolving)."""
        return _family(host) is not None

    def start(self, host: str, port: int, timeout: float, done: Callable[[ProbeResult], None]) -> None:
        family = _family(host)
        assert family is not None, "TcpConnects.takes() says which hosts it takes"
        started = time.monotonic()
        sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        try:
            # Close with a reset, not a FIN: nothing lingers in TIME_WAIT on either side.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            error = sock.connect_ex((host, port))
        except OSError as exc:
            sock.close()
            done(_connect_result(exc.errno or 0, time.monotonic() - started))
            return
        if error != errno.EINPROGRESS:
            sock.close()
            done(_connect_result(error, time.monotonic() - started))
            return
        fd = sock.fileno()
        self._pending[fd] = (sock, started, started + timeout, timeout, done)
        self.loop.add_writer(fd, self._connected, fd)
        if self._sweeper is None:
            self._sweeper = self.loop.call_later(SWEEP_INTERVAL, self._sweep)

    def close(self) -> None:
        """Abandon every connect in flight (their callbacks are never called)."""
        for fd, (sock, *_) in self._pending.items():
            self.loop.remove_writer(fd)
            sock.close()
        self._pending.clear()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    def _connected(self, fd: int) -> None:
        self.loop.remove_writer(fd)
        entry = self._pending.pop(fd, None)
        if entry is None:
            return
        sock, started, _, _, done = entry
        error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        sock.close()
        done(_connect_result(error, time.monotonic() - started))

    def _sweep(self) -> None:
        self._sweeper = None
        now = time.monotonic()
        expired = [fd for fd, entry in self._pending.items() if entry[2] <= now]
        for fd in expired:
            sock, started, _, timeout, done = self._pending.pop(fd)
            self.loop.remove_writer(fd)
            sock.close()
            done(ProbeResult(False, _timeout_reason(timeout), now - started))
        if self._pending:
            self._sweeper = self.loop.call_later(SWEEP_INTERVAL, self._sweep)


def _connect_result(error: int, latency: float) -> ProbeResult:
    if error == 0:
        return ProbeResult(True, "connected", latency)
    reason = _ERRNO_REASONS.get(error) or f"network error: {os.strerror(error)}"
    return ProbeResult(False, reason, latency, error == errno.ECONNREFUSED)


@functools.lru_cache(maxsize=1 << 16)
def _family(host: str) -> socket.AddressFamily | None:
    """The address family of an IP address (parsed once per address); None for a host name."""
    try:
        version = ipaddress.ip_address(host).version
    except ValueError:
        return None
    return socket.AF_INET6 if version == 6 else socket.AF_INET


def _timeout_reason(timeout: float) -> str:
    shown = f"{timeout:.1f}" if round(timeout, 1) == timeout else f"{timeout:g}"
    return f"timeout after {shown} s"


async def probe_tcp(host: str, port: int, timeout: float) -> ProbeResult:
    """Healthy when a TCP connection opens within ``timeout``.

    An address is connected to with a bare non-blocking socket: a stream's reader, protocol and
    transport would triple the CPU a probe costs, which at thousands of probes a second matters.
    """

    async def connect() -> ProbeResult:
        family = _family(host)
        if family is None:  # a CNAME pool's member: a name to resolve first
            _, writer = await asyncio.open_connection(host, port)
            writer.transport.abort()
            return ProbeResult(True, "connected")
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setblocking(False)
            # Close with a reset, not a FIN: nothing lingers in TIME_WAIT on either side.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            await asyncio.get_running_loop().sock_connect(sock, (host, port))
        return ProbeResult(True, "connected")

    return await _timed(connect, timeout)


async def probe_http(spec: HttpCheck, timeout: float) -> ProbeResult:
    """Healthy when the answer's status is expected and its body holds ``spec.body``, if set."""
    # Built before the deadline starts, so a bad spec raises instead of becoming a reason.
    request = spec.request()
    tls = _tls_context(spec.verify_tls, spec.ca_file) if spec.scheme == "https" else None
    return await _timed(lambda: _exchange(spec, request, tls), timeout)


async def _exchange(spec: HttpCheck, request: bytes, tls: ssl.SSLContext | None) -> ProbeResult:
    reader, writer = await asyncio.open_connection(
        spec.host, spec.target_port, ssl=tls, server_hostname=spec.server_name if tls else None
    )
    try:
        writer.write(request)
        await writer.drain()
        line = await reader.readline()
        if not line:
            return ProbeResult(False, "connection closed early")
        status = _status(line)
        if status is None:
            return ProbeResult(False, "malformed status line")
        headers = await _headers(reader)
        if headers is None:
            return ProbeResult(False, "malformed headers")
        if not spec.accepts(status):
            return ProbeResult(False, f"HTTP {status}")
        if spec.body is not None:
            body = await _body(reader, headers)
            if spec.body.encode() not in body:
                return ProbeResult(False, f"body lacks {spec.body!r}")
        return ProbeResult(True, f"HTTP {status}")
    finally:
        # No TLS close_notify, no lingering: the answer is in, and waiting for a polite close
        # from a sick target would only spend the probe's budget.
        writer.transport.abort()


async def _timed(probe: Callable[[], Awaitable[ProbeResult]], timeout: float) -> ProbeResult:
    """Run a probe under one deadline, turning what the target did into a reason."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            result = await probe()
    except TimeoutError:
        result = ProbeResult(False, _timeout_reason(timeout))
    except asyncio.IncompleteReadError:
        result = ProbeResult(False, "connection closed early")
    except ssl.SSLCertVerificationError as exc:
        result = ProbeResult(False, f"TLS: certificate verify failed: {exc.verify_message}")
    except ssl.SSLError as exc:
        # OpenSSL's reason codes ("WRONG_VERSION_NUMBER") read better as words.
        words = exc.reason.lower().replace("_", " ") if exc.reason else str(exc)
        result = ProbeResult(False, f"TLS: {words}")
    except ValueError:  # only reading raises it: a line over the reader's limit, a bad chunk size
        result = ProbeResult(False, "malformed response")
    except socket.gaierror as exc:  # members of CNAME pools are host names
        result = ProbeResult(False, f"name resolution failed: {exc.strerror or exc}")
    except OSError as exc:
        reason = _ERRNO_REASONS.get(exc.errno or 0) or f"network error: {exc.strerror or exc}"
        result = ProbeResult(False, reason, refused=exc.errno == errno.ECONNREFUSED)
    latency = time.monotonic() - started
    return ProbeResult(result.ok, result.reason, latency, result.refused)


def _status(line: bytes) -> int | None:
    """The status code of ``HTTP/1.x NNN reason``; None if the line is not one."""
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit() or len(parts[1]) != 3:
        return None
    return int(parts[1])


async def _headers(reader: asyncio.StreamReader) -> dict[str, str] | None:
    """Header fields, lower-cased names (the last of repeated ones); None if malformed."""
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS):
        line = await reader.readline()
        if line in (b"\r\n", b"\n"):
            return headers
        if not line:
            raise asyncio.IncompleteReadError(b"", None)
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon:
            return None
        headers[name.strip().lower()] = value.strip()
    return None


async def _body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    """Up to MAX_BODY bytes of the body: chunked, sized, or up to the close."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = b""
        while len(body) < MAX_BODY:
            size = int((await reader.readline()).split(b";")[0].strip() or b"x", 16)
            if size == 0:
                break
            body += await reader.readexactly(size)
            await reader.readline()
        return body[:MAX_BODY]
    length = headers.get("content-length", "")
    limit = min(int(length), MAX_BODY) if length.isdigit() else MAX_BODY
    body = b""
    while len(body) < limit and (chunk := await reader.read(limit - len(body))):
        body += chunk
    return body


@functools.lru_cache(maxsize=8)
def _tls_context(verify: bool, ca_file: str | None) -> ssl.SSLContext:
    """One context per verification setting: loading the trust store costs milliseconds, far
    too much to repeat on every probe. Not verifying means neither chain nor name."""
    context = ssl.create_default_context(cafile=ca_file)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False
