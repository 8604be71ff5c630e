"""The control channel between the supervisor of ``--workers N`` and one worker: JSON lines both ways.

A worker's stdin is one end of a socket pair. Each message is one JSON object on one line, with a
``kind``::

    supervisor → worker
    {"kind": "settings", "settings": {...}}     first: what config.dumps wrote, so a worker
                                                restarted hours later serves what the others serve
    {"kind": "down", "down": [["www", "192.0.2.10"]], "unsettled": ["www"]}
                                                second (the current health, so a restarted worker
                                                never answers with a dead member), then on every
                                                change (gslb.health.view.HealthView)
    {"kind": "store", "revision": 13}           the store moved: read it now (the supervisor
                                                polls it for all workers, so they need not)
    {"kind": "count"}                           a scrape of /metrics wants its counts
    worker → supervisor
    {"kind": "ready", "revision": 12}           it listens (and handles SIGHUP), answering from
                                                the snapshot of that store revision
    {"kind": "serving", "revision": 13}         after every snapshot it publishes
    {"kind": "counts", "totals": {...}, "rebuilds": {...}, "built_at": 1700000000.5}
                                                the answer to a ``count``: everything it counted
                                                since it started (gslb.api.metrics.DnsCounts)

End of file tells either side that the other is gone, however it died. Sends are queued and
written by a task, so neither side's event loop ever blocks on a slow or stopped peer; a line
arriving in many chunks (a large inventory's counts are megabytes) is joined once, when its end
arrives, not rescanned with every chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections import deque
from typing import Any

from gslb import config
from gslb.api.metrics import DnsCounts
from gslb.config import Settings
from gslb.errors import ConfigError
from gslb.health.view import HealthView

logger = logging.getLogger("gslb.node.control")

SETTINGS = "settings"
DOWN = "down"
READY = "ready"
SERVING = "serving"
STORE = "store"
COUNT = "count"
COUNTS = "counts"


class ControlChannel:
    """One end of a control channel: messages in (``receive``), messages out (``send``)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._lines: deque[bytes] = deque()  # complete lines not yet read
        self._partial: list[bytes] = []  # the chunks of the line still arriving
        self._outbox: asyncio.Queue[bytes] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None

    def receive_now(self) -> dict[str, Any]:
        """The next message, blocking: for a worker's start-up, before its event loop runs.

        EOFError if the other side closed the channel first.
        """
        while True:
            while self._lines:
                message = self._take()
                if message is not None:
                    return message
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("the control channel closed")
            self._feed(chunk)

    async def receive(self) -> dict[str, Any] | None:
        """The next message; None once the other side is gone."""
        loop = asyncio.get_running_loop()
        self.sock.setblocking(False)
        while True:
            while self._lines:
                message = self._take()
                if message is not None:
                    return message
            try:
                chunk = await loop.sock_recv(self.sock, 65536)
            except OSError:
                return None
            if not chunk:
                return None
            self._feed(chunk)

    def send(self, message: dict[str, Any]) -> None:
        """Queue ``message``; a task writes it (in order) once the peer takes it. A peer that is
        gone drops it: its end of file says so to whoever reads."""
        self._outbox.put_nowait(json.dumps(message, separators=(",", ":")).encode() + b"\n")
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())

    def close(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
        self.sock.close()

    async def _write(self) -> None:
        loop = asyncio.get_running_loop()
        self.sock.setblocking(False)
        with contextlib.suppress(OSError):
            while True:
                await loop.sock_sendall(self.sock, await self._outbox.get())

    def _feed(self, chunk: bytes) -> None:
        *ended, rest = chunk.split(b"\n")
        if ended:
            self._partial.append(ended[0])
            ended[0] = b"".join(self._partial)
            self._partial = []
            self._lines.extend(ended)
        if rest:
            self._partial.append(rest)

    def _take(self) -> dict[str, Any] | None:
        line = self._lines.popleft()
        try:
            message = json.loads(line)
        except ValueError as exc:
            logger.error("unreadable control message", extra={"error": str(exc)})
            return None
        if not isinstance(message, dict):
            logger.error("unreadable control message", extra={"error": "not a JSON object"})
            return None
        return message


def settings_message(settings: Settings) -> dict[str, Any]:
    return {"kind": SETTINGS, "settings": json.loads(config.dumps(settings))}


def settings_of(message: dict[str, Any]) -> Settings:
    """The settings a ``settings`` message carries; ConfigError if it is not one."""
    if message.get("kind") != SETTINGS or not isinstance(message.get("settings"), dict):
        raise ConfigError(f"expected the settings from the supervisor, got {message.get('kind')!r}")
    return config.loads(json.dumps(message["settings"]))


def down_message(view: HealthView) -> dict[str, Any]:
    return {"kind": DOWN, **view.document()}


def down_of(message: dict[str, Any]) -> HealthView:
    """The health a ``down`` message carries; ValueError (TypeError, KeyError) if it is not one."""
    if message.get("kind") != DOWN:
        raise ValueError(f"expected the down set, got {message.get('kind')!r}")
    return HealthView.of(message)


def revision_message(kind: str, revision: int) -> dict[str, Any]:
    return {"kind": kind, "revision": revision}


def count_message() -> dict[str, Any]:
    return {"kind": COUNT}


def counts_message(counts: DnsCounts) -> dict[str, Any]:
    return {"kind": COUNTS, **counts.document()}


def counts_of(message: dict[str, Any]) -> DnsCounts:
    """The counts a ``counts`` message carries; ValueError (TypeError, KeyError) if it is not one."""
    if message.get("kind") != COUNTS:
        raise ValueError(f"expected counts, got {message.get('kind')!r}")
    return DnsCounts.from_document(message)
