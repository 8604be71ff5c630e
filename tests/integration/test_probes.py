"""Probes against real loopback targets: switchable HTTP(S) servers, a stalled one, a closed port.

Every target is started by a fixture on a free 127.0.0.1 port and stopped by it. Probes run in a
fresh event loop per call (``asyncio.run``), as the monitor's loop would run them.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gslb.health.probes import MAX_BODY, HttpCheck, TcpConnects, probe_http, probe_tcp
from gslb.health.state import ProbeResult
from harness.process import free_port
from tests.integration.checked_pools import TcpTarget

LOOPBACK = "127.0.0.1"
TIMEOUT = 0.3  # every target here is local: anything slower is the stalled server
SERVICE = "health.test"


def run(probe: Coroutine[Any, Any, ProbeResult]) -> ProbeResult:
    return asyncio.run(probe)


@dataclass
class Behaviour:
    """What the HTTP target answers, switchable by the test, and what it was asked."""

    status: int = 200
    body: bytes = b"ok"
    chunked: bool = False
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, Host
    server_names: list[str | None] = field(default_factory=list)  # SNI seen by the HTTPS target


def handler_for(behaviour: Behaviour) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def answer(self) -> None:
            behaviour.requests.append((self.command, self.path, self.headers.get("Host", "")))
            self.send_response(behaviour.status)
            self.send_header("Connection", "close")
            if behaviour.chunked:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                # Two chunks splitting the body, so a substring can straddle them.
                half = len(behaviour.body) // 2
                for part in (behaviour.body[:half], behaviour.body[half:], b""):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                return
            self.send_header("Content-Length", str(len(behaviour.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(behaviour.body)

        do_GET = do_HEAD = do_POST = do_OPTIONS = answer

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    return Handler


@dataclass
class HttpTarget:
    port: int
    behaviour: Behaviour


def serve_http(behaviour: Behaviour, tls: ssl.SSLContext | None = None) -> Iterator[HttpTarget]:
    server = ThreadingHTTPServer((LOOPBACK, 0), handler_for(behaviour))
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield HttpTarget(server.server_address[1], behaviour)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def http_target() -> Iterator[HttpTarget]:
    yield from serve_http(Behaviour())


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for SERVICE (and 127.0.0.1), made here: no files in the repository."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SERVICE)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(SERVICE), x509.IPAddress(ipaddress.ip_address(LOOPBACK))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    paths = Certificate(directory / "cert.pem", directory / "key.pem")
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


@pytest.fixture
def https_target(certificate: Certificate) -> Iterator[HttpTarget]:
    behaviour = Behaviour()
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(certificate.cert, certificate.key)

    def record_sni(sock: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _: ssl.SSLContext) -> None:
        behaviour.server_names.append(server_name)

    tls.sni_callback = record_sni
    yield from serve_http(behaviour, tls)


@pytest.fixture
def stalled_port() -> Iterator[int]:
    """Listening, never accepting: the kernel completes the handshake, nothing ever answers."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        sock.listen(8)
        yield sock.getsockname()[1]


