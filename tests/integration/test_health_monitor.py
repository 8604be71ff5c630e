"""The health monitor against real TCP and HTTP targets on loopback, with fast timings."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from gslb.health.monitor import HealthMonitor
from gslb.health.process import HealthProcess
from gslb.health.state import ProbeResult, State
from gslb.model import Check, CheckOverrides, CheckType, HealthOverride, Inventory, Member, Pool, Site
from gslb.store import open_store
from tests.servers.process import free_port

UP, DOWN = "127.0.0.21", "127.0.0.22"
FAST = {"interval": 0.1, "timeout": 0.05, "rise": 2, "fall": 2, "jitter": 0.0}


def inventory(check: Check | None, *members: Member) -> Inventory:
    pool = Pool(
        "web", ("web.gslb.example.test.",), health_check=check.name if check else None, members=members
    )
    return Inventory((Site("s"),), (pool,), (check,) if check else ())


@contextlib.asynccontextmanager
async def listening(host: str, port: int, http: bool = False) -> AsyncIterator[None]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if http:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, host, port)
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()


async def until(condition: object, seconds: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("kind", [CheckType.TCP, CheckType.HTTP])
def test_a_dead_member_is_withdrawn_after_fall_failures_and_restored_after_rise(kind: CheckType) -> None:
    async def scenario() -> None:
        port = free_port(UP)
        check = Check("c", kind, port=port, **FAST)  # type: ignore[arg-type]
        published: list[frozenset[tuple[str, str]]] = []
        monitor = HealthMonitor(published.append)
        async with listening(UP, port, http=kind is CheckType.HTTP):
            monitor.sync(inventory(check, Member("s", UP), Member("s", DOWN)))
            assert monitor.down() == frozenset()  # UNKNOWN counts as up: nothing withdrawn at start
            await until(lambda: monitor.down() == {("web", DOWN)})
            assert monitor.health["web", UP].state is State.UP
            assert monitor.health["web", DOWN].reason == "connect refused"
            async with listening(DOWN, port, http=kind is CheckType.HTTP):
                await until(lambda: monitor.down() == frozenset())
        await monitor.stop()
        assert published == [frozenset({("web", DOWN)}), frozenset()]  # one publication per change

    asyncio.run(scenario())


def test_overrides_beat_the_checks_and_need_none() -> None:
    async def scenario() -> None:
        port = free_port(UP)
        check = Check("c", CheckType.TCP, port=port, **FAST)  # type: ignore[arg-type]
        monitor = HealthMonitor(lambda down: None)
        forced = inventory(None, Member("s", UP, override=HealthOverride.FORCE_DOWN), Member("s", DOWN))
        monitor.sync(forced)
        assert monitor.down() == {("web", UP)}  # at once: no check, no wait
        monitor.sync(inventory(check, Member("s", DOWN, override=HealthOverride.FORCE_UP)))
        await asyncio.sleep(FAST["interval"] * 4)
        assert monitor.health["web", DOWN].state is State.DOWN  # the checks still say so...
        assert monitor.down() == frozenset()  # ...but the operator said up
        await monitor.stop()

    asyncio.run(scenario())


def test_passive_checks_take_pushed_results_through_the_same_rules() -> None:
    async def scenario() -> None:
        monitor = HealthMonitor(lambda down: None)
        monitor.sync(inventory(Check("fed", CheckType.PASSIVE, rise=1, fall=2), Member("s", UP)))
        assert not monitor._tasks  # nothing probed
        failed = ProbeResult(False, "pushed: overloaded")
        assert monitor.push("web", UP, failed)
        assert monitor.down() == frozenset()  # one failure of fall 2
        monitor.push("web", UP, failed)
        assert monitor.down() == {("web", UP)}
        monitor.push("web", UP, ProbeResult(True, "pushed: fine"))
        assert monitor.down() == frozenset()
        assert not monitor.push("web", "192.0.2.99", failed)  # not a member
        await monitor.stop()

    asyncio.run(scenario())


def test_a_changed_check_starts_over_and_a_timing_change_keeps_the_state() -> None:
    async def scenario() -> None:
        port = free_port(UP)
        check = Check("c", CheckType.TCP, port=port, **FAST)  # type: ignore[arg-type]
        monitor = HealthMonitor(lambda down: None)
        monitor.sync(inventory(check, Member("s", DOWN)))
        await until(lambda: monitor.down() == {("web", DOWN)})
        slower = replace(check, interval=0.2)
        monitor.sync(inventory(slower, Member("s", DOWN)))
        assert monitor.down() == {("web", DOWN)}  # same probe, new pace: still down
        monitor.sync(inventory(replace(slower, port=free_port(UP)), Member("s", DOWN)))
        assert monitor.down() == frozenset()  # another target: UNKNOWN again, which counts as up
        member = Member("s", DOWN, check_overrides=CheckOverrides(port=port))
        monitor.sync(inventory(slower, member))
        assert monitor.targets["web", DOWN].check == replace(slower, port=port)  # the member's port wins
        monitor.sync(inventory(None))
        assert monitor.targets == {} and monitor.down() == frozenset()
        await monitor.stop()

    asyncio.run(scenario())


def test_the_health_process_follows_the_store_and_reports_each_change(tmp_path: Path) -> None:
    """The child process the server runs: reads checks from the store, writes the down set as lines."""

    async def scenario() -> None:
        port = free_port(UP)
        url = f"sqlite:///{tmp_path / 'gslb.sqlite'}"
        check = Check("c", CheckType.TCP, port=port, **FAST)  # type: ignore[arg-type]
        with open_store(url) as store:
            store.apply_inventory(inventory(check, Member("s", UP), Member("s", DOWN)), "test")
        reports: list[frozenset[tuple[str, str]]] = []
        process = HealthProcess(url, "warning", reports.append)
        async with listening(UP, port):
            process.start()
            await until(lambda: reports == [frozenset({("web", DOWN)})], seconds=10)
            with open_store(url) as store:
                store.patch_member("web", UP, "test", override=HealthOverride.FORCE_DOWN)
            await until(lambda: reports[-1] == {("web", DOWN), ("web", UP)}, seconds=10)
        child = process._child
        await process.stop()
        assert child is not None and child.returncode == 0  # stopped by its closed stdin

    asyncio.run(scenario())
