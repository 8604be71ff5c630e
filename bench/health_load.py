"""What 2,000 health checks at a 1 s interval cost gslb's answers (issue 5, "Off the hot path"; issue 4).

Usage: python bench/health_load.py [--rounds 3] [--seconds 5] [--health-cpu client|server] [--json]

gslb serves the example zone plus 200 pools of 10 members each (2,000 members on 127.1.0.1 ... 127.1.7.208,
one TCP port, all accepted by one local target process, bench/health_targets.py). Three configurations,
interleaved round by round (A B C A B C ...), each a fresh ``gslb serve`` on a fresh store:

- A: the pools declared without a health check (nothing probed);
- B: every pool checked by a TCP check, interval 1 s, timeout 0.5 s: 2,000 probes a second;
- C: B plus 10 admin API writes a second from this process (``PATCH`` of a member's weight, flipping it
  between 100 and 200), each a new store revision that gslb follows incrementally.

The load is dnsperf's ``pool`` workload (www A: the example pool, never checked, so its answer does not
change). Per configuration and round: gslb's CPU with no load, the max QPS, and p50/p99 latency at 50 % of
A's max QPS of the same round. During B's and C's latency run a few targets are stopped and started again,
and the answers of their pools must drop and regain them: otherwise the checks were not running, and the
run measured nothing. The verdict compares B and C with A: the drop in QPS and the rise in p99, under 10 %.
Where dnsperf's CPU, not gslb's, set A's max QPS, the drop judged is that of gslb's capacity: the answering
process's CPU per query at the same fixed rate (``Verdict``).

Where the probes run: gslb probes from a process of its own (gslb/health/process.py), which the kernel puts
on any core with time to spare. On this two-core machine the answering process is pinned to CPU 0 and dnsperf
to CPU 1, and the health process inherits CPU 0's pin; the bench moves it (every thread) to CPU 1, as the
scheduler would on a machine with a core to spare, unless ``--health-cpu server``, which keeps it on the
answering core and so shows what 2,000 probes a second cost when they must share it. The table reports the
health process's CPU, and the answering process's CPU per query without it, either way.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    # Run as a script, only bench/ is on the path; the bench package and harness live at the root.
    sys.path.insert(0, str(REPO_ROOT))

import dns.exception  # noqa: E402
import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rdatatype  # noqa: E402

from bench.cputime import CLOCK_TICKS, descendants, parents, tree_times  # noqa: E402
from bench.health_targets import TargetsProcess, address_plan  # noqa: E402
from bench.report import (  # noqa: E402
    CLIENT_BOUND_PERCENT,
    LATENCY_RATE_SHARE,
    NOISY_OTHER_LOAD_PERCENT,
    lost_percent,
    milliseconds,
)
from bench.runs import CLIENT_CPU, SERVER_CPU, LoadGenerator, Run, measure  # noqa: E402
from bench.servers import gslb_server, trouble  # noqa: E402
from bench.workloads import ZONE, all_workloads  # noqa: E402
from gslb.tokens import ApiToken, Role, token_hash  # noqa: E402
from harness.gslb import GslbProcess  # noqa: E402
from harness.process import free_port  # noqa: E402

MEMBERS = 2000
MEMBERS_PER_POOL = 10
CHECK = "tcp"
INTERVAL = 1.0
TIMEOUT = 0.5
WRITES_PER_SECOND = 10.0
THRESHOLD = 0.10
"""The issue's bound on the drop in QPS and the rise in p99 against A."""
KILLED = 4
"""Targets stopped during B's and C's latency run, one per pool, spread over the pools."""
SETTLE_LIMIT = 15.0
"""Seconds to wait for every member's first check, and for a stopped target to be withdrawn or restored."""
POLL_SECONDS = 0.1
BENCH_TOKEN = "gslb_" + secrets.token_urlsafe(32)  # the API token of this run's admin writes
SITE = "lab"


@dataclass(frozen=True, slots=True)
class Config:
    name: str
    label: str
    checked: bool
    writes: bool


CONFIGS = (
    Config("A", "no checks", checked=False, writes=False),
    Config("B", f"{MEMBERS:,} checks at {INTERVAL:g} s", checked=True, writes=False),
    Config("C", f"B + {WRITES_PER_SECOND:g} API writes/s", checked=True, writes=True),
)


