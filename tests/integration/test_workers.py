"""``gslb serve --workers 2``: a supervisor and two worker processes sharing each listener (SO_REUSEPORT).

Which worker answers a client is the kernel's choice, by a hash of the client's address and port, so
the tests ask from many source ports at once. To see that both workers take a share, one worker is
stopped (SIGSTOP): the queries the kernel gives it wait in its socket, unanswered, until it continues.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import selectors
import shutil
import signal
import socket
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import pytest
from sqlalchemy import text

from gslb.answer.counters import Totals
from gslb.api.metrics import DnsCounts
from gslb.api.observe import Check
from gslb.config import Settings
from gslb.health.view import HealthView
from gslb.model import AdminState
from gslb.node import control
from gslb.node.supervisor import Backoff, Supervisor, WorkerStartError
from gslb.store import Store
from gslb.store.listen import channel_of
from harness.process import HOST, ServerStartError, child_processes, running
from tests.conftest import EXAMPLE_ZONES
from tests.integration.checked_pools import CHECKED, TcpTarget, checked_zones
from tests.integration.conftest import ApiTokens
from tests.integration.server import GslbProcess, free_port
from tests.integration.stores import patch_member, postgres_schema
from tests.integration.waiting import wait_for

ZONE_FILE = "gslb.example.test.zone"
WWW = "www.gslb.example.test."
WWW_V4 = {"192.0.2.10", "198.51.100.10", "203.0.113.10"}  # zones/pools.toml, two per answer
CLIENTS = 64  # source ports per round: P(the kernel gives them all to one of two workers) = 2**-63
ACTOR = "test_workers"


@dataclass(frozen=True)
class Node:
    """A ``--workers 2`` server on a zone directory and store of its own, which the tests change."""

    server: GslbProcess
    zones: Path
    url: str


def workers(server: GslbProcess) -> dict[int, int]:
    """Worker index → PID, from the command lines of the server's running child processes."""
    found: dict[int, int] = {}
    for pid in child_processes(server.pid):
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--worker-index" in args:
            found[int(args[args.index(b"--worker-index") + 1])] = pid
    return found


def log_lines(server: GslbProcess, event: str, worker: int) -> list[str]:
    return [
        line for line in server.log.splitlines() if f"event={event} " in line and f"worker={worker}" in line
    ]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    directory = tmp_path_factory.mktemp("workers")
    zones = directory / "zones"
    zones.mkdir()
    for name in (ZONE_FILE, "pools.toml"):
        shutil.copy(EXAMPLE_ZONES / name, zones / name)
    url = f"sqlite:///{directory / 'gslb.sqlite'}"
    with GslbProcess(zones, extra_args=["--workers", "2", "--db", url]) as server:
        assert wait_for(lambda: "workers ready" in server.log), server.log
        yield Node(server, zones, url)


# --- asking from many source ports --------------------------------------------------------------------


@contextmanager
def clients(count: int = CLIENTS) -> Iterator[list[socket.socket]]:
    """``count`` UDP sockets on loopback, each on a port of its own."""
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)) for _ in range(count)]
        for sock in socks:
            sock.bind((HOST, 0))
        yield socks


def send(
    socks: list[socket.socket], server: GslbProcess, qname: str
) -> dict[socket.socket, dns.message.Message]:
    queries: dict[socket.socket, dns.message.Message] = {}
    for sock in socks:
        query = queries[sock] = dns.message.make_query(qname, "A")
        sock.sendto(query.to_wire(), (server.host, server.port))
    return queries


def receive(
    queries: dict[socket.socket, dns.message.Message], timeout: float
) -> dict[socket.socket, dns.message.Message]:
    """The responses that arrive within ``timeout``, by the socket that asked; each matches its query."""
    responses: dict[socket.socket, dns.message.Message] = {}
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        for sock in queries:
            selector.register(sock, selectors.EVENT_READ)
        while len(responses) < len(queries) and (left := deadline - time.monotonic()) > 0:
            for key, _ in selector.select(left):
                answering = key.fileobj
                assert isinstance(answering, socket.socket)
                response = dns.message.from_wire(answering.recv(65535))
                assert queries[answering].is_response(response)
                responses[answering] = response
                selector.unregister(answering)
    return responses


