"""A short scheduler time slice for the UDP thread, so it gets its CPU back soon after it wakes.

An answering process has other threads: the event loop (admin API, snapshot follower) and the
executor threads that run store reads and writes, SQLite included, partly without the GIL. On a
busy CPU the kernel's EEVDF scheduler (Linux 6.6 and later) lets a running thread finish its slice
before a woken one runs, and the default slice is over a millisecond: a datagram that arrives while
an API write runs waits for it. Linux 6.12 lets a thread ask for a shorter slice
(``sched_attr.sched_runtime`` for a fair task), which also lets it preempt sooner when it wakes.
bench/write_stalls.py measures the difference (bench/README.md, "Measurements behind the code").

Only a default-policy thread asks: a batch-scheduled worker (gslb/node/supervisor.py) shares its CPU
with other workers on purpose, and short slices would make them preempt each other again.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
from pathlib import Path

from gslb.runtime.libc import libc as c_library

SLICE_NS = 100_000
"""0.1 ms, the shortest slice the kernel accepts."""
_SCHED_SETATTR = {"x86_64": 314, "aarch64": 274}
"""The system call's number; glibc has no wrapper for it."""
_SCHED_ATTR = struct.Struct("=IIQiIQQQ")
"""struct sched_attr as of Linux 3.14 (size 48): size, policy, flags, nice, priority, runtime,
deadline, period; later kernels accept this size too."""


def request_short_slice(nanoseconds: int = SLICE_NS) -> bool:
    """Ask for ``nanoseconds``-long time slices for the calling thread; True if the kernel now
    gives them (False on other platforms, older kernels, a batch-scheduled thread, or a refusal)."""
    number = _SCHED_SETATTR.get(platform.machine())
    if number is None or not hasattr(os, "sched_getscheduler"):
        return False
    policy = os.sched_getscheduler(0)
    if policy != os.SCHED_OTHER:
        return False
    libc = c_library()
    if libc is None:
        return False
    nice = os.getpriority(os.PRIO_PROCESS, 0)
    attr = ctypes.create_string_buffer(
        _SCHED_ATTR.pack(_SCHED_ATTR.size, policy, 0, nice, 0, nanoseconds, 0, 0)
    )
    if libc.syscall(number, 0, attr, 0) != 0:
        return False
    # Kernels before 6.12 accept the call and ignore the runtime of a fair task.
    return current_slice() == nanoseconds


def current_slice() -> int | None:
    """The calling thread's time slice in nanoseconds, as the kernel reports it (None if it does not)."""
    try:
        lines = Path("/proc/thread-self/sched").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() == "se.slice":
            return int(value.strip())
    return None