# --- the declarations -------------------------------------------------------------------------------


def pool_name(index: int) -> str:
    return f"hc-{index:03d}"


def pools_of(addresses: Sequence[str], per_pool: int = MEMBERS_PER_POOL) -> list[list[str]]:
    """The addresses in pools of ``per_pool`` members, in order (the last pool may be smaller)."""
    return [list(addresses[start : start + per_pool]) for start in range(0, len(addresses), per_pool)]


def health_toml(
    addresses: Sequence[str], port: int, *, checked: bool, per_pool: int = MEMBERS_PER_POOL
) -> str:
    """The checked pools' declarations: one site, the TCP check, and one pool per ``per_pool`` addresses,
    each answering all its members (so one query shows whether a member is withdrawn); ``checked`` False
    declares the same pools without ``health_check`` (configuration A)."""
    lines = [
        "# Generated by bench/health_load.py: the members its target process serves.",
        f"[sites.{SITE}]",
        'region = "loopback"',
        "",
        f"[checks.{CHECK}]",
        'type = "tcp"',
        f"port = {port}",
        f"interval = {INTERVAL:g}",
        f"timeout = {TIMEOUT:g}",
        "",
    ]
    for index, members in enumerate(pools_of(addresses, per_pool)):
        lines += [
            f"[pools.{pool_name(index)}]",
            f'names = ["{pool_name(index)}.{ZONE}"]',
            'policy = "weighted"',
            f"answer_count = {len(members)}",
            "ttl = 30",
        ]
        if checked:
            lines.append(f'health_check = "{CHECK}"')
        lines.append("members = [")
        lines += [f'  {{ site = "{SITE}", address = "{address}" }},' for address in members]
        lines += ["]", ""]
    return "\n".join(lines)


def write_zones(directory: Path, addresses: Sequence[str], port: int, *, checked: bool) -> Path:
    """A zones directory: the example zone and pools of the checkout's zones/ (www unchecked), and the
    checked pools in ``health.toml``."""
    directory.mkdir(parents=True)
    for name in (f"{ZONE}.zone", "pools.toml"):
        shutil.copy(REPO_ROOT / "zones" / name, directory / name)
    (directory / "health.toml").write_text(health_toml(addresses, port, checked=checked))
    return directory


# --- what gslb logged -------------------------------------------------------------------------------

_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')
HEALTH_EVENT = "member health changed"


@dataclass(frozen=True, slots=True)
class HealthEvent:
    pool: str
    member: str
    previous: str
    state: str


def health_events(log: str) -> list[HealthEvent]:
    """gslb's ``member health changed`` lines (key=value), in order."""
    events = []
    for line in log.splitlines():
        fields = {key: value.strip('"') for key, value in _FIELD.findall(line)}
        if fields.get("event") == HEALTH_EVENT:
            events.append(
                HealthEvent(
                    fields.get("pool", ""),
                    fields.get("member", ""),
                    fields.get("previous", ""),
                    fields.get("state", ""),
                )
            )
    return events


def first_results(events: Sequence[HealthEvent]) -> int:
    """Members whose latest logged state is UP: every member once the monitor has gone round (a member
    comes UP from UNKNOWN at its first success, or from DOWN if its first probes failed)."""
    latest = {(e.pool, e.member): e.state for e in events}
    return sum(state == "up" for state in latest.values())


def unexpected_downs(events: Sequence[HealthEvent], killed: Sequence[str]) -> list[HealthEvent]:
    """Down transitions of members whose target never stopped: probes that failed for gslb's sake."""
    return [e for e in events if e.state == "down" and e.member not in killed]


# --- the run ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """Whether the monitor really ran: stopped targets withdrawn from their pools' answers and restored."""

    killed: int
    withdrawn: int
    withdraw_seconds: float
    restored: int
    restore_seconds: float
    unexpected_downs: int
    first_results: int


