"""The worker's end of its control channel: what a worker of ``gslb serve --workers N`` hears from its
supervisor (settings, down sets, store moves, count requests) and tells it (ready, revisions, counts).

The supervisor's end is gslb/node/supervisor.py; the messages are gslb/node/control.py.
"""

from __future__ import annotations

import logging
import signal
import socket
from collections.abc import Callable

from gslb.api.metrics import DnsCounts
from gslb.config import Settings
from gslb.errors import ConfigError
from gslb.health.view import HealthView
from gslb.node import control
from gslb.node.control import ControlChannel

logger = logging.getLogger("gslb.node.link")


class WorkerLink:
    """A worker's end of its control channel: settings, down sets and count requests in, revisions
    and counts out, end-of-file when orphaned."""

    def __init__(self, index: int, channel: ControlChannel) -> None:
        self.index = index
        self.channel = channel
        self.down = HealthView()
        """What the health checks found, as of start-up (``receive_settings``)."""

    @classmethod
    def from_stdin(cls, index: int) -> WorkerLink:
        """The channel the supervisor gave as stdin; ConfigError if stdin is not one (run by hand)."""
        # Until the serving loop takes SIGHUP over, a reload passed on must not kill a starting
        # worker. SIGINT (Ctrl-C reaches the terminal's whole process group) is the supervisor's
        # to act on: it stops the workers itself, and a worker stopping on its own would race it.
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            sock = socket.socket(fileno=0)
        except OSError as exc:
            raise ConfigError(
                "--worker-index: for the workers of gslb serve --workers only (stdin is not their channel)"
            ) from exc
        return cls(index, ControlChannel(sock))

    def receive_settings(self) -> Settings:
        """The settings, and the down set that follows them (into ``down``): blocking, before the
        worker builds its first snapshot, so that it never answers with a member known dead."""
        try:
            settings = control.settings_of(self.channel.receive_now())
            self.down = control.down_of(self.channel.receive_now())
        except EOFError as exc:
            raise ConfigError(
                "--worker-index: the supervisor closed the channel before the settings"
            ) from exc
        except (ValueError, TypeError, KeyError) as exc:
            raise ConfigError(f"--worker-index: unreadable start-up message: {exc}") from exc
        return settings

    def tag_logs(self) -> None:
        """Every log line of this process says ``worker=I``."""
        for handler in logging.getLogger("gslb").handlers:
            handler.addFilter(_WorkerTag(self.index))

    def ready(self, revision: int) -> None:
        """Tell the supervisor this worker listens (and handles SIGHUP), answering from ``revision``."""
        self.channel.send(control.revision_message(control.READY, revision))

    def serving(self, revision: int) -> None:
        """Tell the supervisor this worker now answers from the snapshot of store ``revision``."""
        self.channel.send(control.revision_message(control.SERVING, revision))

    async def run(
        self,
        on_down: Callable[[HealthView], None],
        counts: Callable[[], DnsCounts],
        on_store: Callable[[], None] = lambda: None,
    ) -> None:
        """Hand every down set the supervisor relays to ``on_down``, answer each count request with
        ``counts()``, call ``on_store`` when the store moved; return when the supervisor is gone (its
        end of the channel closed, however it died).

        Both run on the worker's event loop, never in its UDP threads: the answer is queued and
        written by the channel's task, so a supervisor slow to read never holds this loop.
        """
        while (message := await self.channel.receive()) is not None:
            if message.get("kind") == control.COUNT:
                self.channel.send(control.counts_message(counts()))
                continue
            if message.get("kind") == control.STORE:
                on_store()
                continue
            try:
                down = control.down_of(message)
            except (ValueError, TypeError, KeyError) as exc:
                logger.error("unreadable message from the supervisor", extra={"error": str(exc)})
                continue
            on_down(down)
        logger.warning("supervisor gone; stopping")


class _WorkerTag(logging.Filter):
    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker = self.index
        return True
