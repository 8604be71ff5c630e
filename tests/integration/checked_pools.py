"""A zone directory whose pools are health-checked, and the TCP targets its checks probe.

``checked`` is probed over TCP every 0.2 s (fall 2, rise 1) on two loopback addresses the test
serves and kills (``TcpTarget``); ``fed`` has a passive check (rise 2, fall 2) fed through the
API; ``plain`` has no check. Fast timings, so a dead target is withdrawn within about half a second.
"""

from __future__ import annotations

import shutil
import socket
import threading
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.conftest import EXAMPLE_ZONES

CHECKED = ("127.0.0.31", "127.0.0.32")
FED = ("127.0.0.41", "127.0.0.42")
PLAIN = "192.0.2.50"
ZONE = "gslb.example.test."

POOLS = """
[sites.local]
region = "loopback"

[checks.tcp]
type = "tcp"
port = {port}
interval = 0.2
timeout = 0.1
rise = 1
fall = 2
jitter = 0

[checks.fed]
type = "passive"
rise = 2
fall = 2

[pools.checked]
names = ["checked.gslb.example.test"]
health_check = "tcp"
answer_count = 2
all_down = "nodata"
members = [{{ site = "local", address = "{checked[0]}" }}, {{ site = "local", address = "{checked[1]}" }}]

[pools.fed]
names = ["fed.gslb.example.test"]
health_check = "fed"
answer_count = 2
members = [{{ site = "local", address = "{fed[0]}" }}, {{ site = "local", address = "{fed[1]}" }}]

[pools.plain]
names = ["plain.gslb.example.test"]
members = [{{ site = "local", address = "{plain}" }}]
"""


def checked_zones(directory: Path, port: int) -> Path:
    """``directory``/zones: the example zone, and the pools above with their TCP check on ``port``."""
    zones = directory / "zones"
    zones.mkdir()
    shutil.copy(EXAMPLE_ZONES / "gslb.example.test.zone", zones)
    (zones / "pools.toml").write_text(POOLS.format(port=port, checked=CHECKED, fed=FED, plain=PLAIN))
    return zones


class TcpTarget:
    """A TCP port that accepts (and closes) every connection until stopped; then connects are refused."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(64)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
            self._listener.close()
            self._listener = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            connection.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