@dataclass(frozen=True, slots=True)
class Measurement:
    round: int
    config: str
    idle_cpu_percent: float
    """gslb's CPU time per second of wall time, no queries (and C's writes going on)."""
    idle_loop_percent: float
    """... of it, the main thread's: the event loop, where the follower and the health monitor run."""
    loop_percent_at_max: float
    max_run: Run
    latency_run: Run
    health_cpu_percent_at_max: float = 0.0
    """The health process's CPU time per second of the max run (wherever it runs)."""
    answering_us_per_query: float = math.nan
    """CPU per query at @lat of the answering process alone: gslb's tree without the health process."""
    writes: int = 0
    write_seconds: float = 0.0
    write_errors: tuple[str, ...] = ()
    check: Withdrawal | None = None
    log_trouble: tuple[str, ...] = ()


def thread_seconds(pid: int, tid: int) -> float:
    """utime + stime of one thread (``tid`` = ``pid``: the main thread)."""
    text = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def process_seconds(pid: int | None) -> float:
    """utime + stime of every thread of ``pid`` (0 for None or a process gone)."""
    if pid is None:
        return 0.0
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def health_process(root: int) -> int | None:
    """The pid of gslb's health process (``python -m gslb.health.process``) below ``root``."""
    for pid in sorted(descendants(root, parents())):
        try:
            if b"gslb.health.process" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        except OSError:
            continue
    return None


def pin_threads(pid: int, cpu: int) -> None:
    """Move every thread of ``pid`` to ``cpu`` (taskset -p moves only the one it names)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            os.sched_setaffinity(int(task.name), {cpu})


class ApiWriter:
    """``rate`` writes a second through gslb's admin API from a thread of this process: one member's weight
    flipped between 100 and 200 with ``PATCH /api/v1/pools/P/members/A``, one pool after the other (each
    write a new store revision gslb must follow, made by the process that answers)."""

    def __init__(self, api_url: str, token: str, addresses: Sequence[str], rate: float = WRITES_PER_SECOND):
        self.api_url = api_url
        self.token = token
        self.firsts = [members[0] for members in pools_of(addresses)]
        self.pools = len(self.firsts)
        self.rate = rate
        self.writes = 0
        self.errors: list[str] = []
        self.seconds = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="api-writer", daemon=True)

    def patch(self, pool: str, address: str, weight: int) -> None:
        request = urllib.request.Request(
            f"{self.api_url}/api/v1/pools/{pool}/members/{address}",
            data=json.dumps({"weight": weight}).encode(),
            method="PATCH",
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()

    def _run(self) -> None:
        started = time.monotonic()
        try:
            while not self._stop.wait(max(0.0, started + self.writes / self.rate - time.monotonic())):
                index = self.writes % self.pools
                weight = 200 if (self.writes // self.pools) % 2 == 0 else 100
                try:
                    self.patch(pool_name(index), self.firsts[index], weight)
                except (OSError, urllib.error.HTTPError) as exc:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                self.writes += 1
        finally:
            self.seconds = time.monotonic() - started

    def __enter__(self) -> ApiWriter:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def answered(server: GslbProcess, pool: int) -> set[str]:
    query = dns.message.make_query(f"{pool_name(pool)}.{ZONE}", dns.rdatatype.A)
    try:
        response = dns.query.udp(query, server.host, port=server.port, timeout=0.5)
    except (OSError, dns.exception.DNSException):
        return set()
    return {rdata.to_text() for rrset in response.answer for rdata in rrset}


def killed_members(addresses: Sequence[str], count: int = KILLED) -> dict[int, str]:
    """Pool index -> the member stopped in it: the 4th member of pools spread evenly over all of them."""
    pools = len(pools_of(addresses))
    chosen = sorted({index * pools // count for index in range(count)})
    return {
        index: pools_of(addresses)[index][min(3, len(pools_of(addresses)[index]) - 1)] for index in chosen
    }


def wait_for(test: Callable[[], bool], limit: float) -> float:
    """Seconds until ``test()`` holds, polling; NaN if it did not within ``limit``."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if test():
            return time.monotonic() - started
        time.sleep(POLL_SECONDS)
    return math.nan