def addresses(response: dns.message.Message) -> set[str]:
    return {rdata.to_text() for rrset in response.answer for rdata in rrset}


def ask_many(server: GslbProcess, qname: str, rounds: int = 1) -> list[dns.message.Message]:
    """Ask ``qname`` from CLIENTS source ports at once, ``rounds`` times; every query must be answered."""
    answers: list[dns.message.Message] = []
    with clients() as socks:
        for _ in range(rounds):
            queries = send(socks, server, qname)
            responses = receive(queries, timeout=3.0)
            lost = len(queries) - len(responses)
            assert not lost, f"{lost} of {len(queries)} queries for {qname} were not answered"
            answers += responses.values()
    return answers


def answered_by_www(response: dns.message.Message, members: set[str] = WWW_V4) -> bool:
    return (
        response.rcode() == dns.rcode.NOERROR
        and bool(response.flags & dns.flags.AA)
        and len(addresses(response)) == 2
        and addresses(response) <= members
    )


def shares(server: GslbProcess, stopped: int) -> tuple[int, int]:
    """(answered while worker PID ``stopped`` is stopped, answered only once it continues) of CLIENTS.

    Every query must be answered in the end: those the kernel gave the stopped worker wait in its socket.
    """
    with clients() as socks:
        os.kill(stopped, signal.SIGSTOP)
        try:
            assert wait_for(
                lambda: Path(f"/proc/{stopped}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"
            )
            queries = send(socks, server, WWW)
            meanwhile = receive(queries, timeout=0.3)
        finally:
            os.kill(stopped, signal.SIGCONT)
        later = receive({s: q for s, q in queries.items() if s not in meanwhile}, timeout=3.0)
    assert len(meanwhile) + len(later) == len(queries), "queries were lost"
    assert all(answered_by_www(r) for r in [*meanwhile.values(), *later.values()])
    return len(meanwhile), len(later)


# --- a running node -----------------------------------------------------------------------------------


def test_two_worker_processes_answer_clients_on_many_ports(node: Node) -> None:
    pids = workers(node.server)
    assert sorted(pids) == [0, 1]
    for index, pid in pids.items():
        assert f'event="worker started" worker={index} pid={pid}' in node.server.log
    answers = ask_many(node.server, WWW, rounds=8)
    wrong = [a for a in answers if not answered_by_www(a)]
    assert not wrong, wrong[0].to_text()


def test_the_kernel_spreads_clients_across_both_workers(node: Node) -> None:
    pids = workers(node.server)
    for index in (0, 1):
        meanwhile, later = shares(node.server, stopped=pids[index])
        # Some clients went to the stopped worker (answered only once it continued), some to the other.
        assert 0 < meanwhile < CLIENTS and later == CLIENTS - meanwhile, (index, meanwhile, later)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs a CPU per worker for the contrast")
def test_workers_with_a_cpu_each_keep_the_default_scheduling(node: Node) -> None:
    for pid in workers(node.server).values():
        assert os.sched_getscheduler(pid) == os.SCHED_OTHER


def test_workers_that_share_a_cpu_are_scheduled_as_batch_tasks(all_zones: Path) -> None:
    """Pinned to one CPU (as bench/dnsperf_example.py runs gslb-w2), two workers would preempt each other
    for every datagram; as batch tasks they take turns (gslb/node/supervisor.py share_cpus_politely)."""
    cpu = min(os.sched_getaffinity(0))
    taskset = shutil.which("taskset")
    assert taskset is not None, "taskset (util-linux) is needed"
    with GslbProcess(all_zones, extra_args=["--workers", "2"], prefix=(taskset, "-c", str(cpu))) as server:
        assert wait_for(lambda: "workers ready" in server.log), server.log
        pids = workers(server)
        assert sorted(pids) == [0, 1]
        assert all(os.sched_getscheduler(pid) == os.SCHED_BATCH for pid in pids.values())
        assert "workers outnumber CPUs: batch scheduling" in server.log
        answers = ask_many(server, WWW, rounds=2)
        assert all(answered_by_www(a) for a in answers)


def test_a_store_change_reaches_every_worker(node: Node) -> None:
    """Fast, though workers poll the store only once a second: the supervisor polls for them all
    and tells them when it moved."""
    drained = "192.0.2.10"  # disabled, which withdraws at once (a drain waits for caches to forget)
    with Store.open(node.url) as store:
        patch_member(store, "www", drained, ACTOR, state=AdminState.DISABLED)
        revision = store.revision()
        try:
            assert wait_for(
                lambda: all(answered_by_www(a, WWW_V4 - {drained}) for a in ask_many(node.server, WWW)),
                timeout=0.5,
            )
            for index in (0, 1):
                published = log_lines(node.server, '"snapshot published"', index)
                assert any(f"revision={revision} " in line for line in published), node.server.log
        finally:
            patch_member(store, "www", drained, ACTOR, state=AdminState.ENABLED)
    assert wait_for(lambda: any(drained in addresses(a) for a in ask_many(node.server, WWW)))


def test_on_postgresql_the_supervisor_listens_and_every_worker_follows(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The store announces the write; the supervisor, not each worker, listens and relays it, so the
    node holds the listening connections of its supervisor and health process only."""
    zones = tmp_path_factory.mktemp("workers-pg") / "zones"
    zones.mkdir()
    for name in (ZONE_FILE, "pools.toml"):
        shutil.copy(EXAMPLE_ZONES / name, zones / name)
    drained = "192.0.2.10"
    with postgres_schema() as url, GslbProcess(zones, extra_args=["--workers", "2", "--db", url]) as server:
        assert wait_for(lambda: "workers ready" in server.log), server.log
        with Store.open(url) as store:
            patch_member(store, "www", drained, ACTOR, state=AdminState.DISABLED)
            assert wait_for(
                lambda: all(answered_by_www(a, WWW_V4 - {drained}) for a in ask_many(server, WWW)),
                timeout=0.5,
            )
            with store.engine.connect() as connection:
                channel = channel_of(connection.execute(text("SELECT current_schema()")).scalar_one())
                listening = connection.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE query = :listen"),
                    {"listen": f'LISTEN "{channel}"'},
                ).scalar_one()
            assert listening == 2  # the supervisor's and the health process's; no worker's


def test_sighup_reloads_the_zones_in_every_worker(node: Node) -> None:
    zone = node.zones / ZONE_FILE
    original = zone.read_text()
    reloads = [len(log_lines(node.server, '"zone loaded"', index)) for index in (0, 1)]
    zone.write_text(original + "hup IN A 192.0.2.99\n")
    try:
        os.kill(node.server.pid, signal.SIGHUP)
        assert wait_for(
            lambda: all(
                addresses(a) == {"192.0.2.99"} for a in ask_many(node.server, "hup.gslb.example.test.")
            )
        )
        for index in (0, 1):
            assert len(log_lines(node.server, '"zone loaded"', index)) > reloads[index], node.server.log
    finally:
        zone.write_text(original)


def test_a_killed_worker_is_restarted_and_the_other_answers_meanwhile(node: Node) -> None:
    before = workers(node.server)
    started = child_processes(node.server.pid)[before[1]]
    os.kill(before[1], signal.SIGKILL)
    # Once the supervisor has seen it die, its sockets are gone. (The queries the kernel had queued on them
    # until then are lost, as on any server that dies: clients ask again.)
    died = f'event="worker died; restarting it" worker=1 pid={before[1]} status=SIGKILL'
    assert wait_for(lambda: died in node.server.log)
    assert not running(before[1], started)
    assert all(answered_by_www(a) for a in ask_many(node.server, WWW, rounds=4))

    assert wait_for(lambda: len(log_lines(node.server, "ready", 1)) == 2)
    after = workers(node.server)
    assert sorted(after) == [0, 1] and after[0] == before[0] and after[1] != before[1]
    assert f'event="worker started" worker=1 pid={after[1]}' in node.server.log
    meanwhile, _ = shares(node.server, stopped=after[1])
    assert 0 < meanwhile < CLIENTS, "the restarted worker takes no share of the clients"


# --- starting and stopping ----------------------------------------------------------------------------


def test_sigterm_stops_every_worker(all_zones: Path) -> None:
    with GslbProcess(all_zones, extra_args=["--workers", "2"]) as server:
        assert wait_for(lambda: "workers ready" in server.log), server.log
        children = child_processes(server.pid)
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=10) == 0
        # At once: the supervisor waited for its workers before it exited.
        assert not [pid for pid, start in children.items() if running(pid, start)]
        log = server.stop()
    assert "event=stopping worker=0" in log and "event=stopping worker=1" in log, log
    assert 'event="workers stopped" workers=2' in log, log


def test_workers_do_not_outlive_a_killed_supervisor(all_zones: Path) -> None:
    with GslbProcess(all_zones, extra_args=["--workers", "2"]) as server:
        assert wait_for(lambda: "workers ready" in server.log), server.log
        children = child_processes(server.pid)
        assert server.process is not None
        server.process.kill()
        server.process.wait()
        assert wait_for(lambda: not any(running(pid, start) for pid, start in children.items()))
        assert server.log.count('event="supervisor gone; stopping"') == 2


@pytest.mark.parametrize("kind", [socket.SOCK_DGRAM, socket.SOCK_STREAM], ids=["udp", "tcp"])
def test_a_port_another_process_holds_stops_start_up(all_zones: Path, kind: socket.SocketKind) -> None:
    """Even when that process set SO_REUSEPORT too, which would let the workers join its socket unchecked."""
    port = free_port()
    with socket.socket(socket.AF_INET, kind) as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind((HOST, port))
        if kind == socket.SOCK_STREAM:
            holder.listen()
        server = GslbProcess(all_zones, extra_args=["--workers", "2"], port=port)
        try:
            with pytest.raises(ServerStartError, match="exited with 1") as failure:
                server.start(timeout=10)
        finally:
            server.stop()  # had it started after all
    protocol = "udp" if kind == socket.SOCK_DGRAM else "tcp"
    assert re.search(
        rf"cannot listen: .*{HOST}:{port} \({protocol}\): Address already in use", failure.value.log
    )
    assert "worker started" not in failure.value.log


# --- the supervisor in this process, with stand-ins for workers -----------------------------------------


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def stand_in(code: str) -> Callable[[int], list[str]]:
    return lambda index: [sys.executable, "-S", "-c", code]  # -S: no site packages, a faster start


def test_a_worker_that_exits_while_starting_stops_the_supervisor() -> None:
    supervisor = Supervisor(replace(Settings(), workers=2), stand_in("raise SystemExit(3)"))
    with pytest.raises(WorkerStartError, match=r"ended while starting \(exit 3\)"):
        asyncio.run(supervisor.run())
    assert not any(w.running for w in supervisor.workers.values())


def test_a_crash_loop_is_restarted_ever_more_slowly() -> None:
    """A worker dying right after it said ready waits 0.1 s to be restarted, then 0.2 s, 0.4 s..."""
    ready = 'import os; os.write(0, b\'{"kind": "ready", "revision": 1}\\n\')'
    supervisor = Supervisor(replace(Settings(), workers=1), stand_in(ready))
    handler = Records()
    logger = logging.getLogger("gslb.node.supervisor")
    logger.addHandler(handler)

    async def run_briefly() -> None:
        asyncio.get_running_loop().call_later(1.0, supervisor.stop)
        await supervisor.run()

    try:
        asyncio.run(run_briefly())
    finally:
        logger.removeHandler(handler)
    delays = [
        r.__dict__["restart_in_s"] for r in handler.records if r.getMessage() == "worker died; restarting it"
    ]
    assert 2 <= len(delays) <= 5, delays  # without a backoff: dozens
    assert delays == [0.1 * 2**i for i in range(len(delays))]
    assert not any(w.running for w in supervisor.workers.values())


def test_backoff_doubles_up_to_its_ceiling_and_forgets_after_a_stable_run() -> None:
    backoff = Backoff(first=0.1, longest=1.0, stable=10.0)
    assert [backoff.next_delay(ran_for=0.5) for _ in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert backoff.next_delay(ran_for=60.0) == 0.1


def test_workers_get_the_settings_and_every_down_set_and_report_their_revisions(tmp_path: Path) -> None:
    """The control channel with stand-ins: what a worker reads, what the supervisor makes of its reports."""
    code = """
import json, socket, sys
channel = socket.socket(fileno=0)
lines = channel.makefile("rb")
got = [json.loads(lines.readline()) for _ in range(2)]
channel.sendall(b'{"kind": "ready", "revision": 7}\\n')
got.append(json.loads(lines.readline()))
channel.sendall(b'{"kind": "serving", "revision": 8}\\n')
open(sys.argv[1], "w").write(json.dumps(got))
lines.readline()
"""
    settings = replace(Settings(), workers=2)
    supervisor = Supervisor(
        settings, lambda index: [sys.executable, "-S", "-c", code, str(tmp_path / f"{index}.json")]
    )
    dead = HealthView(frozenset({("www", "192.0.2.10")}), frozenset({"www"}))
    supervisor.relay_down(dead)  # before any worker runs: each gets it when it starts

    async def scenario() -> None:
        running = asyncio.get_running_loop().create_task(supervisor.run())
        deadline = time.monotonic() + 10
        while supervisor.revisions() != {"worker-0": 7, "worker-1": 7}:
            assert time.monotonic() < deadline and not running.done(), supervisor.revisions()
            await asyncio.sleep(0.01)
        supervisor.relay_down(HealthView())
        while supervisor.revisions() != {"worker-0": 8, "worker-1": 8}:
            assert time.monotonic() < deadline, supervisor.revisions()
            await asyncio.sleep(0.01)
        supervisor.stop()
        await running

    asyncio.run(scenario())
    for index in (0, 1):
        first, down, later = json.loads((tmp_path / f"{index}.json").read_text())
        assert control.settings_of(first) == settings
        assert control.down_of(down) == dead and control.down_of(later) == HealthView()
    assert supervisor.revisions() == {}  # none running


def test_a_dead_workers_last_counts_stay_in_the_nodes() -> None:
    """A stand-in says ready, reports 5 queries unasked and exits at once, again and again: what it wrote
    before it died is read to the end of file and kept, so the node's count only grows, by 5 a death."""
    labels = ("NOERROR", "A", "www")
    said = [
        control.revision_message(control.READY, 1),
        control.counts_message(DnsCounts(Totals({labels: 5}))),
    ]
    written = "".join(json.dumps(message) + "\n" for message in said).encode()
    code = f"import socket; socket.socket(fileno=0).sendall({written!r})"
    supervisor = Supervisor(replace(Settings(), workers=1), stand_in(code))
    assert supervisor.listeners() == Check(False, "0 of 1 workers listening (not worker-0)")

    async def scenario() -> list[int]:
        running = asyncio.get_running_loop().create_task(supervisor.run())
        seen: list[int] = []
        deadline = time.monotonic() + 10
        while len(set(seen)) < 3:
            assert time.monotonic() < deadline and not running.done(), seen
            seen.append((await supervisor.counted(timeout=0.2)).totals.queries.get(labels, 0))
            await asyncio.sleep(0.05)
        supervisor.stop()
        await running
        return seen

    seen = asyncio.run(scenario())
    assert seen == sorted(seen) and all(count % 5 == 0 for count in seen), seen
    assert supervisor.tally.retired.totals.queries[labels] >= 10


# --- one health process and one API per node ------------------------------------------------------------


@dataclass(frozen=True)
class CheckedNode:
    server: GslbProcess
    targets: dict[str, TcpTarget]
    tokens: ApiTokens


@pytest.fixture(scope="module")
def checked_node(tmp_path_factory: pytest.TempPathFactory, api_tokens: ApiTokens) -> Iterator[CheckedNode]:
    """``--workers 2`` on tests/integration/checked_pools.py's pools, both TCP targets up."""
    port = free_port(CHECKED[0])
    targets = {address: TcpTarget(address, port) for address in CHECKED}
    zones = checked_zones(tmp_path_factory.mktemp("checked-workers"), port)
    with ExitStack() as stack:
        for target in targets.values():
            stack.enter_context(target)
        server = stack.enter_context(
            GslbProcess(zones, extra_args=["--workers", "2"], environ=api_tokens.environ())
        )
        assert wait_for(lambda: "workers ready" in server.log), server.log
        yield CheckedNode(server, targets, api_tokens)


CHECKED_NAME = "checked.gslb.example.test."


def descendants(pid: int) -> dict[int, int]:
    """PID → parent PID of every process below ``pid``."""
    found: dict[int, int] = {}
    parents = [pid]
    while parents:
        parent = parents.pop()
        for child in child_processes(parent):
            found[child] = parent
            parents.append(child)
    return found


def health_processes(server: GslbProcess) -> dict[int, int]:
    found = {}
    for pid, parent in descendants(server.pid).items():
        with contextlib.suppress(OSError):
            if b"gslb.health.process" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found[pid] = parent
    return found


def member_health(node: CheckedNode, address: str) -> dict[str, object]:
    request = urllib.request.Request(
        f"{node.server.api_url}/api/v1/pools/checked/members/{address}/health",
        headers={"Authorization": f"Bearer {node.tokens.read}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        document: dict[str, object] = json.loads(response.read())
    return document


def test_a_node_runs_one_health_process_whatever_its_workers(checked_node: CheckedNode) -> None:
    assert wait_for(lambda: len(health_processes(checked_node.server)) == 1)
    assert list(health_processes(checked_node.server).values()) == [
        checked_node.server.pid
    ]  # the supervisor's
    assert sorted(workers(checked_node.server)) == [0, 1]
    (listening,) = [line for line in checked_node.server.log.splitlines() if 'event="api listening"' in line]
    assert "worker=" not in listening  # the API too runs once, in the supervisor
    assert "unknown message from a worker" not in checked_node.server.log


def test_a_withdrawal_reaches_every_worker_and_a_restarted_one_at_once(checked_node: CheckedNode) -> None:
    server = checked_node.server
    live, dying = CHECKED
    assert wait_for(lambda: all(addresses(a) == {live, dying} for a in ask_many(server, CHECKED_NAME)))
    checked_node.targets[dying].stop()
    try:
        # The API (the supervisor's) sees it die, and every worker stops handing it out.
        assert wait_for(lambda: member_health(checked_node, dying)["state"] == "down")
        assert wait_for(lambda: all(addresses(a) == {live} for a in ask_many(server, CHECKED_NAME, rounds=2)))
        for index in (0, 1):
            assert any("reason=health" in line for line in log_lines(server, '"snapshot published"', index))

        # A restarted worker answers without the dead member from its first snapshot on: it got the
        # down set with its settings, so it never needs a health update of its own.
        before = workers(server)
        health_updates = len(
            [ln for ln in log_lines(server, '"snapshot published"', 1) if "reason=health" in ln]
        )
        os.kill(before[1], signal.SIGKILL)
        assert wait_for(lambda: len(log_lines(server, "ready", 1)) == 2)
        after = workers(server)
        with clients() as socks:
            os.kill(after[0], signal.SIGSTOP)  # only the restarted worker answers meanwhile
            try:
                queries = send(socks, server, CHECKED_NAME)
                meanwhile = receive(queries, timeout=0.3)
            finally:
                os.kill(after[0], signal.SIGCONT)
            receive({s: q for s, q in queries.items() if s not in meanwhile}, timeout=3.0)
        assert meanwhile and all(addresses(r) == {live} for r in meanwhile.values())
        updates = [ln for ln in log_lines(server, '"snapshot published"', 1) if "reason=health" in ln]
        assert len(updates) == health_updates, updates
    finally:
        checked_node.targets[dying].start()
    assert wait_for(lambda: all(addresses(a) == {live, dying} for a in ask_many(server, CHECKED_NAME)))
