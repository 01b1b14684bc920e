"""One local worker *process* for a server: it runs the gallery's queued indexing jobs.

``reid serve`` indexes in a child process, not in a thread of the web process: a crash in a codec
or the detector kills that child, never the server. :class:`LocalWorkerProcess` starts the child
(``spawn``; it builds its own service from a picklable factory and runs
:func:`reid.jobs.worker.run_worker` at a raised nice value) and a supervisor thread that, when the
child dies, records the crash on the job it held (a failed attempt, retried until the job's
``max_attempts``; the video row is marked failed meanwhile) and starts a new child. ``close()``
sends SIGTERM: the child gives its job back to the queue and exits. A child whose parent is gone
exits too; its claimed job is then taken back by the next worker of this machine.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from reid.store import JobQueue
from reid.store._jobs import worker_id_for

logger = logging.getLogger(__name__)

__all__ = ["LocalWorkerProcess", "child_worker_id"]

_NAME = "serve"


def child_worker_id(pid: int) -> str:
    """The worker id the child with process id ``pid`` claims jobs under."""
    return worker_id_for(_NAME, pid)


class LocalWorkerProcess:
    """A supervised child process running queued indexing jobs (see the module docstring).

    Args:
        factory: picklable; builds the child's ``ReidService`` (same settings as the server's).
        queue: the server's view of the job queue (the same database as the child's).
        niceness: added to the child's nice value, so that searches keep the cores.
        on_crash: ``(job path, message)`` after the child died holding a job (e.g. the server's
            ``ReidService.fail_interrupted``, which marks the half-indexed video failed).
        heartbeat_s, lease_s, poll_s: the child's :func:`~reid.jobs.worker.run_worker` settings.
        stall_s: a child whose job shows no new progress this long is killed (a hung decoder):
            that attempt fails as a crash would.
    """

    def __init__(self, factory: Callable[[], Any], queue: JobQueue, *, niceness: int = 10,
                 on_crash: Callable[[str, str], object] | None = None, heartbeat_s: float = 5.0,
                 lease_s: float = 60.0, poll_s: float = 0.5, stall_s: float = 900.0) -> None:
        self._factory = factory
        self._queue = queue
        self._niceness = int(niceness)
        self._on_crash = on_crash
        self._settings = (float(heartbeat_s), float(lease_s), float(poll_s))
        self._stall_s = float(stall_s)
        self._context = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._supervisor: threading.Thread | None = None
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        """The child's process id while one runs."""
        p = self._process
        return p.pid if p is not None and p.is_alive() else None

    def start(self) -> None:
        """Start the child and its supervisor (idempotent)."""
        with self._lock:
            if self._supervisor is not None:
                return
            self._spawn()
            self._supervisor = threading.Thread(target=self._supervise, daemon=True,
                                                name="reid-worker-supervisor")
            self._supervisor.start()

    def _spawn(self) -> None:
        heartbeat_s, lease_s, poll_s = self._settings
        process = self._context.Process(
            target=_child_main, name="reid-queue-worker", daemon=True,
            args=(self._factory, self._niceness, heartbeat_s, lease_s, poll_s,
                  logging.getLogger().getEffectiveLevel()))
        process.start()
        self._process = process
        logger.info("indexing worker process started (pid %d, niceness +%d)", process.pid,
                    self._niceness)

    def _supervise(self) -> None:
        backoff = 1.0
        while not self._stopping.is_set():
            process = self._process
            started = time.monotonic()
            hung = self._watch(process)
            if self._stopping.is_set():
                return
            crashed_in_job = self._after_death(process.pid, process.exitcode, hung)
            # A child that dies at once without a job (e.g. its models cannot be built) is not
            # restarted in a tight loop; one that crashed in a job or ran a while is, at once.
            quick = not crashed_in_job and time.monotonic() - started < 60
            backoff = min(60.0, backoff * 2) if quick else 1.0
            if self._stopping.wait(backoff):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                self.restarts += 1
                self._spawn()

    def _held(self, pid: int) -> list[Any]:
        """The jobs the child ``pid`` holds (claimed under its worker id)."""
        worker_id = child_worker_id(pid)
        return [j for j in self._queue.list(state="claimed", limit=None) if j.worker_id == worker_id]

    def _watch(self, process: Any) -> bool:
        """Wait while the child lives; kill it when its job shows no progress for ``stall_s``.
        True when it was killed for that."""
        check_s = min(5.0, self._stall_s / 4)
        seen: tuple[Any, ...] | None = None
        changed = last_check = time.monotonic()
        while process.is_alive() and not self._stopping.is_set():
            process.join(0.5)
            now = time.monotonic()
            if now - last_check < check_s:
                continue
            last_check = now
            try:
                state = tuple((j.id, j.progress, j.message) for j in self._held(process.pid))
            except Exception:  # a busy database: look again later
                continue
            if state != seen or not state:
                seen, changed = state, now
            elif now - changed > self._stall_s:
                logger.error("the indexing worker showed no progress for %.0f s; killing it",
                             self._stall_s)
                process.kill()
                process.join(10)
                return True
        return False

    def _after_death(self, pid: int, exitcode: int | None, hung: bool = False) -> bool:
        """Record a crash on the job the dead child held; True when it held one."""
        from reid.service.worker import describe_exit

        how = describe_exit(exitcode)
        worker_id = child_worker_id(pid)
        try:
            held = self._held(pid)
        except Exception:
            logger.exception("could not read the job queue after the worker died")
            return False
        if not held:
            logger.warning("the indexing worker process exited (%s) while idle; restarting", how)
            return False
        for job in held:
            message = (f"the indexing worker stopped answering for {self._stall_s:.0f} s while "
                       "indexing this video" if hung
                       else f"the indexing worker crashed ({how}) while indexing this video")
            logger.error("job %d (%s): %s", job.id, job.path, message)
            try:
                if self._on_crash is not None:
                    self._on_crash(job.path, message)
                self._queue.fail(job.id, worker_id, message, retry=True)
            except Exception:
                logger.exception("could not record the crash of job %d", job.id)
        return True

    def close(self, timeout_s: float = 20.0) -> None:
        """Stop the child: its job (if any) goes back to the queue; killed after ``timeout_s``."""
        self._stopping.set()
        with self._lock:
            process = self._process
        if process is not None and process.is_alive():
            os.kill(process.pid, signal.SIGTERM)
            process.join(timeout_s)
            if process.is_alive():
                logger.warning("the indexing worker did not stop in %.0f s; killing it", timeout_s)
                process.kill()
                process.join(5)
        if self._supervisor is not None:
            self._supervisor.join(5)


def _child_main(factory: Callable[[], Any], niceness: int, heartbeat_s: float, lease_s: float,
                poll_s: float, log_level: int) -> None:
    """The worker process: build the service, then run queued jobs until SIGTERM."""
    from reid.jobs.worker import run_worker, stop_on_sigterm
    from reid.service.worker import IndexJobSpec, _crash_hook, prepare_child

    prepare_child(niceness, log_level)  # Ctrl-C of the server: it stops us (SIGTERM)
    service = factory()

    def crash_hook(job: Any, fraction: float, message: str) -> None:
        # The indexing worker's test hook (REID_TEST_WORKER_CRASH), honoured here too.
        crash = _crash_hook(IndexJobSpec(job.path))
        if crash is not None:
            crash()

    try:
        with stop_on_sigterm():
            run_worker(service.store.jobs, service, worker_id=child_worker_id(os.getpid()),
                       heartbeat_s=heartbeat_s, lease_s=lease_s, poll_s=poll_s, progress_s=0.3,
                       on_progress=crash_hook)
    except KeyboardInterrupt:
        logger.info("indexing worker process stopped")
    finally:
        service.close()

