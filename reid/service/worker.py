"""Indexing in a separate worker process: a crash in native code fails one video, not the caller.

Decoders, OpenCV and the detectors run native code on untrusted files; a segfault or abort there
would take down whatever process runs them (``reid serve`` with its searches, or a whole
``reid index`` batch). :class:`IndexWorker` runs jobs in a child process started with the
``spawn`` method, which builds its own ``ReidService`` from a picklable factory and indexes one
job at a time::

    worker = IndexWorker(factory, niceness=10)
    report = worker.submit(IndexJobSpec("/videos/cam1/a.mp4", camera="cam1"), progress)
    worker.close()

``submit`` returns the child's :class:`~reid.service.types.IndexReport` and forwards its progress
messages to ``progress(fraction, message)`` in the calling thread. When the child dies
(SIGSEGV, abort, ``os._exit``, OOM kill) or stops reporting for ``stall_timeout_s``, ``submit``
raises :class:`WorkerCrashedError`; the next ``submit`` starts a fresh child. The caller (see
``ReidService``) marks the video failed; the gallery's write lock (``flock``) dies with the child.

Test hook: ``REID_TEST_WORKER_CRASH=NAME:HOW`` (read in the child only) makes the child kill
itself on its first progress message for a file called ``NAME``; ``HOW`` is ``segv`` (default),
``abort`` or ``exit``.
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from reid.service._parent import exit_with_parent
from reid.service.types import IndexReport, ProgressFn

logger = logging.getLogger(__name__)

CRASH_HOOK_ENV = "REID_TEST_WORKER_CRASH"
_PROGRESS_INTERVAL_S = 0.1


class WorkerError(RuntimeError):
    """The indexing worker could not run a job (it did not start, or it died)."""


class WorkerCrashedError(WorkerError):
    """The worker process died or hung while running a job.

    Attributes:
        exitcode: the child's exit code (negative: killed by that signal; None: it hung).
    """

    def __init__(self, message: str, exitcode: int | None) -> None:
        super().__init__(message)
        self.exitcode = exitcode


@dataclass(frozen=True)
class IndexJobSpec:
    """One video to index (picklable): the arguments of ``ReidService.index_video``."""

    path: str
    camera: str | None = None
    start_time: dt.datetime | None = None
    actor: str = "cli"


Message = tuple[Any, ...]
"""What parent and child send each other: ``(kind, *values)``; ``kind`` is ``"ready"``,
``"fatal"``, ``"progress"``, ``"report"`` or ``"error"`` (``"died"``/``"timeout"`` are made up
by the parent)."""

ServiceFactory = Callable[[], Any]
"""A picklable callable building the ``ReidService`` the child indexes with (same settings)."""


def describe_exit(exitcode: int | None) -> str:
    """``"SIGSEGV"``, ``"SIGABRT"``, ``"exit code 3"``... for a child's ``exitcode``."""
    if exitcode is None:
        return "no answer"
    if exitcode < 0:
        try:
            return signal.Signals(-exitcode).name
        except ValueError:
            return f"signal {-exitcode}"
    return f"exit code {exitcode}"


def _as_message(received: object) -> Message:
    """A message from the other side; anything but a non-empty tuple counts as ``("died",)``."""
    if isinstance(received, tuple) and received:
        return received
    logger.error("the indexing worker sent %r, not a message", type(received).__name__)
    return ("died",)