def kill_and_restore(
    server: GslbProcess, targets: TargetsProcess, killed: dict[int, str]
) -> tuple[int, float, int, float]:
    """Stop the targets and wait until their pools answer without them; start them again and wait until
    they are back. Returns (withdrawn, seconds, restored, seconds); seconds NaN when not all made it."""

    def withdrawn() -> int:
        return sum(address not in answered(server, pool) for pool, address in killed.items())

    def restored() -> int:
        return sum(address in answered(server, pool) for pool, address in killed.items())

    targets.command("down", list(killed.values()))
    withdraw_seconds = wait_for(lambda: withdrawn() == len(killed), SETTLE_LIMIT)
    gone = withdrawn()
    targets.command("up", list(killed.values()))
    restore_seconds = wait_for(lambda: restored() == len(killed), SETTLE_LIMIT)
    return gone, withdraw_seconds, restored(), restore_seconds


class Verifier:
    """``kill_and_restore`` in a thread beside a dnsperf run."""

    def __init__(self, server: GslbProcess, targets: TargetsProcess, killed: dict[int, str]) -> None:
        self.result: tuple[int, float, int, float] = (0, math.nan, 0, math.nan)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(server, targets, killed), daemon=True)

    def _run(self, server: GslbProcess, targets: TargetsProcess, killed: dict[int, str]) -> None:
        try:
            self.result = kill_and_restore(server, targets, killed)
        except BaseException as exc:
            self.error = exc

    def start(self) -> None:
        self._thread.start()

    def join(self) -> tuple[int, float, int, float]:
        self._thread.join(timeout=3 * SETTLE_LIMIT)
        if self.error is not None:
            raise self.error
        return self.result


def wait_first_results(server: GslbProcess, expected: int) -> int:
    """Wait until every checked member had its first check succeed (the monitor went round once)."""
    wait_for(lambda: first_results(health_events(server.log)) >= expected, SETTLE_LIMIT)
    return first_results(health_events(server.log))


def idle_cpu(pid: int, seconds: float) -> tuple[float, float]:
    """gslb's CPU per second of wall time, whole process and main thread, over ``seconds`` of no queries."""
    started, process, loop = time.monotonic(), tree_times(pid).seconds, thread_seconds(pid, pid)
    time.sleep(seconds)
    wall = time.monotonic() - started
    return (
        100 * (tree_times(pid).seconds - process) / wall,
        100 * (thread_seconds(pid, pid) - loop) / wall,
    )


@dataclass(frozen=True, slots=True)
class Bench:
    generator: LoadGenerator
    taskset: str
    queries: Path
    seconds: float
    addresses: tuple[str, ...]
    zones: dict[bool, Path]
    """checked -> its zones directory"""
    health_cpu: int = CLIENT_CPU
    """Where the health process runs: by default off the answering CPU, as on a machine with a core to
    spare; SERVER_CPU shows what sharing the answering core costs."""


def run_config(
    bench: Bench, config: Config, round_number: int, targets: TargetsProcess, latency_rate: int | None
) -> Measurement:
    """One fresh gslb for one configuration: idle CPU, max QPS, latency (at ``latency_rate``, or half this
    run's max for A), and for B and C the withdrawal check during the latency run."""
    environ = {"GSLB_API_TOKENS": str(ApiToken("bench", Role.ADMIN, token_hash(BENCH_TOKEN)))}
    server_process = gslb_server(
        REPO_ROOT, bench.zones[config.checked], bench.taskset, SERVER_CPU, environ=environ
    )
    with server_process as server:
        health_pid = health_process(server.pid)
        if health_pid is not None:
            pin_threads(health_pid, bench.health_cpu)
        checked_first = wait_first_results(server, len(bench.addresses)) if config.checked else 0
        writer = ApiWriter(server.api_url, BENCH_TOKEN, bench.addresses)
        killed = killed_members(bench.addresses)
        with writer if config.writes else contextlib.nullcontext():
            idle, idle_loop = idle_cpu(server.pid, bench.seconds)
            loop_before = thread_seconds(server.pid, server.pid)
            health_before = process_seconds(health_pid)
            max_run = measure(server, bench.generator, bench.queries, bench.seconds, None)
            health_at_max = process_seconds(health_pid) - health_before
            loop_at_max = thread_seconds(server.pid, server.pid) - loop_before
            rate = latency_rate or max(1, round(max_run.report.qps * LATENCY_RATE_SHARE))
            verifier = Verifier(server, targets, killed) if config.checked else None
            if verifier is not None:
                verifier.start()
            health_before = process_seconds(health_pid)
            latency_run = measure(server, bench.generator, bench.queries, bench.seconds, rate, verbose=True)
            health_at_rate = process_seconds(health_pid) - health_before
            result = verifier.join() if verifier is not None else None
        events = health_events(server.log)
        log = server.stop()
    check = None
    if result is not None:
        withdrawn, withdraw_seconds, restored, restore_seconds = result
        check = Withdrawal(
            killed=len(killed),
            withdrawn=withdrawn,
            withdraw_seconds=withdraw_seconds,
            restored=restored,
            restore_seconds=restore_seconds,
            unexpected_downs=len(unexpected_downs(events, list(killed.values()))),
            first_results=checked_first,
        )
    return Measurement(
        round=round_number,
        config=config.name,
        idle_cpu_percent=idle,
        idle_loop_percent=idle_loop,
        loop_percent_at_max=100 * loop_at_max / max_run.report.run_time
        if max_run.report.run_time
        else math.nan,
        max_run=max_run,
        latency_run=latency_run,
        health_cpu_percent_at_max=100 * health_at_max / max_run.wall_seconds if max_run.wall_seconds else 0.0,
        answering_us_per_query=(latency_run.server_cpu_seconds - health_at_rate)
        * 1e6
        / max(1, latency_run.report.queries_completed),
        writes=writer.writes,
        write_seconds=writer.seconds,
        write_errors=tuple(writer.errors[:5]),
        check=check,
        log_trouble=tuple(line for line in trouble(log) if HEALTH_EVENT not in line),
    )


