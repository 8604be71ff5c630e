"""CPU time from /proc: what a process used, and how a CPU spent its time, in seconds.

The benchmark pins the server to one CPU and dnsperf to another. The server's CPU shows whether other
processes took part of it during a run (the first thing to check when rounds disagree); dnsperf's CPU shows
whether the load generator, not the server, was the limit of a max-QPS run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class CpuTimes:
    """Seconds one CPU spent since boot, from its ``cpuN`` line of /proc/stat."""

    tasks: float
    """user, nice, system and steal (guest time is inside user): running tasks or lost to a hypervisor."""
    interrupts: float
    """irq and softirq: on loopback mostly the delivery of the benchmark's own packets, which the kernel also
    counts in the sending process's own CPU time when it runs inside the send call."""

    def __sub__(self, other: CpuTimes) -> CpuTimes:
        return CpuTimes(self.tasks - other.tasks, self.interrupts - other.interrupts)

    @property
    def busy(self) -> float:
        return self.tasks + self.interrupts


def cpu_times(cpu: int) -> CpuTimes:
    label = f"cpu{cpu}"
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name == label:
            user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in values[:8])
            return CpuTimes(
                tasks=(user + nice + system + steal) / CLOCK_TICKS, interrupts=(irq + softirq) / CLOCK_TICKS
            )
    raise ValueError(f"/proc/stat has no line for {label}")


def process_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` and all its threads, from /proc/PID/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may hold spaces and parentheses; the fields after its last ')' start at 3.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / CLOCK_TICKS
