"""Worker ids of the indexing queue (``reid.store._jobs``): ``"<machine>:<pid>[:<name>]"``, so that
the queue can tell a claimed job whose worker process on this machine is gone
(:meth:`reid.store._jobs.JobQueue.requeue_orphans`) without waiting for its lease."""

from __future__ import annotations

import os
import socket

__all__ = ["machine_id", "parse_worker_id", "pid_alive", "worker_id_for"]


def machine_id() -> str:
    """This machine as worker ids name it: the host name, plus the inode of this process's PID
    namespace where there is one (``host~4026531836``), so that containers sharing a host name
    but not their process ids never judge each other's workers dead."""
    host = socket.gethostname().replace(":", "_")
    try:
        return f"{host}~{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        return host


def worker_id_for(name: str | None = None, pid: int | None = None) -> str:
    """A worker id ``"<machine>:<pid>[:<name>]"`` (:func:`machine_id`; ``pid`` defaults to this
    process's): the queue can tell a worker of this machine whose process is gone (see
    :meth:`JobQueue.requeue_orphans`)."""
    base = f"{machine_id()}:{os.getpid() if pid is None else pid}"
    return f"{base}:{name}" if name else base


def parse_worker_id(worker_id: str) -> tuple[str, int] | None:
    """``(machine, pid)`` of an id made by :func:`worker_id_for`, None for any other id."""
    parts = worker_id.split(":")
    if len(parts) < 2 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine (PID namespace) exists, ours or not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