# --- medians, verdict, output -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Summary:
    """Medians over the rounds of one configuration."""

    config: str
    qps: float
    qps_spread_percent: float
    latency_rate: int
    latency_p50_ms: float
    latency_p99_ms: float
    p99_spread_percent: float
    server_cpu_percent_at_max: float
    loop_percent_at_max: float
    idle_cpu_percent: float
    idle_loop_percent: float
    us_per_query_at_rate: float
    health_cpu_percent: float
    client_cpu_percent: float
    lost_percent: float
    other_load_percent: float
    writes_per_second: float
    checks: list[Withdrawal] = field(default_factory=list)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def spread(values: Sequence[float]) -> float:
    middle = median(values)
    return (
        100 * (max(values) - min(values)) / middle
        if values and middle and math.isfinite(middle)
        else math.nan
    )


def summarise(measurements: Sequence[Measurement], config: str) -> Summary:
    runs = [m for m in measurements if m.config == config]
    qps = [m.max_run.report.qps for m in runs]
    p99 = [m.latency_run.report.latency_p99 * 1e3 for m in runs]
    write_seconds = sum(m.write_seconds for m in runs)
    return Summary(
        config=config,
        qps=median(qps),
        qps_spread_percent=spread(qps),
        latency_rate=round(median([float(m.latency_run.rate or 0) for m in runs])),
        latency_p50_ms=median([m.latency_run.report.latency_p50 * 1e3 for m in runs]),
        latency_p99_ms=median(p99),
        p99_spread_percent=spread(p99),
        server_cpu_percent_at_max=median([m.max_run.server_cpu_percent for m in runs]),
        loop_percent_at_max=median([m.loop_percent_at_max for m in runs]),
        idle_cpu_percent=median([m.idle_cpu_percent for m in runs]),
        idle_loop_percent=median([m.idle_loop_percent for m in runs]),
        us_per_query_at_rate=median([m.answering_us_per_query for m in runs]),
        health_cpu_percent=median([m.health_cpu_percent_at_max for m in runs]),
        client_cpu_percent=median([m.max_run.client_cpu_percent for m in runs]),
        lost_percent=lost_percent([run for m in runs for run in (m.max_run, m.latency_run)]),
        other_load_percent=max(run.other_load_percent for m in runs for run in (m.max_run, m.latency_run)),
        writes_per_second=sum(m.writes for m in runs) / write_seconds if write_seconds else 0.0,
        checks=[m.check for m in runs if m.check is not None],
    )


