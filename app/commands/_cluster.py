"""``reid index PATH... --cluster local|auto|ray://HOST:PORT``: the command's jobs run by Ray actors.

``reid index`` enqueues its files as ever; with ``--cluster`` its jobs are run by
``--cluster-workers`` Ray actors (``reid.jobs.ray_cluster.ClusterIndexing``) instead of a local
worker, and the command follows the job rows, printing the same lines. Ray is optional: only
this path imports it.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.commands._common import UserError, open_store, printable, say

logger = logging.getLogger(__name__)

__all__ = ["add_cluster_arguments", "run_cluster"]


def add_cluster_arguments(p: argparse.ArgumentParser) -> None:
    """``--cluster`` and the sizes of its workers."""
    p.add_argument("--cluster", metavar="local|auto|ray://HOST:PORT",
                   help="run the jobs on Ray actors instead of a local worker: 'local' starts Ray "
                   "on this machine (and stops it after), 'auto' joins the cluster this machine "
                   "is part of, ray://HOST:PORT connects to its client port. Every worker opens "
                   "the same gallery: with the default SQLite database they must all run on this "
                   "machine; a real cluster needs --db-url postgresql+psycopg://... and the data "
                   "dir and videos on storage mounted at the same path on every node (pip "
                   "install 'tfclip-reid[cluster]')")
    p.add_argument("--cluster-workers", type=int, default=2,
                   help="Ray actors to start, each running jobs one at a time (default 2)")
    p.add_argument("--worker-cpus", type=float, default=1.0,
                   help="CPUs each Ray worker reserves (default 1; sets its OMP_NUM_THREADS)")
    p.add_argument("--worker-gpus", type=float, default=0.0,
                   help="GPUs each Ray worker reserves (default 0; with GPUs and no --device "
                   "the workers use cuda)")


@dataclass(frozen=True)
class _Status:
    """The few fields of ``ServiceStatus`` that ``reid index`` prints."""

    data_dir: Path
    videos: int
    tracklets: int
    notes: list[str] = field(default_factory=list)


class _GalleryView:
    """What ``reid index``'s loop needs of a service, from the store alone: this process builds
    no model (the Ray workers do)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.data_dir = store.data_dir

    def status(self) -> _Status:
        counts = self.store.catalogue.counts()
        videos = counts.get("videos") or {}
        total = sum(videos.values()) if isinstance(videos, dict) else int(videos)
        return _Status(self.data_dir, int(total), int(counts.get("tracklets") or 0))


def cluster_settings(args: argparse.Namespace) -> Any:
    """The workers' settings (``app.settings.Settings``): this command's, with absolute paths
    (actors do not share this process's working directory) and cuda when they get GPUs."""
    from app.settings import Settings

    settings = Settings.from_sources(args)
    changes: dict[str, Any] = {"data_dir": settings.data_dir.expanduser().resolve()}
    if settings.checkpoint and Path(settings.checkpoint).expanduser().exists():
        changes["checkpoint"] = str(Path(settings.checkpoint).expanduser().resolve())
    if (args.worker_gpus > 0 and settings.device == "cpu" and args.device is None
            and "REID_DEVICE" not in os.environ):
        changes["device"] = "cuda"
    return dataclasses.replace(settings, **changes)


def run_cluster(args: argparse.Namespace, start: Any, index_all: Callable[..., int]) -> int:
    """Connect to Ray, start the workers, then run ``reid index``'s loop (``index_all``) with
    the actors running its jobs. Returns the exit code."""
    from app.compose import ServiceFactory
    from reid.jobs.ray_cluster import ClusterError, ClusterIndexing, check_address, ray_session

    try:
        address = check_address(args.cluster)
        settings = cluster_settings(args)
        cluster = ClusterIndexing(ServiceFactory(settings), workers=args.cluster_workers,
                                  cpus=args.worker_cpus, gpus=args.worker_gpus,
                                  name=f"ray{os.getpid()}")
    except ClusterError as exc:
        raise UserError(str(exc)) from None
    if settings.db_url is None and address != "local":
        say("note: the gallery database is SQLite (no --db-url): every Ray worker must run on "
            "this machine; use PostgreSQL and shared storage for a cluster")
    notes: set[str] = set()

    def worker(name: str, info: dict[str, Any] | str) -> None:
        if isinstance(info, str):
            say(f"worker {name}: gone ({printable(info)})")
            return
        say(f"worker {name} ready on {printable(info['host'])} (pid {info['pid']}): detector "
            f"{printable(info['detector'])}, embedder {printable(info['embedder'])}")
        for note in info.get("notes", []):
            if note not in notes:
                notes.add(note)
                say(f"note: {note}")

    def run_jobs(queue: Any, job_ids: list[int], **callbacks: Any) -> int:
        """Run the jobs on the actors; returns how many were left unfinished."""
        try:
            summary = cluster.run(queue, job_ids, on_worker=worker, **callbacks)
        except BaseException:
            cluster.close(queue, job_ids)  # interrupted: give the actors' jobs back
            raise
        cluster.close()
        left = len(set(job_ids)) - len(summary.final)
        if left:
            say(f"no Ray worker left to run them: {left} jobs stay in the queue (pending); run "
                "`reid worker` or this command again")
        return left

    try:
        with ray_session(address) as session:
            cluster.check_resources(session)
            say(f"Ray {printable(session.address)}: {session.cpus:g} CPUs, {session.gpus:g} GPUs; "
                f"{args.cluster_workers} workers with {args.worker_cpus:g} CPUs, "
                f"{args.worker_gpus:g} GPUs each")
            cluster.start()
            try:
                with open_store(settings) as store:
                    return index_all(_GalleryView(store), args, start, run_jobs=run_jobs)
            finally:
                cluster.close()  # no-op after run_jobs; ends the actors when nothing was enqueued
    except ClusterError as exc:
        raise UserError(str(exc)) from None
