"""The health monitor against real TCP and HTTP targets on loopback, with fast timings."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gslb.errors import HealthRefusedError, HealthUnavailableError
from gslb.health.monitor import HealthMonitor
from gslb.health.process import HealthProcess
from gslb.health.state import ProbeResult, State
from gslb.health.status import HealthState
from gslb.health.view import HealthView
from gslb.model import Check, CheckOverrides, CheckType, HealthOverride, Inventory, Member, Pool, Site
from gslb.store import open_store
from harness.process import free_port
from tests.integration import test_probes
from tests.integration.stores import patch_member
from tests.integration.test_probes import HttpTarget

# The self-signed HTTPS target of the probe tests, as fixtures of this module too.
certificate = test_probes.certificate
https_target = test_probes.https_target

UP, DOWN = "127.0.0.21", "127.0.0.22"
LOCAL = test_probes.LOOPBACK  # where the HTTPS target listens (its certificate names it)
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
def test_a_refused_member_is_withdrawn_at_once_and_restored_after_rise(kind: CheckType) -> None:
    async def scenario() -> None:
        port = free_port(UP)
        check = Check("c", kind, port=port, **FAST)  # type: ignore[arg-type]
        published: list[HealthView] = []
        monitor = HealthMonitor(published.append)
        async with listening(UP, port, http=kind is CheckType.HTTP):
            monitor.sync(inventory(check, Member("s", UP), Member("s", DOWN)))
            assert monitor.down() == frozenset()  # UNKNOWN counts as up: nothing withdrawn at start
            await until(lambda: monitor.down() == {("web", DOWN)})
            await until(lambda: monitor.health["web", UP].state is State.UP)  # DOWN may go first: refused
            assert monitor.health["web", DOWN].reason == "connect refused"
            assert monitor.view().unsettled == {"web"}  # a member down: the pool's TTL is the floor
            async with listening(DOWN, port, http=kind is CheckType.HTTP):
                await until(lambda: monitor.down() == frozenset())
                await until(lambda: monitor.view() == HealthView())  # settled again: the long TTL
        await monitor.stop()
        downs = [view.down for view in published]
        assert [down for i, down in enumerate(downs) if i == 0 or downs[i - 1] != down] == [
            frozenset(),  # UNKNOWN counts as up, but is not settled: the first view names the pool
            frozenset({("web", DOWN)}),
            frozenset(),
        ]
        assert all(a != b for a, b in itertools.pairwise(published))  # one per change

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
        monitor.sync(inventory(Check("fed", CheckType.PASSIVE, rise=2, fall=2), Member("s", UP)))
        assert not monitor._runs  # nothing probed
        failed = ProbeResult(False, "pushed: overloaded")
        assert monitor.push("web", UP, failed).state is HealthState.UNKNOWN  # one failure of fall 2
        assert monitor.down() == frozenset()
        status = monitor.push("web", UP, failed)
        assert (status.state, status.reason, status.in_answers) == (
            HealthState.DOWN,
            "pushed: overloaded",
            True,
        )
        assert monitor.down() == {("web", UP)}  # (in answers still: the pool fails open)
        assert monitor.push("web", UP, ProbeResult(True, "pushed: fine")).state is HealthState.DOWN  # rise 2
        assert monitor.push("web", UP, ProbeResult(True, "pushed: fine")).state is HealthState.UP
        assert monitor.down() == frozenset()
        await monitor.stop()

    asyncio.run(scenario())


def test_pushes_are_refused_for_unknown_members_and_checks_that_probe() -> None:
    async def scenario() -> None:
        monitor = HealthMonitor(lambda down: None)
        monitor.sync(inventory(Check("c", CheckType.TCP, port=free_port(UP), **FAST), Member("s", UP)))  # type: ignore[arg-type]
        failed = ProbeResult(False, "pushed")
        refusals = []
        for pool, address in (("nope", UP), ("web", "192.0.2.99"), ("web", UP)):
            with pytest.raises(HealthRefusedError) as refused:
                monitor.push(pool, address, failed)
            refusals.append((refused.value.kind, refused.value.field))
        assert refusals == [("not-found", "pool"), ("not-found", "address"), ("conflict", "check")]
        monitor.sync(inventory(None, Member("s", UP)))
        with pytest.raises(HealthRefusedError, match="has no check"):
            monitor.push("web", UP, failed)
        await monitor.stop()

    asyncio.run(scenario())


def test_a_report_shows_the_transition_the_last_result_and_the_latency() -> None:
    async def scenario() -> None:
        port = free_port(UP)
        check = Check("c", CheckType.TCP, port=port, **FAST)  # type: ignore[arg-type]
        monitor = HealthMonitor(lambda down: None)
        async with listening(UP, port):
            before = datetime.now(UTC)
            monitor.sync(inventory(check, Member("s", UP), Member("s", DOWN)), revision=7)
            await until(
                lambda: monitor.down() == {("web", DOWN)} and monitor.health["web", UP].state is State.UP
            )
            after = datetime.now(UTC)
            report = monitor.report()
        await monitor.stop()
        assert report.revision == 7
        (pool,) = report.pools
        up, down = pool.members
        assert (down.state, down.reason, down.effective_up, down.in_answers) == (
            HealthState.DOWN,
            "connect refused",
            False,
            False,
        )
        assert down.changed_at is not None and before <= down.changed_at <= after
        assert down.failures >= 1 and down.check == "c" and down.check_type is CheckType.TCP
        assert up.state is HealthState.UP and up.reason == "connected" and up.in_answers
        assert (
            up.last is not None
            and up.last.ok
            and up.last.latency_ms is not None
            and 0 < up.last.latency_ms < 50
        )
        assert (pool.in_answers, pool.all_down) == (1, False)
        (histogram,) = report.latency
        assert (histogram.pool, histogram.check_type) == ("web", CheckType.TCP)
        assert histogram.count >= up.successes + down.failures  # every probe of both members
        assert dict(histogram.cumulative())["0.05"] == histogram.count  # loopback: all under 50 ms
        assert monitor.report("web") == report
        with pytest.raises(HealthRefusedError):
            monitor.report("nope")

    asyncio.run(scenario())


def test_https_checks_through_the_monitor(https_target: HttpTarget) -> None:
    """The self-signed target: fine unverified, then 503; refused when verified."""

    async def scenario() -> None:
        loose = Check("loose", CheckType.HTTPS, port=https_target.port, verify_tls=False, **FAST)  # type: ignore[arg-type]
        strict = replace(loose, name="strict", verify_tls=True)
        pools = tuple(
            Pool(
                f"{c.name}",
                (f"{c.name}.gslb.example.test.",),
                health_check=c.name,
                members=(Member("s", LOCAL),),
            )
            for c in (loose, strict)
        )
        monitor = HealthMonitor(lambda down: None)
        monitor.sync(Inventory((Site("s"),), pools, (loose, strict)))
        await until(lambda: monitor.health["strict", LOCAL].state is State.DOWN)
        await until(lambda: monitor.health["loose", LOCAL].state is State.UP)
        assert monitor.health["loose", LOCAL].reason == "HTTP 200"
        assert monitor.health["strict", LOCAL].reason.startswith("TLS: certificate verify failed")
        https_target.behaviour.status = 503
        await until(lambda: monitor.health["loose", LOCAL].state is State.DOWN)
        status = monitor.report("loose").pools[0].members[0]
        assert (status.reason, status.check_type) == ("HTTP 503", CheckType.HTTPS)
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
        process = HealthProcess(url, "warning", lambda view: reports.append(view.down))
        async with listening(UP, port):
            process.start()
            await until(lambda: bool(reports) and reports[-1] == {("web", DOWN)}, seconds=10)
            assert all(down <= {("web", DOWN)} for down in reports)  # UP was never withdrawn
            with open_store(url) as store:
                patch_member(store, "web", UP, "test", override=HealthOverride.FORCE_DOWN)
            await until(lambda: reports[-1] == {("web", DOWN), ("web", UP)}, seconds=10)
        child = process._child
        await process.stop()
        assert child is not None and child.returncode == 0  # stopped by its closed stdin

    asyncio.run(scenario())


def fed_inventory(port: int) -> Inventory:
    """``web`` checked over TCP (UP listening, DOWN not), ``fed`` passive, ``plain`` unchecked."""
    probed = inventory(Check("c", CheckType.TCP, port=port, **FAST), Member("s", UP), Member("s", DOWN))  # type: ignore[arg-type]
    fed = Pool("fed", ("fed.gslb.example.test.",), health_check="fed", members=(Member("s", UP),))
    plain = Pool("plain", ("plain.gslb.example.test.",), members=(Member("s", UP),))
    return replace(
        probed, pools=(*probed.pools, fed, plain), checks=(*probed.checks, Check("fed", CheckType.PASSIVE))
    )


def test_the_health_process_answers_reports_and_pushes(tmp_path: Path) -> None:
    async def scenario() -> None:
        port = free_port(UP)
        url = f"sqlite:///{tmp_path / 'gslb.sqlite'}"
        with open_store(url) as store:
            store.apply_inventory(fed_inventory(port), "test")
        reports: list[frozenset[tuple[str, str]]] = []
        process = HealthProcess(url, "warning", lambda view: reports.append(view.down))
        async with listening(UP, port):
            process.start()
            await until(lambda: bool(reports) and reports[-1] == {("web", DOWN)}, seconds=10)
            for _ in range(100):  # a refusal takes DOWN down at once, maybe before UP's first check
                report = await process.report()
                web = report.pool("web")
                if web is not None and web.members[0].state is HealthState.UP:
                    break
                await asyncio.sleep(0.05)
            assert [p.pool for p in report.pools] == ["fed", "web"]  # plain has no check: left out
            web = report.pool("web")
            assert web is not None and [m.state for m in web.members] == [HealthState.UP, HealthState.DOWN]
            assert [h.pool for h in report.latency] == ["web"]  # probed pools only
            plain = (await process.report("plain")).pools[0]
            assert plain.members[0].state is HealthState.UNCHECKED

            await process.push("fed", UP, False, "overloaded")
            status = await process.push("fed", UP, False, "overloaded")
            assert (status.state, status.reason) == (HealthState.DOWN, "overloaded")
            await until(lambda: reports[-1] == {("web", DOWN), ("fed", UP)})

            with pytest.raises(HealthRefusedError) as refused:
                await process.push("web", UP, True, "fine")
            assert (refused.value.kind, refused.value.field) == ("conflict", "check")
            with pytest.raises(HealthRefusedError) as refused:
                await process.report("nope")
            assert (refused.value.kind, refused.value.field) == ("not-found", "pool")

            # Written a moment ago: the child catches up with the store before it answers.
            with open_store(url) as store:
                store.put_pool(Pool("new", ("new.gslb.example.test.",), members=(Member("s", DOWN),)), "test")
            assert (await process.report("new")).pools[0].members[0].address == DOWN
        await process.stop()

    asyncio.run(scenario())


def test_a_request_fails_cleanly_when_the_child_dies_or_stalls_and_works_after_its_restart(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        url = f"sqlite:///{tmp_path / 'gslb.sqlite'}"
        with open_store(url) as store:
            store.apply_inventory(fed_inventory(free_port(UP)), "test")
        process = HealthProcess(url, "error", lambda down: None)
        process.start()
        await until(lambda: process.pid is not None, seconds=10)
        first = process.pid
        assert first is not None
        await process.report()

        os.kill(first, signal.SIGSTOP)  # the request below is read by nobody...
        in_flight = asyncio.get_running_loop().create_task(process.report())
        await asyncio.sleep(0.2)
        assert not in_flight.done()
        started = asyncio.get_running_loop().time()
        os.kill(first, signal.SIGKILL)  # ...and its reader dies: it fails at once, not at the timeout
        with pytest.raises(HealthUnavailableError, match="died"):
            await in_flight
        assert asyncio.get_running_loop().time() - started < 1.0
        with pytest.raises(HealthUnavailableError, match="not running"):
            await process.report()  # while it is being restarted

        await until(lambda: process.pid not in (None, first), seconds=10)
        assert (await process.push("fed", UP, True, "fine")).state is HealthState.UP

        stalled = process.pid
        assert stalled is not None
        process.request_timeout = 0.3
        os.kill(stalled, signal.SIGSTOP)
        try:
            with pytest.raises(HealthUnavailableError, match=r"did not answer within 0\.3 s"):
                await process.report()
        finally:
            os.kill(stalled, signal.SIGCONT)
        process.request_timeout = 5.0
        assert (await process.report("fed")).pools[0].members[
            0
        ].state is HealthState.UP  # the late reply ignored
        assert process.pid == stalled
        await process.stop()

    asyncio.run(scenario())