@dataclass(frozen=True, slots=True)
class Verdict:
    """One configuration against A: the QPS drop and the p99 rise, as fractions of A's figure.

    When dnsperf's CPU was full in A's max run, A's QPS is dnsperf's limit, not gslb's, and B's and C's
    lower QPS may only say that the probes' targets and the health process, on dnsperf's CPU, took some of
    it. The drop that counts is then gslb's capacity: the answering process's CPU per query at the same
    fixed rate, against A's (``capacity_drop``: 1 - A's CPU per query / this one's). It flatters a
    configuration that answers later: the batched loop (gslb/answer/mmsg.py) then finds more queries queued
    per system call, and spends less per query; the p99 beside it shows how much later.
    """

    config: str
    qps_drop: float
    p99_rise: float
    threshold: float
    monitor_ran: bool
    capacity_drop: float = math.nan
    generator_bound: bool = False

    @property
    def drop(self) -> float:
        """The QPS drop that is judged: the capacity's when A's max was dnsperf's limit."""
        return self.capacity_drop if self.generator_bound else self.qps_drop

    @property
    def outcome(self) -> str:
        if not self.monitor_ran:
            return "NOT MEASURED (the checks did not withdraw and restore the stopped targets)"
        if math.isnan(self.drop) or math.isnan(self.p99_rise):
            return "NOT MEASURED"
        return "PASS" if self.drop < self.threshold and self.p99_rise < self.threshold else "FAIL"

    def render(self) -> str:
        qps = f"QPS {-self.qps_drop:+.1%}"
        if self.generator_bound:
            qps += (
                f" (dnsperf's limit: its CPU was full in A's max run), capacity {-self.capacity_drop:+.1%}"
                " (answering CPU per query at the same rate)"
            )
        return (
            f"{self.config} vs A: {qps}, p99 {self.p99_rise:+.1%} "
            f"(each must drop or rise less than {self.threshold:.0%}): {self.outcome}"
        )


def monitor_ran(checks: Sequence[Withdrawal]) -> bool:
    """Every round withdrew and restored every stopped target, and every member had its first check."""
    return bool(checks) and all(c.withdrawn == c.killed and c.restored == c.killed for c in checks)


def judge(base: Summary, other: Summary, threshold: float = THRESHOLD) -> Verdict:
    """``other`` against ``base`` (A): how much QPS it lost and how much its p99 grew, as fractions."""

    def relative(value: float, reference: float) -> float:
        if not (math.isfinite(reference) and reference > 0) or math.isnan(value):
            return math.nan
        return math.inf if math.isinf(value) else value / reference - 1

    return Verdict(
        config=other.config,
        qps_drop=-relative(other.qps, base.qps),
        p99_rise=relative(other.latency_p99_ms, base.latency_p99_ms),
        threshold=threshold,
        monitor_ran=monitor_ran(other.checks),
        capacity_drop=-relative(base.us_per_query_at_rate, other.us_per_query_at_rate),
        generator_bound=base.client_cpu_percent >= CLIENT_BOUND_PERCENT,
    )


def render_table(summaries: Sequence[Summary], rounds: int, seconds: float, health_cpu: int) -> str:
    base = summaries[0]
    header = (
        f"{'config':<31} {'QPS':>8} {'spread':>6} {'vs A':>7} {'@lat':>7} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'vs A':>8} {'srv CPU':>7} {'loop':>5} {'idle':>5} {'us/q':>5} {'hlth':>5} {'CPU1':>5} "
        f"{'lost':>6} {'other':>5}"
    )
    lines = [
        f"workload pool (www A), medians of {rounds} rounds x {seconds:g} s; gslb answering on CPU "
        f"{SERVER_CPU}, its health process on CPU {health_cpu}; dnsperf, the targets and this script on "
        f"CPU {CLIENT_CPU}",
        "  QPS flat out; p50/p99 at @lat = 50 % of A's max QPS in the same round; vs A: change against A;",
        "  srv CPU: gslb's share of the max run, health process included; loop: its main thread's (event",
        "  loop: follower, TCP, API); idle: gslb's CPU per second with no queries, health process included;",
        "  us/q: the answering process's CPU per query at @lat (health process excluded);",
        "  hlth: the health process's CPU in the max run; CPU1: how busy dnsperf's CPU was in the max run;",
        "  lost: max and latency runs pooled; other: worst share of a run CPU 0 spent on other tasks.",
        header,
        "-" * len(header),
    ]
    labels = {config.name: f"{config.name} {config.label}" for config in CONFIGS}
    for s in summaries:
        qps_change = s.qps / base.qps - 1 if base.qps else math.nan
        p99_change = s.latency_p99_ms / base.latency_p99_ms - 1 if base.latency_p99_ms else math.nan
        lines.append(
            f"{labels[s.config]:<31} {s.qps:>8,.0f} {s.qps_spread_percent:>5.0f}% {qps_change:>+7.1%} "
            f"{s.latency_rate:>7,} {milliseconds(s.latency_p50_ms):>7} {milliseconds(s.latency_p99_ms):>7} "
            f"{p99_change:>+8.1%} {s.server_cpu_percent_at_max:>6.0f}% {s.loop_percent_at_max:>4.0f}% "
            f"{s.idle_cpu_percent:>4.1f}% {s.us_per_query_at_rate:>5.1f} {s.health_cpu_percent:>4.0f}% "
            f"{s.client_cpu_percent:>4.0f}% {s.lost_percent:>5.2f}% {s.other_load_percent:>4.0f}%"
        )
    return "\n".join(lines)


