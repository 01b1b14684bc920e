"""A search server's vector index built from a PostgreSQL catalogue and following it (issue 13,
part 3): what it costs to start, to stay current, and to see other machines' writes.

A real PostgreSQL server (as in the tests: ``tests/support/postgres.py``) gets the store's schema
and ``--videos x --per-video`` tracklets with unit ``--dim`` descriptors (``pg_catalogue.load``).
Then, through the store's own code (``Store.open(..., index_source="database")``):

- **build**: the first search builds the index from every descriptor in the database (read in
  chunks of 20,000 rows, the kind chosen by ``--index``: ``auto`` is exact below 50,000 vectors,
  ``ivfsq`` above); time and RSS after;
- **idle refresh**: a refresh when nothing changed (what every search pays at most every 0.5 s:
  the version row and the rows above the watermark, through the primary key), p50/p95;
- **append**: a writer (another ``Store`` on the catalogue, as a worker on another machine) adds
  one video of ``--append`` tracklets; the follower's next refresh reads just those rows: p50/p95
  over ``--reps`` videos;
- **delete**: the writer deletes one video; the follower compares its ids with the database's
  (version changed): time, and the longest a search made meanwhile waited (the database is read
  outside the lock searches take; only the change of the index is made under it);
- **search**: single-query latency after all this, p50/p95.

    python benchmarks/follow_index.py                         # 2x10^5 tracklets, 512-d
    python benchmarks/follow_index.py --videos 1000 --per-video 1000 --json out.json   # 10^6
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import create_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pg_catalogue import load  # noqa: E402
from search_10m import rss_gb  # noqa: E402

from reid.store import IndexConfig, Store, TrackletRecord, migrations  # noqa: E402
from reid.store._models import StoreMeta  # noqa: E402
from tests.support.postgres import PostgresServer  # noqa: E402


def percentiles(ms: list[float]) -> dict[str, float]:
    """p50/p95 of a list of milliseconds, rounded."""
    a = np.asarray(ms)
    return {"p50_ms": round(float(np.percentile(a, 50)), 2),
            "p95_ms": round(float(np.percentile(a, 95)), 2), "n": len(ms)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=200)
    ap.add_argument("--per-video", type=int, default=1000)
    ap.add_argument("--cameras", type=int, default=20)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--index", default="auto", help="index kind (default auto)")
    ap.add_argument("--append", type=int, default=200, help="tracklets per appended video")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args()

    server = PostgresServer().start()
    out: dict[str, Any] = {"benchmark": "benchmarks/follow_index.py", "date": str(dt.date.today()),
                           "argv": sys.argv[1:], "cores": os.cpu_count(),
                           "load1_before": os.getloadavg()[0]}
    try:
        url = server.create_database("follow")
        engine = create_engine(url)
        with engine.begin() as con:
            migrations.upgrade(con, "head")
        n = args.videos * args.per_video
        print(f"loading {n:,d} tracklets of {args.dim}-d", flush=True)
        out["load"] = load(engine, args.cameras, args.videos, args.per_video, args.dim, args.seed,
                           unit=True)
        fingerprint = {"model": "benchmark", "dim": args.dim}
        with engine.begin() as con:
            con.execute(StoreMeta.__table__.insert(),
                        [{"key": "embedder_fingerprint", "value": fingerprint}])
        engine.dispose()

        config = IndexConfig(kind=args.index)
        root = Path(tempfile.mkdtemp(prefix="follow-"))
        t = time.perf_counter()
        follower = Store.open(root / "server", db_url=url, index_config=config,
                              index_source="database")
        out["open_s"] = round(time.perf_counter() - t, 2)
        writer = Store.open(root / "worker", db_url=url, index_config=config,
                            index_source="database")
        rng = np.random.default_rng(args.seed + 1)
        rss0 = rss_gb()
        t = time.perf_counter()
        report = follower.vectors.follow(force=True)
        out["build"] = {"s": round(time.perf_counter() - t, 1), "vectors": report.added,
                        "kind": follower.index.kind if follower.index else None,
                        "rss_gb_before": round(rss0, 2), "rss_gb_after": round(rss_gb(), 2)}
        print(f"built from the database: {out['build']}", flush=True)

        idle = []
        for _ in range(200):
            t = time.perf_counter()
            follower.vectors.follow(force=True)
            idle.append(1e3 * (time.perf_counter() - t))
        out["idle_refresh"] = percentiles(idle)
        print(f"idle refresh: {out['idle_refresh']}", flush=True)

        appended, videos = [], []
        for i in range(args.reps):
            vid = writer.add_video(f"/new/{i}.mp4", f"new-{i}", "cam-new", fps=10.0, duration_s=60.0)
            frames = np.arange(10)
            boxes = np.tile(np.array([0, 0, 50, 120], np.float32), (10, 1))
            recs = [TrackletRecord(j, frames, boxes, 0.0, 1.0) for j in range(args.append)]
            x = rng.standard_normal((args.append, args.dim)).astype(np.float32)
            writer.add_tracklets(vid, recs, x, fingerprint)
            videos.append(vid)
            t = time.perf_counter()
            added = follower.vectors.follow(force=True).added
            appended.append(1e3 * (time.perf_counter() - t))
            assert added == args.append, (added, args.append)
        out["append_refresh"] = dict(percentiles(appended), tracklets=args.append)
        print(f"refresh after one appended video: {out['append_refresh']}", flush=True)

        writer.delete_video(videos[0])
        # the refresh in a thread, searches meanwhile: how long a search waits for it
        probe = rng.standard_normal((1, args.dim)).astype(np.float32)
        result: dict[str, Any] = {}

        def refresh() -> None:
            t0 = time.perf_counter()
            result["removed"] = follower.vectors.follow(force=True).removed
            result["s"] = time.perf_counter() - t0

        thread = threading.Thread(target=refresh)
        thread.start()
        during = []
        while thread.is_alive():
            t = time.perf_counter()
            follower.search_vectors(probe, 10)
            during.append(1e3 * (time.perf_counter() - t))
        thread.join()
        out["delete_refresh"] = {"s": round(result["s"], 2), "removed": result["removed"],
                                 "searches_during": len(during),
                                 "max_search_ms_during": round(max(during, default=0.0), 1)}
        print(f"refresh after a deletion: {out['delete_refresh']}", flush=True)

        queries = rng.standard_normal((200, args.dim)).astype(np.float32)
        lat = []
        for q in queries:
            t = time.perf_counter()
            follower.search_vectors(q[None], 10)
            lat.append(1e3 * (time.perf_counter() - t))
        out["search"] = percentiles(lat)
        out["vectors"] = follower.index.ntotal if follower.index else 0
        out["load1_after"] = os.getloadavg()[0]
        print(f"search (refresh due every 0.5 s included): {out['search']}", flush=True)
        follower.close()
        writer.close()
    finally:
        server.stop()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
