"""The health process's own loop: follow the store, run the monitor, answer the parent's requests.

Runs in ``python -m gslb.health.process`` (see gslb/health/process.py for why a process of its own).
It follows the store's inventory (a poll every half second), runs the ``HealthMonitor``, writes
the down set whenever it changes, and answers report and push requests (gslb/health/protocol.py)
in the order they come. Before answering, it catches up with the store, so a pool or member the
API created a moment ago is known to it rather than a 404 for half a second. It stops when its
stdin closes, so it never outlives its parent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable, Mapping
from typing import Any

from gslb.errors import HealthRefusedError, StoreError
from gslb.health import protocol
from gslb.health.monitor import HealthMonitor
from gslb.health.state import ProbeResult
from gslb.model import DEFAULT_TTL_BOUNDS, Inventory, TtlBounds
from gslb.store import Store
from gslb.store.feed import ChangeFeed

logger = logging.getLogger("gslb.health")

POLL_INTERVAL = 0.5


class InventoryFollower:
    """Keeps the monitor on the store's inventory, reading only the pools written since the last
    revision when it can: reading 100,000 pools after every drain would keep this process busy for
    seconds."""

    def __init__(self, store: Store, monitor: HealthMonitor) -> None:
        self.store = store
        self.monitor = monitor
        self.revision: int | None = None
        self.inventory: Inventory | None = None
        self._feed = ChangeFeed(store)
        self._lock = asyncio.Lock()  # the poll and a request's catch-up must not interleave

    async def refresh(self) -> None:
        """Bring the monitor up to the store's revision now; StoreError if the store cannot say."""
        async with self._lock:
            current = await asyncio.to_thread(self._feed.revision)
            if current == self.revision:
                return
            if self.inventory is None or self.revision is None:
                revision, inventory = await asyncio.to_thread(self._feed.everything)
            else:
                changes = await asyncio.to_thread(self._feed.changes, self.revision)
                revision, inventory = changes.revision, changes.applied_to(self.inventory)
            self.revision, self.inventory = revision, inventory
            self.monitor.sync(inventory, revision)

    async def run(self, stopping: asyncio.Event) -> None:
        """Poll until ``stopping`` is set, asking the store only when its change feed says it may
        have moved; while the store is unreachable, check the last inventory.

        Not woken by the store's announcements: at every write the answering processes of every
        node wake, and probes can wait half a second for a new member, while answers cannot wait
        for the CPU a health process would take from them at that moment."""
        failing = False
        while not stopping.is_set():
            try:
                if failing or self.inventory is None or not self._feed.quiet():
                    await self.refresh()
                failing = False
            except StoreError as exc:
                if not failing:
                    logger.error("store unreachable; checking the last inventory", extra={"error": str(exc)})
                failing = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), POLL_INTERVAL)


async def answer(request: Mapping[str, Any], follower: InventoryFollower) -> dict[str, Any]:
    """The reply to one request; a refusal or a failure is a reply too, never an exception."""
    request_id = request.get("id")
    try:
        with contextlib.suppress(StoreError):  # unreachable: answer from the last inventory
            await follower.refresh()
        monitor = follower.monitor
        op = request.get("op")
        if op == protocol.REPORT:
            pool = request.get("pool")
            return {
                "id": request_id,
                "report": monitor.report(None if pool is None else str(pool)).document(),
            }
        if op == protocol.PUSH:
            result = ProbeResult(bool(request["ok"]), str(request["reason"]))
            status = monitor.push(str(request["pool"]), str(request["address"]), result)
            return {"id": request_id, "member": status.document()}
        raise ValueError(f"unknown request {op!r}")
    except Exception as exc:  # the parent must get an answer whatever went wrong
        if not isinstance(exc, HealthRefusedError):
            logger.exception("health request failed", extra={"op": str(request.get("op"))})
        return protocol.error_reply(request_id, exc)


async def serve(store: Store, ttl_bounds: TtlBounds = DEFAULT_TTL_BOUNDS) -> None:
    """The child's life: until its stdin closes."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    out = sys.stdout.buffer

    def send(message: dict[str, Any]) -> None:
        # Blocking: the parent reads at once, and a partial line must never interleave with another.
        out.write(protocol.encode(message))
        out.flush()

    reader = asyncio.StreamReader(limit=protocol.MAX_LINE)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    monitor = HealthMonitor(lambda view: send(view.document()), ttl_bounds=ttl_bounds)
    follower = InventoryFollower(store, monitor)
    handling = loop.create_task(_requests(reader, follower, send, stopping))
    try:
        await follower.run(stopping)
    finally:
        handling.cancel()
        await monitor.stop()


async def _requests(
    reader: asyncio.StreamReader,
    follower: InventoryFollower,
    send: Callable[[dict[str, Any]], None],
    stopping: asyncio.Event,
) -> None:
    try:
        while line := await reader.readline():
            try:
                request = protocol.decode(line)
            except ValueError as exc:
                logger.error("unreadable request from the parent", extra={"error": str(exc)})
                continue
            send(await answer(request, follower))
    finally:
        stopping.set()  # end of file: the parent is gone or stopping us
