"""PostgreSQL's change notifications: a marker that moves when any node commits a write.

Every write transaction ends with ``pg_notify`` on the store's channel, which PostgreSQL delivers to
every listener when the transaction commits, and never when it rolls back. A listener keeps one
connection of its own in a thread, counts what arrives and calls the wake-ups registered with it,
so a node sees another node's write in about one round trip rather than at its next poll, and an
idle node asks for the revision only once per recheck (gslb/store/feed.py).

While its connection is down the marker is None, which sends readers to the revision query (and so
to the error that says what is wrong); each reconnect moves the marker, so readers catch up with
what they missed while it was away.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy.engine import URL

logger = logging.getLogger("gslb.store")

CHANNEL_PREFIX = "gslb_changes"
IDENTIFIER_LENGTH = 63  # PostgreSQL truncates longer identifiers, channel names included
RETRY_FIRST = 0.1  # seconds before the first reconnect; doubled up to RETRY_LAST
RETRY_LAST = 5.0
WAIT = 0.5  # seconds between checks for stop() while nothing arrives


def channel_of(schema: str) -> str:
    """The notification channel of the store in ``schema``: channels are per database, not per
    schema, and several stores may share a database (one schema each)."""
    return f"{CHANNEL_PREFIX}.{schema}"[:IDENTIFIER_LENGTH]


def conninfo(url: URL) -> str:
    """A libpq connection URI for the SQLAlchemy URL (its driver name dropped, options kept)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class ChangeListener:
    """LISTEN on the store's channel in a daemon thread; ``marker()`` counts what arrived."""

    def __init__(self, url: URL) -> None:
        self.url = url
        self._count = 0
        self._connected = False
        self._wakes: list[Callable[[], object]] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gslb-listen", daemon=True)
        self._started = False
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if not self._started:
                self._started = True
                self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stopping.set()
        if self._started:
            self._thread.join(timeout)

    def marker(self) -> int | None:
        """The number of notifications and reconnects so far; None while disconnected."""
        return self._count if self._connected else None

    def subscribe(self, wake: Callable[[], object]) -> None:
        """Call ``wake()`` (from the listener's thread) whenever the marker moves."""
        self._wakes.append(wake)
        self.start()

    def _moved(self) -> None:
        self._count += 1
        for wake in list(self._wakes):
            try:
                wake()
            except Exception:  # a wake-up of a stopped loop must not end the listener
                logger.exception("change wake-up failed")

    def _run(self) -> None:
        # Imported here: psycopg is the optional "postgres" extra, and only PostgreSQL stores listen.
        import psycopg  # noqa: PLC0415
        from psycopg import sql  # noqa: PLC0415

        delay = RETRY_FIRST
        failing = False
        while not self._stopping.is_set():
            try:
                with psycopg.connect(conninfo(self.url), autocommit=True, connect_timeout=5) as connection:
                    schema = connection.execute("SELECT current_schema()").fetchone()
                    channel = channel_of(str(schema[0]) if schema else "public")
                    connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    self._connected = True
                    if failing:
                        logger.info("store notifications back", extra={"channel": channel})
                    failing, delay = False, RETRY_FIRST
                    self._moved()  # what was written while we were away: readers ask once
                    while not self._stopping.is_set():
                        for _ in connection.notifies(timeout=WAIT):
                            self._moved()
            except psycopg.Error as exc:
                if not failing:
                    logger.warning(
                        "store notifications lost; polling the revision until they are back",
                        extra={"error": str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)},
                    )
                failing = True
            finally:
                self._connected = False
            self._stopping.wait(delay)
            delay = min(delay * 2, RETRY_LAST)
