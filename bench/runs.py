"""One dnsperf run against a pinned server, with the CPU and kernel figures taken around it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from bench import loadgen
from bench.cputime import CpuTimes, cpu_times, tree_times
from bench.netstat import udp_receive_buffer_errors
from harness.process import ServerProcess

SERVER_CPU = 0
CLIENT_CPU = 1
SERVERS = ("gslb", "base", "gslb-w2", "knot", "gdnsd")
"""Run in this order within a round (those chosen with --servers). gslb-w2 is ``gslb serve --workers 2``,
its supervisor and both workers pinned to the same CPU as every other server; base is ``gslb serve`` from
another checkout (``--base DIR``): the code before a change, measured in the same run as the code after."""
REFERENCES = ("base", "knot", "gdnsd")
"""The servers each row's QPS is divided by in the table's ratio columns, when they ran."""
LABELS = {"gslb": "gslb", "base": "base", "gslb-w2": "gslb-w2", "knot": "Knot", "gdnsd": "gdnsd"}


@dataclass(frozen=True, slots=True)
class LoadGenerator:
    """Where dnsperf and taskset live, and the CPU dnsperf is pinned to."""

    dnsperf: str
    taskset: str
    cpu: int = CLIENT_CPU


@dataclass(frozen=True, slots=True)
class Run:
    """One dnsperf run against one server, with the server's CPU time and both CPUs' time over it."""

    rate: int | None
    report: loadgen.DnsperfReport
    wall_seconds: float
    server_cpu_seconds: float
    server_cpu: CpuTimes
    """How CPU 0 (the server's) spent the run, the server's own threads included."""
    client_cpu: CpuTimes
    """How CPU 1 (dnsperf's) spent the run."""
    udp_receive_buffer_errors: int
    """Datagrams the kernel dropped during the run because a socket's receive buffer was full."""
    server_processes_changed: bool = False
    """The server's process tree was not the same at the end of the run as at its start (a worker exited
    or was started): its CPU time is then only as good as ``cputime.tree_times`` explains."""

    def _percent(self, seconds: float) -> float:
        # dnsperf's own run time, not the wall time around it: when it waits out its 5 s timeout for lost
        # queries, both CPUs sit idle and the wall time would understate how busy they were under load.
        return 100 * seconds / self.report.run_time if self.report.run_time else float("nan")

    @property
    def other_load_percent(self) -> float:
        """Share of the run the server's CPU spent running other tasks (or lost to steal).

        The server's own time includes the softirq work of delivering the packets it sends (the kernel runs
        it inside the send call), which /proc/stat books as softirq: so the server is taken out of the CPU's
        busy time interrupts included. The two clocks differ by a tick or so, hence the floor at zero. Other
        processes run for the whole wall time, dnsperf's closing wait included, so that is the denominator.
        """
        other = max(0.0, self.server_cpu.busy - self.server_cpu_seconds)
        return 100 * other / self.wall_seconds if self.wall_seconds else float("nan")

    @property
    def server_side_busy_percent(self) -> float:
        """How busy the server's CPU was, whoever kept it busy: below 100 means it had time to spare."""
        return self._percent(self.server_cpu.busy)

    @property
    def server_cpu_percent(self) -> float:
        """The server's own CPU time as a share of the run: near 100 when the server is the limit."""
        return self._percent(self.server_cpu_seconds)

    @property
    def client_cpu_percent(self) -> float:
        """How busy dnsperf's CPU was, interrupts included: near 100 when the load generator is the limit."""
        return self._percent(self.client_cpu.busy)

    @property
    def cpu_us_per_query(self) -> float:
        completed = self.report.queries_completed
        return self.server_cpu_seconds * 1e6 / completed if completed else float("nan")


def measure(
    server: ServerProcess,
    generator: LoadGenerator,
    queries: Path,
    seconds: float,
    rate: int | None,
    *,
    verbose: bool = False,
) -> Run:
    """Run dnsperf against ``server`` (flat out, or at ``rate`` QPS; ``verbose`` for latency percentiles)
    and take the CPU figures around it. The server's CPU is that of its whole process tree, so a
    supervisor with worker processes counts in full."""
    args = loadgen.command(
        generator.dnsperf,
        queries,
        host=server.host,
        port=server.port,
        seconds=seconds,
        rate=rate,
        taskset=generator.taskset,
        cpu=generator.cpu,
        verbose=verbose,
    )
    started, process_before = time.monotonic(), tree_times(server.pid)
    server_before, client_before = cpu_times(SERVER_CPU), cpu_times(generator.cpu)
    drops_before = udp_receive_buffer_errors()
    report = loadgen.run(args, seconds)
    wall_seconds = time.monotonic() - started
    server_after, client_after = cpu_times(SERVER_CPU), cpu_times(generator.cpu)
    drops = udp_receive_buffer_errors() - drops_before
    # The /proc scan of the tree costs this process some CPU: done outside the window of the CPU figures.
    process_after = tree_times(server.pid)
    return Run(
        rate=rate,
        report=report,
        wall_seconds=wall_seconds,
        server_cpu_seconds=process_after.seconds - process_before.seconds,
        server_cpu=server_after - server_before,
        client_cpu=client_after - client_before,
        udp_receive_buffer_errors=drops,
        server_processes_changed=process_after.processes != process_before.processes,
    )
