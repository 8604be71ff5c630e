"""The C library, for the few calls Python's standard library does not wrap.

Batched UDP (gslb/answer/mmsg.py), the UDP thread's time slice (gslb/runtime/timeslice.py) and the malloc
arena setting (gslb/runtime/arenas.py) each need one or two libc functions; they share one handle. CDLL (not
PyDLL) releases the GIL for every call, as the socket module does.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache


@cache
def libc() -> ctypes.CDLL | None:
    """The process's C library, with ``errno`` kept for ``ctypes.get_errno``; None where it cannot
    be loaded."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    except OSError:
        return None
