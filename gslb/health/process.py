"""The health monitor in a process of its own, so that probing never competes for the GIL.

Two thousand probes a second cost a Python process about 0.4 of a core; in the process that
answers they would share its interpreter lock and event loop with the UDP threads, cost a third
of its queries, and (worse) time out for lack of CPU and withdraw healthy members. So one process
per node (the lone serving process, or the supervisor of ``--workers N``) starts
``python -m gslb.health.process --db URL`` (``HealthProcess``), which follows the store's inventory
on its own and runs the ``HealthMonitor`` (gslb/health/child.py).

The two talk in JSON lines (gslb/health/protocol.py): the child sends the set of down members
whenever it changes, which the parent hands to ``on_down`` (its snapshot follower, or the
supervisor relaying it to every worker); the parent asks for reports and pushes passive results
(``report``, ``push``, for the admin API and the metrics). The child stops when its stdin closes,
so it never outlives its parent, and is restarted if it dies. A request never waits longer than
``request_timeout``: if the child dies or stalls meanwhile, it fails with HealthUnavailableError.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from gslb import log as logs
from gslb.errors import HealthUnavailableError
from gslb.health import child, protocol
from gslb.health.status import HealthReport, MemberStatus
from gslb.health.view import HealthView
from gslb.model import DEFAULT_TTL_BOUNDS, TtlBounds
from gslb.store import Store

logger = logging.getLogger("gslb.health")

RESTART_DELAY = 1.0
STOP_TIMEOUT = 5.0
REQUEST_TIMEOUT = 5.0
"""Seconds a report or push may take. A full report of 2,000 checked members costs about 60 ms to
build, send (0.8 MB) and read back; one pool's, a few milliseconds."""


class HealthProcess:
    """The parent's end: starts the child, turns its lines into ``on_down`` calls and replies,
    restarts it when it dies."""

    def __init__(
        self,
        db: str,
        log_level: str,
        on_down: Callable[[HealthView], None],
        *,
        request_timeout: float = REQUEST_TIMEOUT,
        ttl_bounds: TtlBounds = DEFAULT_TTL_BOUNDS,
    ) -> None:
        floor, ceiling = ttl_bounds
        self.command = [
            *(sys.executable, "-m", "gslb.health.process", "--db", db, "--log-level", log_level),
            *("--ttl-floor", str(floor), "--ttl-ceiling", str(ceiling)),
        ]
        self.on_down = on_down
        self.request_timeout = request_timeout
        self._child: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}

    @property
    def pid(self) -> int | None:
        """The running child's process id; None while there is none (starting, restarting)."""
        child = self._child
        return child.pid if child is not None and child.returncode is None else None

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
        self._fail_pending("the health monitor stopped")

    async def report(self, pool: str | None = None) -> HealthReport:
        """Every watched pool's health (or one pool's) and the latency histograms.

        HealthRefusedError (not-found) for an unknown pool; HealthUnavailableError if the child is
        not running or does not answer within ``request_timeout``.
        """
        reply = await self._request({"op": protocol.REPORT, "pool": pool})
        return HealthReport.from_document(reply["report"])

    async def push(self, pool: str, address: str, ok: bool, reason: str) -> MemberStatus:
        """A passive check's result for one member; its status after the result went through
        rise/fall. HealthRefusedError: no such member (not-found), or its check is not passive
        (conflict); HealthUnavailableError as for ``report``."""
        request = {"op": protocol.PUSH, "pool": pool, "address": address, "ok": ok, "reason": reason}
        reply = await self._request(request)
        return MemberStatus.from_document(reply["member"])

    async def _request(self, message: dict[str, Any]) -> dict[str, Any]:
        child = self._child
        if self._stopping or child is None or child.returncode is not None or child.stdin is None:
            raise HealthUnavailableError("the health monitor is not running (it is being restarted)")
        request_id = next(self._ids)
        reply = self._pending[request_id] = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(self.request_timeout):
                child.stdin.write(protocol.encode({"id": request_id, **message}))
                await child.stdin.drain()
                answer: dict[str, Any] = await reply
        except TimeoutError as exc:
            raise HealthUnavailableError(
                f"the health monitor did not answer within {self.request_timeout:g} s"
            ) from exc
        except ConnectionError as exc:  # it died as we wrote
            raise HealthUnavailableError("the health monitor died; it is being restarted") from exc
        finally:
            self._pending.pop(request_id, None)
        if "error" in answer:
            raise protocol.error_of(answer["error"])
        return answer

    async def _keep_running(self) -> None:
        while not self._stopping:
            self._child = await asyncio.create_subprocess_exec(
                *self.command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=protocol.MAX_LINE,
            )
            logger.info("health monitor started", extra={"pid": self._child.pid})
            assert self._child.stdout is not None
            try:
                async for line in self._child.stdout:
                    self._receive(line)
            except ValueError as exc:  # a line over MAX_LINE: the child is broken, start afresh
                logger.error("unreadable output from the health monitor", extra={"error": str(exc)})
                self._child.kill()
            status = await self._child.wait()
            self._fail_pending("the health monitor died; it is being restarted")
            if self._stopping:
                return
            # The last verdicts stay in force: a monitor crash must not withdraw or restore anything.
            logger.error("health monitor died; restarting it", extra={"status": status})
            await asyncio.sleep(RESTART_DELAY)

    def _receive(self, line: bytes) -> None:
        try:
            message = protocol.decode(line)
            if "down" in message:
                self.on_down(HealthView.of(message))
                return
            reply = self._pending.get(message["id"])
        except (ValueError, TypeError, KeyError) as exc:
            logger.error("unreadable line from the health monitor", extra={"error": str(exc)})
            return
        if reply is not None and not reply.done():  # else: its request timed out meanwhile
            reply.set_result(message)

    def _fail_pending(self, why: str) -> None:
        for reply in self._pending.values():
            if not reply.done():
                reply.set_exception(HealthUnavailableError(why))
        self._pending.clear()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gslb.health.process", description=__doc__)
    parser.add_argument("--db", required=True, help="the store's SQLAlchemy URL")
    parser.add_argument("--log-level", default="info")
    # The server's pool TTL bounds: the monitor reports how long caches hold an answer.
    parser.add_argument("--ttl-floor", type=int, default=DEFAULT_TTL_BOUNDS.floor)
    parser.add_argument("--ttl-ceiling", type=int, default=DEFAULT_TTL_BOUNDS.ceiling)
    args = parser.parse_args(argv)
    logs.configure(args.log_level)
    store = Store.open(args.db)
    try:
        asyncio.run(child.serve(store, TtlBounds(args.ttl_floor, args.ttl_ceiling)))
    except KeyboardInterrupt:
        pass
    finally:
        store.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
