"""Start and stop a real ``gslb serve`` process on a free loopback port, for tests and benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import dns.message
import dns.query
import dns.rdatatype


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on ``host`` (the OS picks; both are checked)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(50):
        with socket.socket(family, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(family, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((host, port))
                except OSError:
                    continue
            return port
    raise RuntimeError(f"no free port on {host}")


@dataclass
class GslbProcess:
    """``gslb serve`` as a child process; stopped (and reaped) on exit from the ``with`` block."""

    zones: Path
    extra_args: Sequence[str] = ()
    host: str = "127.0.0.1"
    port: int = 0
    listen_v6: bool = False
    probe_zone: str = "gslb.example.test."
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    workdir: Path | None = None

    def __enter__(self) -> GslbProcess:
        self.start()
        return self

    def __exit__(
        self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]
    ) -> None:
        self.stop()

    def command(self) -> list[str]:
        if not self.port:
            self.port = free_port(self.host)
        args = [sys.executable, "-m", "gslb", "serve", "--zones", str(self.zones)]
        args += ["--listen", f"{self.host}:{self.port}"]
        if self.listen_v6:
            args += ["--listen", f"[::1]:{self.port}"]
        return args + list(self.extra_args)

    def start(self, timeout: float = 15.0) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            self.command(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=self.workdir
        )
        deadline = time.monotonic() + timeout
        query = dns.message.make_query(self.probe_zone, dns.rdatatype.SOA)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.process.stdout.read().decode() if self.process.stdout else ""
                raise RuntimeError(f"gslb exited with {self.process.returncode}:\n{output}")
            try:
                dns.query.udp(query, self.host, port=self.port, timeout=0.2)
                return
            except (OSError, dns.exception.Timeout):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"gslb did not answer on {self.host}:{self.port} within {timeout} s")

    def stop(self) -> str:
        """Stop the server (SIGTERM, then SIGKILL) and return everything it logged."""
        if self.process is None:
            return ""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        output = self.process.stdout.read().decode() if self.process.stdout else ""
        if self.process.stdout:
            self.process.stdout.close()
        self.process = None
        return output
