"""One malloc arena for an answering process, so that snapshot updates reuse memory already mapped.

glibc gives each new thread that allocates its own malloc arena, a heap that starts empty. The
snapshot follower applies a store change in an executor thread, and an update copies the answer
tables, dicts of megabytes at 100,000 pools. In a fresh arena every such copy lands on new pages, and
each page costs a fault, so the first updates after a start were several times slower than later
ones; in the arena that built the snapshot, memory freed by earlier snapshots is reused
(bench/README.md, "Measurements behind the code").

The process's threads run Python under the GIL almost all the time, so they never needed arenas of
their own to avoid waiting for each other's allocations.
"""

from __future__ import annotations

import os
import platform

from gslb.runtime.libc import libc as c_library

M_ARENA_MAX = -8
"""mallopt's parameter for the most arenas glibc creates (malloc.h)."""


def use_one_arena() -> bool:
    """Make threads created from now on share the main arena; True if glibc took the setting.

    Call it before starting threads: arenas already created stay. An operator's own choice
    (``MALLOC_ARENA_MAX`` or a ``glibc.malloc.arena_max`` tunable) is left alone.
    """
    if platform.libc_ver()[0] != "glibc":
        return False
    if "MALLOC_ARENA_MAX" in os.environ or "arena_max" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    libc = c_library()
    return libc is not None and bool(libc.mallopt(M_ARENA_MAX, 1) == 1)