@pytest.fixture
def closed_port() -> Iterator[int]:
    """Bound but not listening: held so no one else takes it, and connects are refused."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        yield sock.getsockname()[1]


@pytest.fixture
def raw_target() -> Iterator[Callable[[Callable[[socket.socket], None]], int]]:
    """A TCP server whose every connection is handed to a function (for broken answers)."""
    stop = threading.Event()
    threads: list[threading.Thread] = []
    sockets: list[socket.socket] = []

    def start(respond: Callable[[socket.socket], None]) -> int:
        listener = socket.socket()
        listener.bind((LOOPBACK, 0))
        listener.listen(8)
        listener.settimeout(0.05)
        sockets.append(listener)

        def loop() -> None:
            while not stop.is_set():
                try:
                    connection, _ = listener.accept()
                except TimeoutError:
                    continue
                with connection:
                    connection.settimeout(1)
                    try:
                        connection.recv(4096)
                        respond(connection)
                    except OSError:
                        pass  # the probe gave up first: what it saw is what the test checks

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        threads.append(thread)
        return int(listener.getsockname()[1])

    yield start
    stop.set()
    for thread in threads:
        thread.join(timeout=5)
    for listener in sockets:
        listener.close()


def check(port: int, **fields: Any) -> HttpCheck:
    return HttpCheck(LOOPBACK, port=port, **fields)


# TCP


def test_tcp_connects_to_a_listening_port(stalled_port: int) -> None:
    result = run(probe_tcp(LOOPBACK, stalled_port, TIMEOUT))
    assert result == ProbeResult(True, "connected", result.latency)
    assert 0 < result.latency < TIMEOUT


def test_tcp_to_a_closed_port_is_refused(closed_port: int) -> None:
    result = run(probe_tcp(LOOPBACK, closed_port, TIMEOUT))
    assert (result.ok, result.reason) == (False, "connect refused")


def connects(targets: list[tuple[str, int]], timeout: float = TIMEOUT) -> list[ProbeResult]:
    """``TcpConnects`` probes of every target at once, on one loop; their results in order."""

    async def scenario() -> list[ProbeResult]:
        loop = asyncio.get_running_loop()
        prober = TcpConnects(loop)
        futures = [loop.create_future() for _ in targets]
        for (host, port), future in zip(targets, futures, strict=True):
            prober.start(host, port, timeout, future.set_result)
        try:
            return list(await asyncio.wait_for(asyncio.gather(*futures), timeout + 2))
        finally:
            prober.close()

    return asyncio.run(scenario())


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A port whose accept queue is full and never drained: a connect's SYN goes unanswered."""
    listener = socket.socket()
    listener.bind((LOOPBACK, 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(2):  # a backlog of 0 still queues one; the second fills the SYN side
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex((LOOPBACK, port))
        fillers.append(filler)
    yield port
    for filler in fillers:
        filler.close()
    listener.close()


def test_tcp_connects_from_callbacks_say_what_probe_tcp_says(stalled_port: int, closed_port: int) -> None:
    assert TcpConnects.takes(LOOPBACK) and TcpConnects.takes("::1") and not TcpConnects.takes("www.example")
    up, refused = connects([(LOOPBACK, stalled_port), (LOOPBACK, closed_port)])
    assert up == ProbeResult(True, "connected", up.latency) and 0 < up.latency < TIMEOUT
    assert (refused.ok, refused.reason, refused.refused) == (False, "connect refused", True)
    assert run(probe_tcp(LOOPBACK, closed_port, TIMEOUT)).refused  # the task-based probe says so too


def test_tcp_connects_time_out_on_a_silent_port(full_backlog: int) -> None:
    (silent,) = connects([(LOOPBACK, full_backlog)], timeout=0.2)
    assert (silent.ok, silent.reason, silent.refused) == (False, "timeout after 0.2 s", False)
    assert 0.2 <= silent.latency < 0.2 + 0.2  # the sweep runs every 50 ms


def test_many_tcp_connects_at_once(closed_port: int) -> None:
    port = free_port(LOOPBACK)
    with TcpTarget(LOOPBACK, port):  # accepts and closes every connection
        results = connects([(LOOPBACK, port), (LOOPBACK, closed_port)] * 40)  # within its backlog of 64
    assert [r.ok for r in results] == [True, False] * 40


# HTTP: status, body, request


def test_http_ok_and_switched_to_503(http_target: HttpTarget) -> None:
    spec = check(http_target.port)
    assert run(probe_http(spec, TIMEOUT)).reason == "HTTP 200"
    http_target.behaviour.status = 503
    result = run(probe_http(spec, TIMEOUT))
    assert (result.ok, result.reason) == (False, "HTTP 503")
    http_target.behaviour.status = 204
    assert run(probe_http(spec, TIMEOUT)).ok


@pytest.mark.parametrize(
    ("status", "expect", "ok"),
    [
        (301, ((200, 399),), True),
        (404, ((200, 399),), False),
        (404, ((200, 299), (404, 404)), True),
        (200, ((204, 204),), False),
        (500, ((500, 599),), True),
    ],
)
def test_expected_status_ranges(
    http_target: HttpTarget, status: int, expect: tuple[tuple[int, int], ...], ok: bool
) -> None:
    http_target.behaviour.status = status
    result = run(probe_http(check(http_target.port, expect=expect), TIMEOUT))
    assert (result.ok, result.reason) == (ok, f"HTTP {status}")


def test_body_substring(http_target: HttpTarget) -> None:
    http_target.behaviour.body = b'{"status": "ok"}'
    assert run(probe_http(check(http_target.port, body='"ok"'), TIMEOUT)).ok
    http_target.behaviour.body = b'{"status": "degraded"}'
    result = run(probe_http(check(http_target.port, body="ok"), TIMEOUT))
    assert (result.ok, result.reason) == (False, "body lacks 'ok'")


def test_body_substring_across_chunks(http_target: HttpTarget) -> None:
    http_target.behaviour.chunked = True
    http_target.behaviour.body = b"all systems healthy"
    assert run(probe_http(check(http_target.port, body="systems healthy"), TIMEOUT)).ok
    assert not run(probe_http(check(http_target.port, body="sick"), TIMEOUT)).ok


def test_body_is_read_up_to_the_limit_only(http_target: HttpTarget) -> None:
    http_target.behaviour.body = b"x" * MAX_BODY + b"marker"
    result = run(probe_http(check(http_target.port, body="marker"), TIMEOUT))
    assert (result.ok, result.reason) == (False, "body lacks 'marker'")


def test_method_path_and_host_header_are_sent(http_target: HttpTarget) -> None:
    spec = check(http_target.port, method="HEAD", path="/healthz?deep=1", host_header="www.example.com")
    assert run(probe_http(spec, TIMEOUT)).ok
    assert run(probe_http(replace(spec, method="POST", host_header=None), TIMEOUT)).ok
    assert http_target.behaviour.requests == [
        ("HEAD", "/healthz?deep=1", "www.example.com"),
        ("POST", "/healthz?deep=1", f"{LOOPBACK}:{http_target.port}"),
    ]


# HTTP: target failures become reasons


def test_http_to_a_closed_port_is_refused(closed_port: int) -> None:
    result = run(probe_http(check(closed_port), TIMEOUT))
    assert (result.ok, result.reason) == (False, "connect refused")


def test_a_stalled_server_times_out(stalled_port: int) -> None:
    result = run(probe_http(check(stalled_port), TIMEOUT))
    assert (result.ok, result.reason) == (False, "timeout after 0.3 s")
    assert TIMEOUT <= result.latency < TIMEOUT + 0.2


def test_a_reset_connection(raw_target: Callable[[Callable[[socket.socket], None]], int]) -> None:
    def reset(connection: socket.socket) -> None:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    result = run(probe_http(check(raw_target(reset)), TIMEOUT))
    assert (result.ok, result.reason) == (False, "connection reset")


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (b"", "connection closed early"),
        (b"SSH-2.0-OpenSSH_9.6\r\n", "malformed status line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", "connection closed early"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed headers"),
        (b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n", "malformed response"),
    ],
)
def test_broken_answers(
    raw_target: Callable[[Callable[[socket.socket], None]], int], answer: bytes, reason: str
) -> None:
    port = raw_target(lambda connection: connection.sendall(answer))
    result = run(probe_http(check(port), TIMEOUT))
    assert (result.ok, result.reason) == (False, reason)


# HTTPS


def test_https_without_verification_accepts_a_self_signed_certificate(https_target: HttpTarget) -> None:
    spec = check(https_target.port, scheme="https", host_header=SERVICE, verify_tls=False)
    result = run(probe_http(spec, TIMEOUT))
    assert (result.ok, result.reason) == (True, "HTTP 200")
    assert https_target.behaviour.server_names == [SERVICE]
    assert https_target.behaviour.requests == [("GET", "/", SERVICE)]


def test_https_verification_rejects_a_self_signed_certificate(https_target: HttpTarget) -> None:
    spec = check(https_target.port, scheme="https", host_header=SERVICE)
    result = run(probe_http(spec, TIMEOUT))
    assert not result.ok
    assert result.reason.startswith("TLS: certificate verify failed: self")  # self-signed / self signed
    assert https_target.behaviour.requests == []


def test_https_verification_with_the_right_ca_and_name(
    https_target: HttpTarget, certificate: Certificate
) -> None:
    spec = check(https_target.port, scheme="https", sni=SERVICE, ca_file=str(certificate.cert))
    assert run(probe_http(spec, TIMEOUT)).reason == "HTTP 200"
    # SNI and Host are independent: the certificate is checked against the SNI name
    assert https_target.behaviour.server_names == [SERVICE]
    assert https_target.behaviour.requests == [("GET", "/", f"{LOOPBACK}:{https_target.port}")]
    wrong = run(probe_http(replace(spec, sni="other.test"), TIMEOUT))
    assert not wrong.ok
    assert wrong.reason.startswith("TLS: certificate verify failed: Hostname mismatch")


def test_https_to_a_plain_http_server_is_a_tls_error(http_target: HttpTarget) -> None:
    result = run(probe_http(check(http_target.port, scheme="https", verify_tls=False), TIMEOUT))
    assert not result.ok
    assert result.reason == "TLS: wrong version number"


# The request as written, without a server


@pytest.mark.parametrize(
    ("spec", "host", "server_name"),
    [
        (HttpCheck("192.0.2.1"), "192.0.2.1", "192.0.2.1"),
        (HttpCheck("192.0.2.1", port=8080), "192.0.2.1:8080", "192.0.2.1"),
        (HttpCheck("2001:db8::1", scheme="https"), "[2001:db8::1]", "2001:db8::1"),
        (HttpCheck("2001:db8::1", port=8443, scheme="https"), "[2001:db8::1]:8443", "2001:db8::1"),
        (
            HttpCheck("192.0.2.1", host_header="www.example.com:8080"),
            "www.example.com:8080",
            "www.example.com",
        ),
        (HttpCheck("192.0.2.1", host_header="[2001:db8::1]:8080"), "[2001:db8::1]:8080", "2001:db8::1"),
        (HttpCheck("192.0.2.1", host_header="a.example", sni="b.example"), "a.example", "b.example"),
    ],
)
def test_host_header_and_sni_defaults(spec: HttpCheck, host: str, server_name: str) -> None:
    assert (spec.host_value, spec.server_name) == (host, server_name)
    assert f"\r\nHost: {host}\r\n".encode() in spec.request()
    assert spec.request().endswith(b"Connection: close\r\n\r\n")


def test_a_fractional_timeout_is_shown_as_given(stalled_port: int) -> None:
    assert run(probe_http(check(stalled_port), 0.25)).reason == "timeout after 0.25 s"
