"""gslb/runtime/arenas.py in processes of their own: the setting is a process's, and the test runner's own
allocator should stay as it is. glibc's malloc_stats() prints one "Arena N:" block per arena."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="a glibc malloc setting")

# Four threads allocate (Python objects over 512 bytes come from malloc) and hold their memory until
# all of them have, so none can take over an arena another left.
PROGRAM = """
import ctypes, sys, threading
from gslb.runtime import arenas
print(arenas.use_one_arena() if sys.argv[1] == "one" else None)
sys.stdout.flush()
together = threading.Barrier(4)
held = []
def allocate():
    held.append([bytes(2000) for _ in range(200)])
    together.wait(timeout=10)
threads = [threading.Thread(target=allocate) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
ctypes.CDLL(None).malloc_stats()
"""


def arenas_used(mode: str, env: dict[str, str] | None = None) -> tuple[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True, timeout=60, env=env, check=True
    )
    return done.stdout.strip(), sum(line.startswith("Arena ") for line in done.stderr.splitlines())


def test_threads_share_one_arena_once_asked() -> None:
    assert arenas_used("one") == ("True", 1)


def test_without_it_each_thread_gets_its_own() -> None:
    """The control: the count above is not what this machine does anyway."""
    answer, count = arenas_used("default")
    assert answer == "None"
    assert count >= 2


def test_an_operators_own_setting_is_left_alone() -> None:
    env = {**os.environ, "MALLOC_ARENA_MAX": "3"}
    answer, count = arenas_used("one", env)
    assert answer == "False"
    assert count == 3
