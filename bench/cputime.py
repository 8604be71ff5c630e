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


def _stat_fields(pid: int) -> list[str]:
    """The fields of /proc/PID/stat from field 3 (state) on; raises OSError once the process is gone."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may hold spaces and parentheses; the fields after its last ')' start at 3.
    return stat[stat.rindex(")") + 2 :].split()


def process_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` and all its threads, from /proc/PID/stat."""
    fields = _stat_fields(pid)
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / CLOCK_TICKS


@dataclass(frozen=True, slots=True)
class TreeTimes:
    """CPU seconds of a process tree at one moment, and which processes it had then."""

    seconds: float
    processes: frozenset[tuple[int, int]]
    """(PID, start time in clock ticks after boot) of each process: a PID reused by a restarted worker
    still counts as a different process."""

    @property
    def pids(self) -> frozenset[int]:
        return frozenset(pid for pid, _started in self.processes)


def parents() -> dict[int, int]:
    """PID -> parent PID of every process visible in /proc (field 4 of /proc/PID/stat)."""
    result = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            result[int(entry.name)] = int(_stat_fields(int(entry.name))[1])
        except (OSError, ValueError, IndexError):
            continue  # gone between the listing and the read
    return result


def descendants(root: int, parent_of: dict[int, int]) -> set[int]:
    """``root`` and every process below it."""
    children: dict[int, list[int]] = {}
    for pid, parent in parent_of.items():
        children.setdefault(parent, []).append(pid)
    found, pending = {root}, [root]
    while pending:
        for child in children.get(pending.pop(), ()):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


def tree_times(root: int) -> TreeTimes:
    """CPU time of ``root`` and its descendants (a gslb supervisor and its workers), all threads.

    Each process counts utime + stime and also cutime + cstime, the time of its children that exited and
    were reaped: so a worker that dies and is replaced during a run still counts in the difference of two
    samples, through its parent. What escapes: a child reaped by a process outside the tree, and a process
    that left the tree by being re-parented. The processes are kept so that a change can be flagged.
    """
    ticks = 0
    processes = set()
    for pid in descendants(root, parents()):
        try:
            fields = _stat_fields(pid)
        except OSError:
            continue
        ticks += sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
        processes.add((pid, int(fields[19])))  # field 22, starttime
    return TreeTimes(ticks / CLOCK_TICKS, frozenset(processes))