def render_checks(summary: Summary) -> str:
    checks = summary.checks
    if not checks:
        return f"{summary.config}: no withdrawal check"
    withdraw = median([c.withdraw_seconds for c in checks])
    restore = median([c.restore_seconds for c in checks])
    text = (
        f"{summary.config}: members up by gslb's log before measuring: "
        f"{min(c.first_results for c in checks):,} of {MEMBERS:,} (worst round); "
        f"stopped {checks[0].killed} targets during the latency run: withdrawn "
        f"{sum(c.withdrawn for c in checks)}/{sum(c.killed for c in checks)} (median {withdraw:.1f} s), "
        f"restored {sum(c.restored for c in checks)}/{sum(c.killed for c in checks)} "
        f"(median {restore:.1f} s); "
        f"down transitions of members whose target never stopped (false withdrawals): "
        f"{sum(c.unexpected_downs for c in checks)}"
    )
    if summary.writes_per_second:
        text += f"; API writes {summary.writes_per_second:.1f}/s"
    return text


def run_rounds(bench: Bench, targets: TargetsProcess, rounds: int) -> list[Measurement]:
    measurements: list[Measurement] = []
    for round_number in range(1, rounds + 1):
        base_rate: int | None = None
        for config in CONFIGS:
            m = run_config(bench, config, round_number, targets, base_rate)
            if config.name == "A":
                base_rate = max(1, round(m.max_run.report.qps * LATENCY_RATE_SHARE))
            measurements.append(m)
            other = max(m.max_run.other_load_percent, m.latency_run.other_load_percent)
            extra = ""
            if m.check is not None:
                extra = (
                    f"; withdrawn {m.check.withdrawn}/{m.check.killed} in {m.check.withdraw_seconds:.1f} s, "
                    f"restored in {m.check.restore_seconds:.1f} s"
                )
            if config.writes:
                extra += f"; {m.writes} writes"
            print(
                f"round {round_number}/{rounds} {config.name}: idle CPU {m.idle_cpu_percent:.1f}%, "
                f"max {m.max_run.report.qps:,.0f} qps; at {m.latency_run.rate:,} qps "
                f"p50 {m.latency_run.report.latency_p50 * 1e3:.3f} ms "
                f"p99 {m.latency_run.report.latency_p99 * 1e3:.3f} ms{extra}; CPU 0 other {other:.0f}%",
                file=sys.stderr,
                flush=True,
            )
    return measurements


