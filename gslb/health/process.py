"""The health monitor in a process of its own, so that probing never competes for the GIL.

Two thousand probes a second cost a Python process about 0.4 of a core; in the process that
answers they would share its interpreter lock and event loop with the UDP threads, cost a third
of its queries, and (worse) time out for lack of CPU and withdraw healthy members. So the
answering process starts ``python -m gslb.health.process --db URL`` (``HealthProcess``), which
follows the store's inventory on its own (a poll every half second), runs the ``HealthMonitor``,
and writes the set of down members as one JSON line whenever it changes. The answering process
reads those lines and hands each set to its snapshot follower; the child stops when its stdin
closes, so it never outlives its parent, and is restarted if it dies.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from gslb import log as logs
from gslb.errors import StoreError
from gslb.health.monitor import HealthMonitor, Key
from gslb.model import Inventory, Pool
from gslb.store import Store

logger = logging.getLogger("gslb.health")

POLL_INTERVAL = 0.5
RESTART_DELAY = 1.0
STOP_TIMEOUT = 5.0


class HealthProcess:
    """The parent's end: starts the child, turns its lines into ``on_down`` calls, restarts it."""

    def __init__(self, db: str, log_level: str, on_down: Callable[[frozenset[Key]], None]) -> None:
        self.command = [sys.executable, "-m", "gslb.health.process", "--db", db, "--log-level", log_level]
        self.on_down = on_down
        self._child: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._keep_running())

    async def stop(self) -> None:
        self._stopping = True
        child = self._child
        if child is not None and child.returncode is None:
            if child.stdin is not None:
                child.stdin.close()  # the child's signal to stop
            try:
                await asyncio.wait_for(child.wait(), STOP_TIMEOUT)
            except TimeoutError:
                child.kill()
                await child.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _keep_running(self) -> None:
        while not self._stopping:
            self._child = await asyncio.create_subprocess_exec(
                *self.command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
            )
            logger.info("health monitor started", extra={"pid": self._child.pid})
            assert self._child.stdout is not None
            async for line in self._child.stdout:
                try:
                    down = frozenset((pool, address) for pool, address in json.loads(line))
                except (ValueError, TypeError) as exc:
                    logger.error("unreadable line from the health monitor", extra={"error": str(exc)})
                    continue
                self.on_down(down)
            status = await self._child.wait()
            if self._stopping:
                return
            # The last verdicts stay in force: a monitor crash must not withdraw or restore anything.
            logger.error("health monitor died; restarting it", extra={"status": status})
            await asyncio.sleep(RESTART_DELAY)


async def follow(store: Store, monitor: HealthMonitor, stopping: asyncio.Event) -> None:
    """Keep the monitor on the store's inventory until ``stopping`` is set.

    Like the snapshot follower, it reads only the pools written since the last revision when it
    can: reading 100,000 pools after every drain would keep this process busy for seconds.
    """
    revision: int | None = None
    inventory: Inventory | None = None
    failing = False
    while not stopping.is_set():
        try:
            current = await asyncio.to_thread(store.revision)
            if current != revision:
                delta = None
                if inventory is not None and revision is not None:
                    delta = await asyncio.to_thread(store.delta, revision)
                if delta is None or inventory is None:
                    revision, loaded = await asyncio.to_thread(store.load)
                else:
                    revision, loaded = delta.revision, _with_pools(inventory, delta.pools)
                inventory = loaded
                monitor.sync(loaded)
            failing = False
        except StoreError as exc:
            if not failing:
                logger.error("store unreachable; checking the last inventory", extra={"error": str(exc)})
            failing = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), POLL_INTERVAL)


def _with_pools(inventory: Inventory, changed: Mapping[str, Pool | None]) -> Inventory:
    """``inventory`` with the changed pools replaced, added or (None) removed."""
    pools = {pool.name: pool for pool in inventory.pools}
    for name, pool in changed.items():
        if pool is None:
            pools.pop(name, None)
        else:
            pools[name] = pool
    return replace(inventory, pools=tuple(pools.values()))


async def _run(store: Store) -> None:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()

    def publish(down: frozenset[Key]) -> None:
        sys.stdout.write(json.dumps(sorted(down)) + "\n")
        sys.stdout.flush()

    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def until_parent_gone() -> None:
        while await reader.read(4096):
            pass
        stopping.set()

    watching = loop.create_task(until_parent_gone())
    monitor = HealthMonitor(publish)
    try:
        await follow(store, monitor, stopping)
    finally:
        watching.cancel()
        await monitor.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gslb.health.process", description=__doc__)
    parser.add_argument("--db", required=True, help="the store's SQLAlchemy URL")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logs.configure(args.log_level)
    store = Store.open(args.db)
    try:
        asyncio.run(_run(store))
    except KeyboardInterrupt:
        pass
    finally:
        store.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
