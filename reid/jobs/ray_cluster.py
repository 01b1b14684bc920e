"""Indexing jobs run by Ray actors: ``reid index PATH... --cluster local|auto|ray://HOST:PORT``.

The gallery's job queue stays the truth. The caller enqueues its jobs, then
:class:`ClusterIndexing` starts N Ray actors (``num_cpus`` / ``num_gpus`` each); every actor
builds its own ``ReidService`` from a picklable factory (the same settings: the same data dir and
database) and runs the ordinary claim loop (:func:`reid.jobs.worker.run_worker`) on those jobs,
heart-beating into the job rows. The caller follows the rows (:func:`reid.jobs.watch.watch_jobs`),
so progress reaches it the same way whoever runs a job.

A worker node dying kills its actors with their jobs claimed. Their heartbeats stop; another
worker takes such a job back (at once when the dead actor ran on its own machine, whose process
table shows it gone; after the lease, ``lease_s``, from another machine) and indexes the video
again, after ``ReidService.index_video`` has deleted what the interrupted run left of it: nothing
is stored twice. Ray also restarts a dead actor (``max_restarts``) and re-runs its loop there.

With the default SQLite database every actor must run on the machine holding the data dir; a
real cluster needs the catalogue in PostgreSQL (``--db-url``) and the data dir and videos on
storage every node mounts at the same path, and the package installed on every node.

Ray is optional (``pip install 'tfclip-reid[cluster]'``); it is imported only on use. Connecting
(:func:`ray_session`) is in ``reid.jobs.ray_session``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from reid.jobs.ray_session import (
    INSTALL_HINT,
    ClusterError,
    RaySession,
    check_address,
    import_ray,
    ray_session,
)
from reid.jobs.watch import JobWatch, watch_jobs
from reid.service.types import IndexReport
from reid.store import JobInfo, JobQueue

logger = logging.getLogger(__name__)

__all__ = ["INSTALL_HINT", "ClusterError", "ClusterIndexing", "ClusterSummary", "RaySession",
           "check_address", "import_ray", "ray_session"]


class _IndexingActor:
    """One cluster worker (a Ray actor; see :meth:`ClusterIndexing.start`): its own service,
    built from the factory, running :func:`run_worker` over the given jobs."""

    def __init__(self, factory: Callable[[], Any], name: str, cpus: float) -> None:
        self._name = name
        _limit_threads(max(1, int(cpus)))
        self._service = factory()
        self._stop = threading.Event()

    def ready(self) -> dict[str, Any]:
        """Who this worker is: name, process id, host, models and the service's notes."""
        from reid.store._jobs import worker_id_for

        status = self._service.status()
        return {"name": self._name, "worker_id": worker_id_for(self._name), "pid": os.getpid(),
                "host": socket.gethostname(),
                "detector": status.detector, "embedder": status.embedder,
                "notes": list(status.notes)}

    def run(self, job_ids: list[int], heartbeat_s: float, lease_s: float, progress_s: float,
            poll_s: float) -> dict[str, Any]:
        """Run the claim loop on ``job_ids`` until each is done or failed (or :meth:`stop`)."""
        from reid.jobs.worker import run_worker
        from reid.store._jobs import worker_id_for

        self._stop.clear()
        summary = run_worker(self._service.store.jobs, self._service,
                             worker_id=worker_id_for(self._name), heartbeat_s=heartbeat_s,
                             lease_s=lease_s, progress_s=progress_s, poll_s=poll_s,
                             job_ids=job_ids, stop=self._stop)
        return dataclasses.asdict(summary)

    def stop(self) -> None:
        """Stop after the current job."""
        self._stop.set()

    def close(self) -> None:
        """Close the service (writes its queued audit entries)."""
        self._service.close()


@dataclass
class ClusterSummary:
    """What a :meth:`ClusterIndexing.run` saw: the jobs that ended, each worker's own summary
    (``run_worker``'s, as a dict) and the workers that died or never started (name: why)."""

    final: dict[int, JobInfo] = field(default_factory=dict)
    workers: dict[str, dict[str, Any]] = field(default_factory=dict)
    lost: dict[str, str] = field(default_factory=dict)