def notes(measurements: Sequence[Measurement]) -> list[str]:
    found = []
    for m in measurements:
        for kind, run in (("max", m.max_run), ("latency", m.latency_run)):
            if run.report.queries_lost:
                found.append(
                    f"round {m.round} {m.config} {kind}: {run.report.queries_lost:,} of "
                    f"{run.report.queries_sent:,} queries lost; UDP receive-buffer drops "
                    f"{run.udp_receive_buffer_errors:,}"
                )
        rate = m.latency_run.rate or 0
        if rate and m.latency_run.report.qps < 0.98 * rate:
            found.append(
                f"round {m.round} {m.config}: the latency run reached {m.latency_run.report.qps:,.0f} "
                f"of {rate:,} qps"
            )
        found += [f"round {m.round} {m.config}: API write failed: {error}" for error in m.write_errors]
        found += [f"round {m.round} {m.config} gslb log: {line}" for line in m.log_trouble[:5]]
        if m.check is not None and m.check.unexpected_downs:
            found.append(
                f"round {m.round} {m.config}: {m.check.unexpected_downs} down transitions of members whose "
                "target never stopped (probes that timed out in gslb)"
            )
    busiest = max(run.other_load_percent for m in measurements for run in (m.max_run, m.latency_run))
    if busiest > NOISY_OTHER_LOAD_PERCENT:
        found.append(
            f"CPU {SERVER_CPU} was up to {busiest:.0f}% busy with other work during a run: expect noise"
        )
    return found


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of A, B and C (default 3)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each run (default 5)")
    parser.add_argument("--json", action="store_true", help="also print every run and the summary as JSON")
    parser.add_argument(
        "--health-cpu",
        choices=("client", "server"),
        default="client",
        help="where gslb's health process runs: with dnsperf (default: a core to spare, as gslb is meant "
        "to be deployed), or on the answering CPU (what sharing one core costs)",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.seconds <= 0:
        parser.error("--rounds must be >= 1 and --seconds > 0")
    return args


def find_tools() -> tuple[str, str]:
    found = {name: shutil.which(name) for name in ("dnsperf", "taskset")}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise SystemExit(
            f"health_load: not installed: {', '.join(missing)} (Debian packages dnsperf, util-linux)"
        )
    if not {SERVER_CPU, CLIENT_CPU} <= os.sched_getaffinity(0):
        raise SystemExit(f"health_load: needs CPUs {SERVER_CPU} and {CLIENT_CPU}")
    return str(found["dnsperf"]), str(found["taskset"])


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    dnsperf, taskset = find_tools()
    # This process (the store writer, the withdrawal queries) keeps off gslb's CPU, like dnsperf.
    os.sched_setaffinity(0, {CLIENT_CPU})
    addresses = tuple(address_plan(MEMBERS))
    port = free_port(addresses[0])
    with tempfile.TemporaryDirectory(prefix="bench-health-") as tmp:
        workload = next(w for w in all_workloads() if w.name == "pool")
        bench = Bench(
            generator=LoadGenerator(dnsperf, taskset, CLIENT_CPU),
            taskset=taskset,
            queries=workload.write(Path(tmp)),
            seconds=args.seconds,
            addresses=addresses,
            health_cpu=CLIENT_CPU if args.health_cpu == "client" else SERVER_CPU,
            zones={
                checked: write_zones(Path(tmp) / f"zones-{checked}", addresses, port, checked=checked)
                for checked in (False, True)
            },
        )
        with TargetsProcess(addresses, port, prefix=(taskset, "-c", str(CLIENT_CPU))) as targets:
            measurements = run_rounds(bench, targets, args.rounds)
    summaries = [summarise(measurements, config.name) for config in CONFIGS]
    print()
    print(render_table(summaries, args.rounds, args.seconds, bench.health_cpu))
    print()
    for summary in summaries[1:]:
        print(render_checks(summary))
    print()
    verdicts = [judge(summaries[0], summary) for summary in summaries[1:]]
    for verdict in verdicts:
        print(verdict.render())
    found = notes(measurements)
    if found:
        print()
    for note in found:
        print(f"note: {note}")
    if args.json:
        document = {
            "rounds": args.rounds,
            "seconds": args.seconds,
            "members": MEMBERS,
            "members_per_pool": MEMBERS_PER_POOL,
            "interval": INTERVAL,
            "timeout": TIMEOUT,
            "writes_per_second": WRITES_PER_SECOND,
            "summary": [asdict(s) for s in summaries],
            "verdicts": [{**asdict(v), "outcome": v.outcome} for v in verdicts],
            "runs": [
                {
                    **asdict(m),
                    "max_other_load_percent": m.max_run.other_load_percent,
                    "latency_other_load_percent": m.latency_run.other_load_percent,
                    "latency_cpu_us_per_query": m.latency_run.cpu_us_per_query,
                }
                for m in measurements
            ],
            "notes": found,
        }
        print(json.dumps(document, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
