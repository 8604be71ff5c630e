"""Health-check targets for bench/health_load.py: one process that accepts TCP connects on thousands of
loopback addresses, one port, and can stop and restart listening on some of them.

Run as ``python -m bench.health_targets --first 127.1.0.1 --count 2000 --port PORT``. It binds one listening
socket per address (so a "dead" target is one whose socket is closed: connects are refused at once, as when
a VIP dies), prints ``ready COUNT`` once all listen, then accepts and closes every connection (a TCP check
needs the handshake only). Commands on stdin, one per line, each answered with one line on stdout:
``down ADDR ...`` closes those listeners, ``up ADDR ...`` opens them again. It exits at end of input, so it
cannot outlive a benchmark that died without stopping it; the benchmark stops it by its PID anyway.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import resource
import selectors
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
FIRST_ADDRESS = "127.1.0.1"
BACKLOG = 128
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
REPO_ROOT = Path(__file__).resolve().parent.parent


def address_plan(count: int, first: str = FIRST_ADDRESS) -> list[str]:
    """``count`` consecutive IPv4 addresses from ``first``, all inside 127.0.0.0/8 (nothing leaves the host;
    on loopback every one of them is local, .0 and .255 included: the route is the whole /8)."""
    if count < 1:
        raise ValueError(f"count must be >= 1, not {count}")
    start = ipaddress.IPv4Address(first)
    if start not in LOOPBACK or int(start) + count - 1 > int(LOOPBACK.broadcast_address):
        raise ValueError(f"{count} addresses from {first} do not fit in {LOOPBACK}")
    return [str(start + offset) for offset in range(count)]


class Targets:
    """The listening sockets of the addresses, served from one selector loop (the process's ``main``)."""

    def __init__(self, addresses: Sequence[str], port: int) -> None:
        self.port = port
        self.selector = selectors.DefaultSelector()
        self.listeners: dict[str, socket.socket] = {}
        for address in addresses:
            self.up(address)

    def up(self, address: str) -> None:
        if address in self.listeners:
            return
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((address, self.port))
        listener.listen(BACKLOG)
        listener.setblocking(False)
        self.selector.register(listener, selectors.EVENT_READ, address)
        self.listeners[address] = listener

    def down(self, address: str) -> None:
        listener = self.listeners.pop(address, None)
        if listener is not None:
            self.selector.unregister(listener)
            listener.close()

    def accept_all(self, listener: socket.socket) -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except (BlockingIOError, ConnectionAbortedError):
                return
            connection.close()


def serve(addresses: Sequence[str], port: int, commands: IO[str], replies: IO[str]) -> None:
    """Listen on every address, then accept and obey ``commands`` until they end."""
    targets = Targets(addresses, port)
    targets.selector.register(commands, selectors.EVENT_READ, None)
    print(f"ready {len(addresses)}", file=replies, flush=True)
    while True:
        for key, _ in targets.selector.select():
            if key.data is not None:
                targets.accept_all(key.fileobj)  # type: ignore[arg-type]
                continue
            line = commands.readline()
            if not line:
                return
            verb, *named = line.split()
            for address in named:
                (targets.up if verb == "up" else targets.down)(address)
            print(f"ok {verb} {len(named)}", file=replies, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--first", default=FIRST_ADDRESS, help=f"first address (default {FIRST_ADDRESS})")
    parser.add_argument("--count", type=int, default=2000, help="how many addresses (default 2000)")
    parser.add_argument("--port", type=int, required=True, help="the one TCP port on every address")
    args = parser.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = args.count + 256
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    serve(address_plan(args.count, args.first), args.port, sys.stdin, sys.stdout)
    return 0


class TargetsProcess:
    """``python -m bench.health_targets`` as a child process (``prefix`` e.g. ``taskset -c 1``): ready once
    it says so, ``down``/``up`` by command, stopped by its PID (SIGTERM, then SIGKILL) on leaving ``with``."""

    def __init__(self, addresses: Sequence[str], port: int, prefix: Sequence[str] = ()) -> None:
        self.addresses = list(addresses)
        self.port = port
        self.prefix = tuple(prefix)
        self.process: subprocess.Popen[str] | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("the targets are not running")
        return self.process.pid

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *self.prefix,
                sys.executable,
                "-m",
                "bench.health_targets",
                "--first",
                self.addresses[0],
                "--count",
                str(len(self.addresses)),
                "--port",
                str(self.port),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO_ROOT,
        )
        try:
            self._expect("ready")
        except BaseException:
            self.stop()
            raise

    def _expect(self, word: str) -> None:
        assert self.process is not None and self.process.stdout is not None
        ready = selectors.DefaultSelector()
        ready.register(self.process.stdout, selectors.EVENT_READ)
        if not ready.select(READY_TIMEOUT):
            raise RuntimeError(f"health targets said nothing within {READY_TIMEOUT:g} s (waiting for {word})")
        line = self.process.stdout.readline()
        if not line.startswith(word):
            raise RuntimeError(
                f"health targets: expected {word!r}, got {line!r} (exit {self.process.poll()})"
            )

    def command(self, verb: str, addresses: Sequence[str]) -> None:
        """``down`` or ``up`` those addresses; returns once the process has done it."""
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(f"{verb} {' '.join(addresses)}\n")
        self.process.stdin.flush()
        self._expect(f"ok {verb}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


if __name__ == "__main__":
    sys.exit(main())
