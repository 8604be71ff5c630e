"""Pause Python's cyclic garbage collector while a snapshot or a zone is built.

Building a million-record snapshot allocates millions of objects, and the collector walks the
whole young heap every few hundred allocations and the whole heap now and then: a quarter of the
build's time, for cycles that hardly exist (answers, names and records form none). Nested and
concurrent pauses are counted, so the collector runs again only when the last one ends.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class _Pauses:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0


_PAUSES = _Pauses()


@contextmanager
def paused() -> Iterator[None]:
    with _PAUSES.lock:
        _PAUSES.depth += 1
        if _PAUSES.depth == 1:
            gc.disable()
    try:
        yield
    finally:
        with _PAUSES.lock:
            _PAUSES.depth -= 1
            if _PAUSES.depth == 0:
                gc.enable()
