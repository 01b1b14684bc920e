"""Child processes that end when the process that started them is gone.

A ``reid serve`` or ``reid index`` killed with SIGKILL cannot stop its children; without this, its
indexing worker (a loaded model: ~1 GB) or its playback decoder would wait for work for ever.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time

__all__ = ["exit_with_parent"]


def exit_with_parent(parent_pid: int | None = None, poll_s: float = 0.5) -> None:
    """In a child process: exit (``os._exit(1)``) as soon as its parent is gone.

    Args:
        parent_pid: the parent's pid as the parent knew it; default: the one the
            ``multiprocessing`` start handed over, else ``os.getppid()``. Reading the parent from
            ``os.getppid()`` inside the child is not enough: a parent killed while the child was
            still importing has already been replaced by the reaper (pid 1), and the child would
            wait for that one.
        poll_s: how often the parent is looked for (a daemon thread).
    """
    if parent_pid is None:
        parent = multiprocessing.parent_process()
        parent_pid = parent.pid if parent is not None and parent.pid else os.getppid()

    def gone() -> bool:
        return os.getppid() != parent_pid

    if gone():
        os._exit(1)

    def watch() -> None:
        while not gone():
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="reid-exit-with-parent", daemon=True).start()
