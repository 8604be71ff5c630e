"""Keep the served snapshot in step with the store: poll its revision, rebuild, swap.

The store is the single source of truth; every writer (``gslb apply``, the admin API, health
checks) only bumps its revision. Polling one indexed row every ``interval`` is cheap on SQLite
and PostgreSQL alike and makes a committed change visible in answers within about one interval
plus the rebuild time, whichever process wrote it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable, Sequence

from gslb.dns.zonefile import LoadedZone
from gslb.errors import StoreError
from gslb.health.view import HealthView
from gslb.model import DEFAULT_TTL_BOUNDS, Inventory, TtlBounds
from gslb.runtime import gcpause
from gslb.snapshot import snapshot
from gslb.snapshot.pools import PoolCompiler
from gslb.store import Store
from gslb.store.feed import ChangeFeed, Changes

log = logging.getLogger("gslb.node.follower")

DEFAULT_INTERVAL = 0.025
DELTA = "store-delta"  # the reason logged for an incremental update
HEALTH = "health"  # ... and for one that only health checks asked for
DRAIN = "drain"  # ... and for one a drain deadline asked for


class SnapshotFollower:
    """Rebuilds the snapshot when the store revision moves or the zone files are reloaded."""

    def __init__(
        self,
        store: Store,
        zones: Sequence[LoadedZone],
        publish: Callable[[snapshot.Snapshot], None],
        interval: float = DEFAULT_INTERVAL,
        ttl_bounds: TtlBounds = DEFAULT_TTL_BOUNDS,
        *,
        listen: bool = True,
    ) -> None:
        self.store = store
        self.zones = list(zones)
        self.publish = publish
        self.interval = interval
        self.ttl_bounds = ttl_bounds
        self.current: snapshot.Snapshot | None = None
        self.health = HealthView()  # what the health monitor says
        self._store_failing = False
        self._feed = ChangeFeed(store, listen=listen)  # a worker's supervisor listens for it
        self._rebuild = asyncio.Lock()
        self._wake = asyncio.Event()
        self._compiler = PoolCompiler()

    def set_health(self, health: HealthView) -> None:
        """What the health monitor finds: served after one update, at once (it wakes the loop
        rather than waiting for the next poll)."""
        self.health = health
        self._wake.set()

    def wake(self) -> None:
        """Poll now: a writer in this process (the admin API) has just committed."""
        self._wake.set()

    def build_now(self) -> snapshot.Snapshot:
        """Load the store and build a snapshot synchronously (start-up)."""
        revision, inventory = self._feed.everything()
        built = self._build(inventory, revision)
        self._publish(built, "start")
        return built

    async def run(self) -> None:
        """Poll forever; store outages are logged once and the last snapshot keeps serving.

        After a rebuild the revision is checked again at once, so a write that landed while the
        previous one was being built waits for its own build only, not for another interval.
        Where the store announces writes (PostgreSQL), an announcement wakes the loop at once.
        """
        self._feed.wake_on_change(asyncio.get_running_loop(), self._wake)
        while True:
            if not await self.poll():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._sleep())

    def _sleep(self) -> float:
        """Until the next poll, or the next drain deadline if that comes first."""
        deadlines = self.current.deadlines if self.current is not None else {}
        if not deadlines:
            return self.interval
        return max(0.0, min(self.interval, min(deadlines.values()) - time.time()))

    async def poll(self) -> bool:
        """Rebuild if the store moved or health changed; True if it did."""
        self._wake.clear()
        try:
            revision = await self._revision()
        except StoreError as exc:
            if not self._store_failing:
                log.error("store unreachable; serving the last snapshot", extra={"error": str(exc)})
            self._store_failing = True
            return False
        if self._store_failing:
            log.info("store reachable again")
            self._store_failing = False
        if self.current is None or revision != self.current.revision:
            await self.rebuild("store")
            return True
        current = self.current
        if current.down != self.health.down or current.unsettled != self.health.unsettled:
            await self.rebuild(HEALTH)
            return True
        if current.deadlines and min(current.deadlines.values()) <= time.time():
            await self.rebuild(DRAIN)
            return True
        return False

    async def _revision(self) -> int:
        """The store's revision; without a query while the change feed says nothing was written."""
        if self.current is not None and self._feed.quiet():
            return self.current.revision
        return await asyncio.to_thread(self._feed.revision)

    async def reload_zones(self, zones: Sequence[LoadedZone]) -> None:
        self.zones = list(zones)
        self._compiler = PoolCompiler()  # compiled answers embed the old zones' SOA
        await self.rebuild("zones")

    async def rebuild(self, reason: str) -> None:
        async with self._rebuild:
            current = self.current
            try:
                changes = None
                if reason in ("store", HEALTH, DRAIN) and current is not None:
                    changes = await asyncio.to_thread(self._feed.changes, current.revision)
                    if changes.inventory is None and await self._update(current, changes):
                        return
                if changes is not None and changes.inventory is not None:
                    revision, inventory = changes.revision, changes.inventory
                else:
                    revision, inventory = await asyncio.to_thread(self._feed.everything)
            except StoreError as exc:
                log.error("store unreadable; serving the last snapshot", extra={"error": str(exc)})
                return
            built = await asyncio.to_thread(self._build, inventory, revision)
            self._publish(built, reason)

    async def _update(self, current: snapshot.Snapshot, changes: Changes) -> bool:
        """Apply only the pools the store changed since ``current``; False when a full rebuild is
        needed. With 100,000 pools a full rebuild takes seconds; one changed pool takes milliseconds.
        """
        pools = dict(changes.pools or {})
        health, now = self.health, time.time()
        due = any(deadline <= now for deadline in current.deadlines.values())
        unchanged = health.down == current.down and health.unsettled == current.unsettled
        if changes.revision == current.revision and unchanged and not due:
            return True
        updated = await asyncio.to_thread(
            snapshot.update,
            current,
            pools,
            changes.revision,
            health.down,
            ttl_bounds=self.ttl_bounds,
            compiler=self._compiler,
            unsettled=health.unsettled,
            now=now,
        )
        if updated is None:
            return False
        self._publish(updated, DELTA if pools else HEALTH)  # a drain's is a health-like update
        return True

    def _build(self, inventory: Inventory, revision: int) -> snapshot.Snapshot:
        with gcpause.paused():
            return snapshot.build(
                self.zones,
                inventory,
                revision,
                down=self.health.down,
                ttl_bounds=self.ttl_bounds,
                compiler=self._compiler,
                unsettled=self.health.unsettled,
            )

    def _publish(self, built: snapshot.Snapshot, reason: str) -> None:
        self.current = built
        self.publish(built)
        # A snapshot is large and long-lived; frozen, the collector stops walking it, so full
        # collections during the next rebuild stay short (they cost tens of milliseconds, a
        # third of the change-visibility budget). Old snapshots are still freed by refcount.
        # A full build ran with the collector paused: what cycles it left are collected first,
        # as frozen objects are never collected.
        if reason not in (DELTA, HEALTH):
            gc.collect()
        gc.freeze()
        log.info(
            "snapshot published",
            extra={
                "reason": reason,
                "revision": built.revision,
                "pools": len(built.inventory.pools),
                "build_ms": round(built.build_seconds * 1000, 1),
                "age_ms": round((time.time() - built.built_at) * 1000, 1),
            },
        )
