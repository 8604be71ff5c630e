"""gslb/runtime/timeslice.py against the running kernel, in threads of their own (the attribute is a
thread's, so the test runner's own thread keeps its scheduling)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TypeVar

import pytest

from gslb.runtime import timeslice

T = TypeVar("T")


def in_a_thread(work: Callable[[], T]) -> T:
    results: list[T] = []
    thread = threading.Thread(target=lambda: results.append(work()))
    thread.start()
    thread.join(timeout=10)
    return results[0]


def test_a_default_thread_gets_the_short_slice_where_the_kernel_offers_it() -> None:
    before, granted, after = in_a_thread(
        lambda: (timeslice.current_slice(), timeslice.request_short_slice(), timeslice.current_slice())
    )
    if before is None:
        pytest.skip("this kernel reports no time slice (before Linux 6.6)")
    if granted:
        assert after == timeslice.SLICE_NS
    else:
        assert after == before  # refused or ignored: nothing changed
    assert timeslice.current_slice() == before  # the test's own thread kept its slice


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policies")
def test_a_batch_thread_is_left_as_it_is() -> None:
    def batch_then_ask() -> tuple[bool, int, int | None]:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
        before = timeslice.current_slice()
        granted = timeslice.request_short_slice()
        assert timeslice.current_slice() == before
        return granted, os.sched_getscheduler(0), before

    granted, policy, _ = in_a_thread(batch_then_ask)
    assert not granted and policy == os.SCHED_BATCH
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # only that thread was batch-scheduled
