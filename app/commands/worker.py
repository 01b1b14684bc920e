"""``reid worker``: run indexing jobs from the gallery's queue (``reid index`` and the web UI
enqueue them) until stopped; any number of workers may share one gallery database."""

from __future__ import annotations

import argparse
import logging

from app.commands._common import UserError, build_service_from_args, say
from app.settings import add_settings_arguments

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "worker", help="run queued indexing jobs (from reid index, the web UI) until stopped",
        description="Claim indexing jobs from the gallery's queue one at a time and index them. "
        "A job whose worker stops heart-beating for --lease-s seconds (or whose process on this "
        "machine died) is taken back and indexed again, with nothing stored twice. SIGTERM or "
        "Ctrl-C gives the current job back to the queue and exits.",
    )
    p.add_argument("--worker-id", help="a name for this worker (shown in the job rows; "
                   "default: host:pid)")
    p.add_argument("--heartbeat-s", type=float, default=10.0,
                   help="seconds between lease renewals while a video is indexed (default 10)")
    p.add_argument("--lease-s", type=float, default=60.0,
                   help="a job not heart-beaten this long is taken back from its worker "
                   "(default 60; keep it well above --heartbeat-s)")
    p.add_argument("--poll-s", type=float, default=2.0,
                   help="seconds between looks at the queue when it is empty (default 2)")
    p.add_argument("--once", action="store_true", help="run one job (if any is pending), then exit")
    p.add_argument("--max-jobs", type=int, default=None, help="exit after this many jobs")
    add_settings_arguments(p, indexing=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not 0 < args.heartbeat_s < args.lease_s:
        raise UserError(f"need 0 < --heartbeat-s < --lease-s, got {args.heartbeat_s} and "
                        f"{args.lease_s}")
    if args.max_jobs is not None and args.max_jobs < 1:
        raise UserError(f"--max-jobs must be >= 1, got {args.max_jobs}")
    if args.poll_s <= 0:
        raise UserError(f"--poll-s must be positive, got {args.poll_s}")
    from app.commands.index import job_line
    from reid.jobs import run_worker, stop_on_sigterm
    from reid.store._jobs import worker_id_for

    service = build_service_from_args(args)
    service.use_worker_process()  # a native crash fails one attempt, not this worker
    worker_id = worker_id_for(args.worker_id)
    say(f"worker {worker_id}: waiting for jobs in {service.data_dir}"
        if not args.once else f"worker {worker_id}: one job from {service.data_dir}")
    try:
        with stop_on_sigterm():
            summary = run_worker(
                service.store.jobs, service, worker_id=worker_id, heartbeat_s=args.heartbeat_s,
                lease_s=args.lease_s, poll_s=args.poll_s, once=args.once, max_jobs=args.max_jobs,
                on_final=lambda job, report: say(job_line(job, report)),
                on_retry=lambda job, report: say(f"attempt {job.attempts} of job {job.id} failed "
                                                 f"(will retry): {report.error}"))
    except KeyboardInterrupt:
        say(f"worker {worker_id}: stopped (a job it was running went back to the queue)")
        return 0
    finally:
        service.close()
    if args.once and not summary.attempts:
        say("no pending job")
    say(f"worker {worker_id}: {len(summary.done)} done, {len(summary.failed)} failed, "
        f"{len(summary.retried)} retried")
    return 1 if summary.failed else 0