class IndexWorker:
    """A child process that indexes one job at a time (see the module docstring).

    Args:
        factory: builds the child's service; must be picklable (the child is spawned).
        niceness: added to the child's nice value (lower CPU priority than searches).
        stall_timeout_s: a job whose child sends nothing (no progress) this long is killed.
        start_timeout_s: how long the child may take to import and build its models.
    """

    def __init__(self, factory: ServiceFactory, *, niceness: int = 0, stall_timeout_s: float = 900.0,
                 start_timeout_s: float = 600.0) -> None:
        self._factory = factory
        self._niceness = int(niceness)
        self._stall_timeout_s = float(stall_timeout_s)
        self._start_timeout_s = float(start_timeout_s)
        self._context = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()
        self._closing = False

    @property
    def pid(self) -> int | None:
        """The child's process id while one runs."""
        return self._process.pid if self._process is not None and self._process.is_alive() else None

    def submit(self, job: IndexJobSpec, progress: ProgressFn | None = None) -> IndexReport:
        """Index ``job`` in the child and return its report; progress is forwarded as it comes.

        Raises:
            WorkerCrashedError: the child died or hung during the job (a new one serves the next).
            WorkerError: the child could not start (its service could not be built).
            Exception: what the child's ``index_video`` raised (e.g. an embedder mismatch).
        """
        with self._lock:
            if self._closing:
                raise WorkerError("the indexing worker is closed (the program is shutting down)")
            try:
                conn = self._ensure_started(progress, job)
                conn.send(job)
                kind, value = self._wait_report(conn, progress)
            except BaseException:
                # KeyboardInterrupt or a crash: never leave a child running a half-done job.
                self._stop(kill=True)
                raise
        if kind == "error" and isinstance(value, BaseException):
            raise value
        if not isinstance(value, IndexReport):
            raise WorkerError(f"the indexing worker answered {type(value).__name__}, not a report")
        return value

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop the child: at once when idle; a job still running after ``timeout_s`` seconds is
        abandoned (its ``submit`` raises ``WorkerError``; the video stays ``indexing``, to be
        resumed by the next run, as after a kill)."""
        self._closing = True
        if self._lock.acquire(timeout=timeout_s):
            try:
                self._stop(kill=False, timeout_s=timeout_s)
            finally:
                self._lock.release()
            return
        process = self._process
        if process is not None and process.is_alive():
            logger.warning("stopping the indexing worker in the middle of a job")
            process.kill()

    def __enter__(self) -> IndexWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- parent side
    def _ensure_started(self, progress: ProgressFn | None, job: IndexJobSpec) -> Connection:
        if self._process is not None and self._process.is_alive() and self._conn is not None:
            return self._conn
        self._stop(kill=True)
        if progress is not None:
            progress(0.0, f"{Path(job.path).name}: starting the indexing worker")
        parent, child = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=_child_main, name="reid-index-worker", daemon=True,
            args=(child, self._factory, self._niceness, logging.getLogger().getEffectiveLevel()),
        )
        process.start()
        child.close()
        self._process, self._conn = process, parent
        deadline = time.monotonic() + self._start_timeout_s
        while True:
            message = self._receive(parent, deadline)
            if message[0] in ("died", "timeout"):
                code = self._reap()
                raise WorkerError(f"the indexing worker did not start ({describe_exit(code)}); "
                                  "see the log above")
            if message[0] == "ready":
                logger.info("indexing worker started (pid %d, niceness +%d)", process.pid, self._niceness)
                return parent
            if message[0] == "fatal":
                self._reap()
                raise WorkerError(f"the indexing worker could not start: {message[1]}")

    def _wait_report(self, conn: Connection, progress: ProgressFn | None) -> tuple[str, object]:
        """``("report", IndexReport)`` or ``("error", exception raised in the child)``."""
        while True:
            message = self._receive(conn, time.monotonic() + self._stall_timeout_s)
            if message[0] in ("died", "timeout"):
                hung = message[0] == "timeout"
                code = self._reap()
                if self._closing:
                    raise WorkerError("indexing was interrupted: the program is shutting down")
                what = (f"stopped answering for {self._stall_timeout_s:.0f} s" if hung
                        else f"crashed ({describe_exit(code)})")
                raise WorkerCrashedError(f"the indexing worker {what} while indexing this video",
                                         None if hung else code)
            kind = message[0]
            if kind == "progress":
                if progress is not None:
                    progress(float(message[1]), str(message[2]))
            elif kind in ("report", "error"):
                return kind, message[1]

    def _receive(self, conn: Connection, deadline: float) -> Message:
        """The next message; ``("died",)`` when the child died, ``("timeout",)`` when nothing
        came before ``deadline``."""
        while time.monotonic() < deadline:
            try:
                if conn.poll(0.2):
                    return _as_message(conn.recv())
            except (EOFError, OSError):
                return ("died",)
            if self._process is None or not self._process.is_alive():
                try:
                    return _as_message(conn.recv()) if conn.poll(0) else ("died",)
                except (EOFError, OSError):
                    return ("died",)
        return ("timeout",)

    def _reap(self) -> int | None:
        """Kill (if needed) and forget the child; its exit code (None if unknown)."""
        process = self._process
        code = None
        if process is not None:
            if process.is_alive():
                process.kill()
            process.join(10)
            code = process.exitcode
        if self._conn is not None:
            self._conn.close()
        self._process, self._conn = None, None
        return code

    def _stop(self, *, kill: bool, timeout_s: float = 10.0) -> None:
        process = self._process
        if process is None:
            return
        if not kill and process.is_alive() and self._conn is not None:
            try:
                self._conn.send(None)  # "no more jobs"
                process.join(timeout_s)
            except OSError:
                pass
        self._reap()


# --------------------------------------------------------------------- child side
def _child_main(conn: Connection, factory: ServiceFactory, niceness: int, log_level: int) -> None:
    """The worker process: build the service, then index jobs until told to stop."""
    prepare_child(niceness, log_level)
    try:
        service = factory()
    except Exception as exc:
        conn.send(("fatal", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        try:
            report = service.index_video(job.path, job.camera, job.start_time,
                                         _progress_sender(conn, job), job.actor)
        except Exception as exc:  # index_video reports bad files itself; this is e.g. a mismatch
            _send(conn, ("error", _picklable(exc)))
            continue
        _send(conn, ("report", report))


def prepare_child(niceness: int, log_level: int) -> None:
    """The start of an indexing child process (this module's worker and ``reid.jobs.local``'s):
    logging, Ctrl-C left to the parent (it reaches the whole process group; the parent decides
    what happens to the job), exit with the parent, ``niceness`` lower CPU priority."""
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # a killed parent cannot stop this child: its job then stays `indexing`, resumed next run
    exit_with_parent()
    if niceness > 0 and hasattr(os, "nice"):
        try:
            os.nice(niceness)
        except OSError as exc:
            logger.info("indexing worker runs at normal priority (%s)", exc)


def _send(conn: Connection, message: Message) -> None:
    try:
        conn.send(message)
    except OSError:  # the parent is gone (BrokenPipeError): nobody wants this job any more
        os._exit(1)


def _progress_sender(conn: Connection, job: IndexJobSpec) -> ProgressFn:
    crash = _crash_hook(job)
    last = [0.0]

    def progress(fraction: float, message: str) -> None:
        if crash is not None:
            crash()
        now = time.monotonic()
        if fraction < 0.97 and now - last[0] < _PROGRESS_INTERVAL_S:
            return
        last[0] = now
        _send(conn, ("progress", float(fraction), str(message)))

    return progress


def _crash_hook(job: IndexJobSpec) -> Callable[[], None] | None:
    """The test hook of the module docstring, for this job (None when not asked for)."""
    spec = os.environ.get(CRASH_HOOK_ENV, "")
    name, _, how = spec.partition(":")
    if not name or Path(job.path).name != name:
        return None

    def crash() -> None:
        logger.warning("%s: crashing the indexing worker on purpose (%s)", job.path, CRASH_HOOK_ENV)
        if how == "abort":
            os.abort()
        elif how == "exit":
            os._exit(3)
        os.kill(os.getpid(), signal.SIGSEGV)

    return crash


def _picklable(exc: Exception) -> Exception:
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
