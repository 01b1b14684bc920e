"""Children of a killed parent end: the indexing worker's start (``exit_with_parent``) and the
playback decoder's (``IsolatedCalls``), also when the parent dies while the child still starts.

Each case runs a parent process that starts the child, prints the child's pid and dies at once
with ``os._exit`` (what SIGKILL leaves: no clean-up); the child must then be gone within seconds.
Before, both were left waiting for ever (seen as two orphans, 1.1 GB and 0.1 GB, after CI).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie left for the reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def _orphan_pid(script: str, tmp_path: Path) -> int:
    """Run ``script`` as a parent that prints its child's pid and exits; return that pid. The
    output goes through a file: a pipe would stay open in the orphan, and reading it would wait
    for the orphan too."""
    out = tmp_path / "parent.out"
    with out.open("w") as handle:
        parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], cwd=REPO,
                                  stdout=handle, stderr=subprocess.STDOUT)
        assert parent.wait(timeout=120) == 0, out.read_text()[-3000:]
    return int(out.read_text().split()[-1])


def _ends_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    os.kill(pid, 9)  # leave nothing behind
    return False


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_a_child_still_starting_when_its_parent_dies_ends(tmp_path):
    pid = _orphan_pid("""
        import multiprocessing, os
        from tests.service.test_orphans import slow_starting_child
        child = multiprocessing.get_context("spawn").Process(target=slow_starting_child)
        child.start()
        print(child.pid, flush=True)
        os._exit(0)  # before the child is past its imports
    """, tmp_path)
    assert _ends_within(pid, 15), "the orphaned child kept running"


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_the_playback_child_ends_with_its_parent(tmp_path):
    pid = _orphan_pid("""
        import os
        from reid.service._isolated import IsolatedCalls
        calls = IsolatedCalls("test")
        print(calls.call(os.getpid), flush=True)  # the child is up and idle
        os._exit(0)
    """, tmp_path)
    assert _ends_within(pid, 15), "the orphaned playback child kept running"


def slow_starting_child() -> None:
    """A child whose start takes a while (as a worker's imports do), then waits for work."""
    from reid.service._parent import exit_with_parent

    time.sleep(1.5)
    exit_with_parent()
    time.sleep(120)
