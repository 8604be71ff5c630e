"""The supervisor-worker control channel over a real socket pair: messages both ways, in order."""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import replace

import pytest

from gslb.answer.counters import Totals
from gslb.api.metrics import DnsCounts
from gslb.config import Settings
from gslb.errors import ConfigError
from gslb.health.view import HealthView
from gslb.node import control
from gslb.node.control import ControlChannel
from gslb.node.link import WorkerLink

DEAD_WWW = HealthView(frozenset({("www", "192.0.2.10")}), frozenset({"www"}))


def test_a_worker_reads_its_settings_and_the_down_set_before_its_loop_runs() -> None:
    settings = replace(Settings(), workers=3, log_level="debug")
    supervisor_end, worker_end = socket.socketpair()

    async def send() -> None:
        channel = ControlChannel(supervisor_end)
        channel.send(control.settings_message(settings))
        channel.send(control.down_message(DEAD_WWW))
        channel.send(control.down_message(HealthView()))
        await asyncio.sleep(0.05)  # the writer task writes them

    asyncio.run(send())
    worker = ControlChannel(worker_end)
    assert control.settings_of(worker.receive_now()) == settings  # blocking: no loop yet
    assert control.down_of(worker.receive_now()) == HealthView(
        frozenset({("www", "192.0.2.10")}), frozenset({"www"})
    )

    async def rest() -> list[dict[str, object] | None]:
        later = await worker.receive()  # what the blocking reads buffered is not lost
        supervisor_end.close()
        return [later, await worker.receive()]

    later, gone = asyncio.run(rest())
    assert later is not None and control.down_of(later) == HealthView()
    assert gone is None  # end of file: the supervisor is gone
    worker_end.close()


def test_unreadable_lines_are_skipped_and_partial_lines_wait_for_their_end() -> None:
    ours, theirs = socket.socketpair()

    async def scenario() -> list[dict[str, object] | None]:
        channel = ControlChannel(ours)
        theirs.sendall(b'not json\n[1, 2]\n{"kind": "serv')
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, theirs.sendall, b'ing", "revision": 7}\n')
        loop.call_later(0.1, theirs.close)
        return [await channel.receive(), await channel.receive()]

    assert asyncio.run(scenario()) == [{"kind": "serving", "revision": 7}, None]
    ours.close()


def test_a_start_up_message_out_of_order_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="expected the settings"):
        control.settings_of(control.down_message(HealthView()))
    with pytest.raises(ValueError, match="expected the down set"):
        control.down_of(control.revision_message(control.READY, 1))


def test_a_worker_answers_each_count_request_with_its_counts_and_takes_down_sets_between() -> None:
    """WorkerLink.run over a real socket pair: answers in order, written by the channel's task; a
    "store moved" message wakes its follower."""
    supervisor_end, worker_end = socket.socketpair()
    labels = ("NOERROR", "A", "www")
    answered = [0]
    downs: list[HealthView] = []
    woken: list[bool] = []

    def counts() -> DnsCounts:
        answered[0] += 1
        return DnsCounts(Totals({labels: answered[0]}), built_at=1.5)

    async def scenario() -> list[DnsCounts]:
        link = WorkerLink(0, ControlChannel(worker_end))
        running = asyncio.get_running_loop().create_task(
            link.run(downs.append, counts, lambda: woken.append(True))
        )
        supervisor = ControlChannel(supervisor_end)
        supervisor.send(control.count_message())
        supervisor.send(control.down_message(DEAD_WWW))
        supervisor.send(control.revision_message(control.STORE, 13))
        supervisor.send(control.count_message())
        got = []
        for _ in range(2):
            message = await supervisor.receive()
            assert message is not None
            got.append(control.counts_of(message))
        supervisor.close()
        await asyncio.wait_for(running, 5)  # end of file: the supervisor is gone
        return got

    first, second = asyncio.run(scenario())
    assert (first.totals.queries, second.totals.queries) == ({labels: 1}, {labels: 2})
    assert first.built_at == 1.5
    assert downs == [DEAD_WWW]
    assert woken == [True]
    worker_end.close()


def test_a_line_of_megabytes_arrives_in_many_chunks_and_is_read_whole() -> None:
    """A large inventory's counts: read in linear time, however many chunks the socket hands over."""
    ours, theirs = socket.socketpair()
    answers = {("www", f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"): i for i in range(100_000)}
    message = control.counts_message(DnsCounts(Totals({}, answers)))

    async def scenario() -> tuple[dict[str, object] | None, dict[str, object] | None, float]:
        sender, receiver = ControlChannel(theirs), ControlChannel(ours)
        sender.send(message)
        sender.send(control.count_message())
        started = time.perf_counter()
        big = await receiver.receive()
        took = time.perf_counter() - started
        return big, await receiver.receive(), took

    big, small, took = asyncio.run(scenario())
    assert big is not None and control.counts_of(big).totals.answers == answers
    assert small == control.count_message()
    assert took < 2.0, took  # 3 MB: about 0.07 s here
    ours.close()
    theirs.close()


def test_counts_must_be_counts() -> None:
    with pytest.raises(ValueError, match="expected counts"):
        control.counts_of(control.revision_message(control.SERVING, 3))
    with pytest.raises(KeyError):
        control.counts_of({"kind": control.COUNTS, "totals": {"queries": [], "answers": []}})