class ClusterIndexing:
    """N Ray actors running the gallery's queued indexing jobs (see the module docstring).

    Call inside :func:`ray_session`.

    Args:
        factory: picklable; builds a ``ReidService`` for the gallery (an absolute data dir).
        workers: how many actors.
        cpus, gpus: Ray resources each actor reserves (``num_cpus``, ``num_gpus``; Ray sets
            ``OMP_NUM_THREADS`` and ``CUDA_VISIBLE_DEVICES`` of the actor from them, and the
            actor keeps OpenCV's and torch's thread pools to ``int(cpus)`` threads).
        heartbeat_s, lease_s, progress_s, poll_s: the actors' :func:`run_worker` settings; a job
            of an actor on another machine that died is taken back after ``lease_s``.
        max_restarts: how often Ray restarts a dead actor (its claim loop runs again there).
        name: actor names are ``<name>-1``, ``<name>-2``, ... (in the job rows' worker ids;
            :meth:`close` gives back the jobs of workers so named: make it unique per run).
    """

    def __init__(self, factory: Callable[[], Any], *, workers: int = 2, cpus: float = 1.0,
                 gpus: float = 0.0, heartbeat_s: float = 10.0, lease_s: float = 60.0,
                 progress_s: float = 0.5, poll_s: float = 0.5, max_restarts: int = 2,
                 name: str = "ray") -> None:
        if workers < 1:
            raise ClusterError(f"--cluster-workers must be >= 1, got {workers}")
        if cpus <= 0 or gpus < 0:
            raise ClusterError(f"need --worker-cpus > 0 and --worker-gpus >= 0, got {cpus:g} "
                               f"and {gpus:g}")
        if not 0 < heartbeat_s < lease_s:
            raise ClusterError(f"need 0 < heartbeat_s < lease_s, got {heartbeat_s} and {lease_s}")
        self._factory = factory
        self._workers, self._cpus, self._gpus = int(workers), float(cpus), float(gpus)
        self._settings = (float(heartbeat_s), float(lease_s), float(progress_s), float(poll_s))
        self._max_restarts = int(max_restarts)
        self._name = name
        self.actors: dict[str, Any] = {}
        self.info: dict[str, dict[str, Any]] = {}

    def check_resources(self, session: RaySession) -> None:
        """Refuse workers the cluster can never schedule (Ray would wait for them forever).

        Raises:
            ClusterError: a worker needs more CPUs or GPUs than the cluster has in all.
        """
        if self._gpus > session.gpus:
            raise ClusterError(f"each worker asks for {self._gpus:g} GPUs but the Ray cluster at "
                               f"{session.address} has {session.gpus:g}")
        if self._cpus > session.cpus:
            raise ClusterError(f"each worker asks for {self._cpus:g} CPUs but the Ray cluster at "
                               f"{session.address} has {session.cpus:g}")
        fit = int(session.cpus // self._cpus)
        if self._gpus:
            fit = min(fit, int(session.gpus // self._gpus))
        if fit < self._workers:
            logger.warning("the cluster fits %d of the %d workers at once (%g CPUs, %g GPUs); the "
                           "others start when resources free up", fit, self._workers,
                           session.cpus, session.gpus)

    def start(self) -> None:
        """Create the actors (they build their services in the background)."""
        ray = import_ray()
        remote = ray.remote(_IndexingActor).options(
            num_cpus=self._cpus, num_gpus=self._gpus, max_restarts=self._max_restarts,
            max_task_retries=-1, max_concurrency=2)
        for i in range(1, self._workers + 1):
            name = f"{self._name}-{i}"
            self.actors[name] = remote.remote(self._factory, name, self._cpus)

    def run(self, queue: JobQueue, job_ids: Iterable[int], *, poll_s: float = 0.5,
            on_claim: Callable[[JobInfo], None] | None = None,
            on_progress: Callable[[JobInfo, float, str], None] | None = None,
            on_final: Callable[[JobInfo, IndexReport | None], None] | None = None,
            on_retry: Callable[[JobInfo, IndexReport], None] | None = None,
            on_worker: Callable[[str, dict[str, Any] | str], None] | None = None,
            ) -> ClusterSummary:
        """Have the actors run ``job_ids`` and follow the job rows until each job ended, or no
        actor is left to run the rest.

        ``on_worker(name, info)`` reports each actor: its :meth:`_IndexingActor.ready` dict
        once it runs, or a string saying why it died or could not start. The other callbacks
        are :func:`reid.jobs.watch.watch_jobs`'s.
        """
        ray = import_ray()
        if not self.actors:
            self.start()
        ids = sorted({int(i) for i in job_ids})
        summary = ClusterSummary()
        waiting: dict[Any, tuple[str, str]] = {}
        for name, actor in self.actors.items():
            waiting[actor.ready.remote()] = (name, "ready")
            waiting[actor.run.remote(ids, *self._settings)] = (name, "run")
        running = set(self.actors)

        def collect() -> bool:
            """Take in the actors' answers so far; True while one may still run jobs."""
            done, _ = ray.wait(list(waiting), num_returns=len(waiting), timeout=0)
            for ref in done:
                name, what = waiting.pop(ref)
                try:
                    value = ray.get(ref)
                except Exception as exc:  # the actor died for good, or its loop raised
                    why = _first_line(exc)
                    if name in running:
                        running.discard(name)
                        summary.lost[name] = why
                        logger.warning("cluster worker %s is gone: %s", name, why)
                        if on_worker is not None:
                            on_worker(name, why)
                    continue
                if what == "ready":
                    self.info[name] = value
                    if on_worker is not None:
                        on_worker(name, value)
                else:
                    running.discard(name)
                    summary.workers[name] = value
            return bool(running)

        seen: JobWatch = watch_jobs(queue, ids, poll_s=poll_s, keep_going=collect,
                                    on_claim=on_claim, on_progress=on_progress,
                                    on_final=on_final, on_retry=on_retry)
        # the loops end once they see every job final (within their poll_s): let them return
        runs = [ref for ref, (_, what) in waiting.items() if what == "run"]
        if runs:
            ray.wait(runs, num_returns=len(runs), timeout=10 + 2 * self._settings[3])
        collect()
        summary.final = seen.final
        return summary

    def close(self, queue: JobQueue | None = None, job_ids: Iterable[int] = (),
              timeout_s: float = 30.0) -> None:
        """Close the actors' services (writing their audit entries), then end the actors.

        With ``queue`` (an interrupted run: their loops are told to stop), jobs of ``job_ids``
        an actor still held go back to the queue at once, their attempt not counted; otherwise
        the next worker takes them back as after a crash.
        """
        if not self.actors:
            return
        ray = import_ray()
        closing = [actor.close.remote() for actor in self.actors.values()]
        if queue is not None:  # interrupted: the loops may still run
            closing += [actor.stop.remote() for actor in self.actors.values()]
        try:
            ray.wait(closing, num_returns=len(closing), timeout=timeout_s)
        except Exception:  # a dead actor: nothing to close
            logger.debug("closing the cluster workers", exc_info=True)
        for actor in self.actors.values():
            try:
                ray.kill(actor, no_restart=True)
            except Exception:
                logger.debug("ending a cluster worker", exc_info=True)
        names = tuple(f":{name}" for name in self.actors)  # worker ids end with the actor's name
        self.actors.clear()
        ids = sorted({int(i) for i in job_ids})
        if queue is None or not ids:
            return
        for job in queue.list(job_ids=ids, limit=None):
            if (job.state == "claimed" and (job.worker_id or "").endswith(names)
                    and queue.release(job.id, job.worker_id or "")):
                logger.warning("job %d given back (pending): the cluster run stopped", job.id)


def _limit_threads(n: int) -> None:
    """Keep a worker to the ``n`` CPUs it reserved: OpenCV's and torch's thread pools (Ray sets
    only ``OMP_NUM_THREADS``; OpenCV's own pool would use every core of the node)."""
    import cv2
    import torch

    cv2.setNumThreads(n)
    torch.set_num_threads(n)


def _first_line(exc: BaseException) -> str:
    """A Ray error in one line: its cause's message when it wraps one."""
    cause = getattr(exc, "cause", None) or exc
    text = str(cause).strip()
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("Traceback", "File ", "ray::", "The actor")):
            return f"{type(cause).__name__}: {line}"[:500]
    return type(cause).__name__
