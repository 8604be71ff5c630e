"""The supervisor-worker control channel over a real socket pair: messages both ways, in order."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace

import pytest

from gslb import control
from gslb.config import Settings
from gslb.control import ControlChannel
from gslb.errors import ConfigError


def test_a_worker_reads_its_settings_and_the_down_set_before_its_loop_runs() -> None:
    settings = replace(Settings(), workers=3, log_level="debug")
    supervisor_end, worker_end = socket.socketpair()

    async def send() -> None:
        channel = ControlChannel(supervisor_end)
        channel.send(control.settings_message(settings))
        channel.send(control.down_message({("www", "192.0.2.10")}))
        channel.send(control.down_message(set()))
        await asyncio.sleep(0.05)  # the writer task writes them

    asyncio.run(send())
    worker = ControlChannel(worker_end)
    assert control.settings_of(worker.receive_now()) == settings  # blocking: no loop yet
    assert control.down_of(worker.receive_now()) == {("www", "192.0.2.10")}

    async def rest() -> list[dict[str, object] | None]:
        later = await worker.receive()  # what the blocking reads buffered is not lost
        supervisor_end.close()
        return [later, await worker.receive()]

    later, gone = asyncio.run(rest())
    assert later is not None and control.down_of(later) == frozenset()
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
        control.settings_of(control.down_message(set()))
    with pytest.raises(ValueError, match="expected the down set"):
        control.down_of(control.revision_message(control.READY, 1))
