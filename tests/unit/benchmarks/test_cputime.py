"""bench/cputime.py: the process tree whose CPU time a multi-process server is charged."""

from __future__ import annotations

import os
import subprocess
import sys

from bench.cputime import descendants, parents, tree_times


def test_descendants_follow_parent_links_down_from_the_root_only() -> None:
    parent_of = {1: 0, 10: 1, 11: 10, 12: 10, 13: 11, 20: 1, 21: 20}
    assert descendants(10, parent_of) == {10, 11, 12, 13}
    assert descendants(13, parent_of) == {13}
    assert descendants(99, parent_of) == {99}


def test_the_tree_of_this_process_includes_a_child_and_its_child() -> None:
    # A child that starts a grandchild and waits on its stdin: both must be in our tree while they live.
    script = (
        "import subprocess, sys\n"
        "wait = 'import sys; sys.stdin.read()'\n"
        "p = subprocess.Popen([sys.executable, '-c', wait], stdin=subprocess.PIPE)\n"
        "print(p.pid, flush=True)\n"
        "sys.stdin.read()\n"
        "p.stdin.close()\n"
        "p.wait()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        grandchild = int(child.stdout.readline())
        assert parents()[grandchild] == child.pid
        tree = tree_times(os.getpid())
        assert {os.getpid(), child.pid, grandchild} <= tree.pids
        assert tree.seconds >= 0
        assert tree_times(child.pid).pids == {child.pid, grandchild}
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)
