"""The gallery catalogue on PostgreSQL at 10^6 tracklets: listing and filter queries, p95, EXPLAIN.

A real PostgreSQL server (Debian's binaries, started as in the tests: ``tests/support/postgres.py``;
or ``--db-url`` for one you run) gets the store's schema at the baseline migration (``0001``), then
``--videos`` videos over ``--cameras`` cameras with ``--per-video`` tracklets each, written through
the store's own tables (``TrackletRow.__table__``, SQLAlchemy bulk insert). Rows are the size real
ones are: a ``--dim``-float32 descriptor, a zlib box track of 20-600 frames, 16 crop paths.

Then the queries the application runs, through ``reid.store``'s own ``Catalogue`` (the SQL is the
store's, captured from the driver and run again under ``EXPLAIN``):

- ``list_videos`` (the videos page), ``list_cameras``;
- ``list_tracklets`` by camera (first page and page 20), by video (``reid.service``'s browse views);
- ``get_tracklets`` of 200 random ids (what one search reads for its candidates);
- tracklets in a time window: videos started within a 3-hour window, their tracklets overlapping
  it (``SearchFilters.time_from/time_to`` pushed into SQL);
- ``counts`` (``Store.stats``: per status, per camera, per video, total).

``results/pg_catalogue_2026-12-01_join_paging.json`` is the run before ``list_tracklets`` paged ids
from the index and ``counts`` made one pass (its ``proposed_*`` rows measured those forms).

Each is timed ``--reps`` times (after 3 warm-ups) with a different camera/video/window each time,
at the baseline indexes, then again after ``upgrade head`` (the catalogue indexes of revision
``0002``), whose run time on the loaded table is measured too. Results go to
``benchmarks/results/pg_catalogue_<date>.json``.

    python benchmarks/pg_catalogue.py                      # 10^6 tracklets (~10 min on 2 cores)
    python benchmarks/pg_catalogue.py --videos 20 --per-video 500 --reps 10   # a quick check
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, create_engine, event, func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reid.store import migrations  # noqa: E402
from reid.store._catalogue import Catalogue  # noqa: E402
from reid.store._codec import encode_boxes  # noqa: E402
from reid.store._db import Database  # noqa: E402
from reid.store._models import CameraRow, TrackletRow, VideoRow, VideoStatus  # noqa: E402
from reid.store._shared import GalleryContext  # noqa: E402
from reid.store.layout import GalleryLayout  # noqa: E402
from tests.support.postgres import PostgresServer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
VIDEO_S = 3600.0  # each video is one hour; video i starts i hours after T0
FPS = 10.0


# ---------------------------------------------------------------------------- loading
def load(engine: Engine, cameras: int, videos: int, per_video: int, dim: int, seed: int,
         batch: int = 10_000, unit: bool = False) -> dict[str, Any]:
    """Cameras, videos and ``videos * per_video`` tracklets; returns sizes and rates. With
    ``unit`` the descriptors are L2-normalised (as the store keeps them; a store that reads them
    takes others for damaged)."""
    rng = np.random.default_rng(seed)
    now = dt.datetime.now(dt.timezone.utc)
    t0 = time.perf_counter()
    with engine.begin() as con:
        con.execute(insert(CameraRow.__table__),
                    [{"name": f"cam{c:02d}", "created_at": now} for c in range(cameras)])
        cam_ids = dict(con.execute(select(CameraRow.name, CameraRow.id)).all())
        con.execute(insert(VideoRow.__table__), [
            {"camera_id": cam_ids[f"cam{v % cameras:02d}"], "path": f"/archive/cam{v % cameras:02d}/"
             f"{v:05d}.mp4", "content_hash": f"{v:064x}", "fps": FPS, "duration_s": VIDEO_S,
             "frame_count": int(VIDEO_S * FPS), "start_time": T0 + dt.timedelta(hours=v),
             "status": VideoStatus.DONE, "error": None, "created_at": now, "updated_at": now}
            for v in range(videos)])
        video_rows = con.execute(select(VideoRow.id, VideoRow.camera_id).order_by(VideoRow.id)).all()
    # a pool of real box tracks (zlib blobs) of 20..600 frames, reused across rows
    pool = []
    for n in rng.integers(20, 600, 256):
        frames = np.arange(n) + int(rng.integers(0, 30_000))
        xy = np.cumsum(rng.normal(0, 2, (n, 2)), axis=0) + rng.uniform(100, 600, 2)
        boxes = np.column_stack([xy, xy + rng.uniform([40, 100], [80, 240])]).astype(np.float32)
        pool.append((len(frames), int(frames[0]), encode_boxes(frames, boxes)))
    rows: list[dict[str, Any]] = []
    total, written = len(video_rows) * per_video, 0
    for vid, cam in video_rows:
        starts = rng.uniform(0, VIDEO_S - 60, per_video)
        picks = rng.integers(0, len(pool), per_video)
        desc = rng.standard_normal((per_video, dim)).astype("<f4")
        if unit:
            desc /= np.linalg.norm(desc, axis=1, keepdims=True)
        for j in range(per_video):
            n, f0, blob = pool[picks[j]]
            start = float(starts[j])
            first = int(start * FPS)
            rows.append({
                "video_id": vid, "camera_id": cam, "track_id": j + 1, "first_frame": first,
                "last_frame": first + n - 1, "start_s": start, "end_s": start + (n - 1) / FPS,
                "boxes": blob, "quality": float(picks[j] % 100) / 100.0,
                "crop_paths": [f"crops/{vid}/{j + 1}/{k:04d}.jpg" for k in range(16)],
                "thumbnail_path": f"crops/{vid}/{j + 1}/0000.jpg",
                "descriptor": desc[j].tobytes(), "created_at": now})
            if len(rows) == batch:
                written += _flush(engine, rows)
                if written % 100_000 == 0:
                    rate = written / (time.perf_counter() - t0)
                    print(f"  {written:>9,d} / {total:,d} tracklets ({rate:,.0f}/s)", flush=True)
    written += _flush(engine, rows)
    seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as con:
        con.exec_driver_sql("VACUUM ANALYZE")
        size = con.exec_driver_sql("SELECT pg_total_relation_size('tracklets'), "
                                   "pg_relation_size('tracklets')").one()
    return {"cameras": cameras, "videos": videos, "tracklets": written, "dim": dim,
            "insert_s": round(seconds, 1), "rows_per_s": round(written / seconds),
            "vacuum_analyze_s": round(time.perf_counter() - t1, 1),
            "tracklets_total_mb": round(size[0] / 2**20), "tracklets_heap_mb": round(size[1] / 2**20)}


def _flush(engine: Engine, rows: list[dict[str, Any]]) -> int:
    n = len(rows)
    if n:
        with engine.begin() as con:
            con.execute(insert(TrackletRow.__table__), rows)
        rows.clear()
    return n


# ---------------------------------------------------------------------------- queries
@contextmanager
def captured(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements (and parameters) the driver runs inside the block."""
    seen: list[tuple[str, Any]] = []

    def listen(_conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any,
               _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listen)


def plan_nodes(engine: Engine, statement: str, parameters: Any) -> list[str]:
    """``EXPLAIN`` of one statement as ``"<node> on <table> [using <index>]"`` strings."""
    with engine.connect() as con:
        plan = con.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters).scalar()
    out: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        text = node["Node Type"]
        if "Relation Name" in node:
            text += f" on {node['Relation Name']}"
        if "Index Name" in node:
            text += f" using {node['Index Name']}"
        out.append(text)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return out


def time_window(catalogue: Catalogue, lo: dt.datetime, hi: dt.datetime,
                limit: int = 500) -> list[int]:
    """Ids of tracklets overlapping ``[lo, hi]`` (absolute UTC), the time filter done in SQL:
    videos started in the window (or up to one video length before it), tracklets whose video
    time overlaps it."""
    q = (select(TrackletRow.id).join(VideoRow, TrackletRow.video_id == VideoRow.id)
         .where(VideoRow.start_time >= lo - dt.timedelta(seconds=VIDEO_S), VideoRow.start_time <= hi)
         .order_by(TrackletRow.id).limit(limit))
    with catalogue._ctx.db() as s:
        return [i for i, in s.execute(q)]


def queries(catalogue: Catalogue, rng: np.random.Generator, cameras: int, videos: int,
            max_id: int) -> dict[str, Callable[[], object]]:
    """The timed queries; each call draws new parameters."""
    def cam() -> str:
        return f"cam{int(rng.integers(cameras)):02d}"

    def vid() -> int:
        return int(rng.integers(1, videos + 1))

    def window() -> list[int]:
        lo = T0 + dt.timedelta(hours=float(rng.uniform(0, videos - 3)))
        return time_window(catalogue, lo, lo + dt.timedelta(hours=3))

    return {
        "list_videos": lambda: catalogue.list_videos(),
        "list_cameras": lambda: catalogue.list_cameras(),
        "tracklets_by_camera": lambda: catalogue.list_tracklets(camera=cam(), limit=500),
        "tracklets_by_camera_page20": lambda: catalogue.list_tracklets(camera=cam(), limit=500,
                                                                       offset=19 * 500),
        "tracklets_by_video": lambda: catalogue.list_tracklets(video_id=vid(), limit=500),
        "get_tracklets_200": lambda: catalogue.get_tracklets(
            rng.integers(1, max_id + 1, 200).tolist()),
        "tracklets_by_time_window": window,
        "counts": lambda: catalogue.counts(),
    }


def measure(engine: Engine, catalogue: Catalogue, reps: int, seed: int, cameras: int,
            videos: int, max_id: int) -> dict[str, Any]:
    """Per query, over ``reps`` calls: p50/p95/max through ``Catalogue`` (SQL plus building the
    Python records), p50/p95 of the same SQL alone (the captured statements run again through the
    driver, rows fetched), and the EXPLAIN nodes of its SQL."""
    out: dict[str, Any] = {}
    for name, run in queries(catalogue, np.random.default_rng(seed), cameras, videos,
                             max_id).items():
        n = max(5, reps // 5) if "counts" in name else reps
        for _ in range(3):
            run()
        times, statements = [], []
        for _ in range(n):
            with captured(engine) as seen:
                t = time.perf_counter()
                run()
                times.append((time.perf_counter() - t) * 1e3)
            statements.append(list(seen))
        sql_times = []
        with engine.connect() as con:
            for seen in statements:
                t = time.perf_counter()
                for sql, params in seen:
                    con.exec_driver_sql(sql, params).fetchall()
                sql_times.append((time.perf_counter() - t) * 1e3)
            con.rollback()
        plans = [plan_nodes(engine, sql, params) for sql, params in statements[-1][:3]]
        seq = sorted({node for plan in plans for node in plan if node.startswith("Seq Scan")})
        t, q = np.array(times), np.array(sql_times)
        out[name] = {"reps": n, "p50_ms": round(float(np.percentile(t, 50)), 2),
                     "p95_ms": round(float(np.percentile(t, 95)), 2),
                     "max_ms": round(float(t.max()), 2),
                     "sql_p50_ms": round(float(np.percentile(q, 50)), 2),
                     "sql_p95_ms": round(float(np.percentile(q, 95)), 2),
                     "statements": len(statements[-1]), "seq_scans": seq,
                     # selective queries must not read the whole tracklets table
                     "explain_ok": "counts" in name or "Seq Scan on tracklets" not in seq,
                     "plan": plans[0] if plans else []}
        r = out[name]
        print(f"  {name:<27} p50 {r['p50_ms']:7.1f}  p95 {r['p95_ms']:7.1f} ms | SQL p50 "
              f"{r['sql_p50_ms']:7.1f}  p95 {r['sql_p95_ms']:7.1f} ms | {r['statements']} stmt | "
              f"{'; '.join(seq) or 'no seq scan'}", flush=True)
    return out


# ---------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db-url", help="an empty PostgreSQL database (default: start a server)")
    ap.add_argument("--cameras", type=int, default=20)
    ap.add_argument("--videos", type=int, default=1000)
    ap.add_argument("--per-video", type=int, default=1000)
    ap.add_argument("--dim", type=int, default=512, help="descriptor floats per tracklet")
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path,
                    default=ROOT / "benchmarks" / "results" / f"pg_catalogue_{dt.date.today()}.json")
    args = ap.parse_args()

    server = None if args.db_url else PostgresServer().start()
    try:
        url = args.db_url or (server.create_database("catalogue") if server else "")
        engine = create_engine(url)
        with engine.begin() as con:
            version = con.exec_driver_sql("SHOW server_version").scalar()
            migrations.upgrade(con, migrations.BASELINE)
        print(f"PostgreSQL {version}: loading {args.videos * args.per_video:,d} tracklets", flush=True)
        loaded = load(engine, args.cameras, args.videos, args.per_video, args.dim, args.seed)
        print(f"  loaded in {loaded['insert_s']} s ({loaded['rows_per_s']:,d} rows/s), "
              f"{loaded['tracklets_total_mb']} MB", flush=True)
        with engine.connect() as con:
            max_id = int(con.scalar(select(func.max(TrackletRow.id))) or 0)
        layout = GalleryLayout.of(tempfile.mkdtemp(prefix="pg-catalogue-"))
        catalogue = Catalogue(GalleryContext(layout, Database(engine, "benchmark"), False, None))
        result: dict[str, Any] = {"benchmark": "pg_catalogue", "date": str(dt.date.today()),
                                  "postgres": version, "machine": f"{platform.machine()}, "
                                  f"{platform.processor() or ''} cpu-{_cores()}core".strip(),
                                  "zlib": zlib.ZLIB_VERSION, "git": _git_state(),
                                  "server": "test settings (fsync, synchronous_commit and "
                                  "full_page_writes off), shared_buffers 128MB" if server else url,
                                  "load": loaded, "runs": {}}
        print(f"baseline indexes (revision {migrations.BASELINE}):", flush=True)
        result["runs"][migrations.BASELINE] = measure(engine, catalogue, args.reps, args.seed,
                                                      args.cameras, args.videos, max_id)
        t = time.perf_counter()
        with engine.begin() as con:
            migrations.upgrade(con, "head")
        upgrade_s = time.perf_counter() - t
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as con:
            con.exec_driver_sql("ANALYZE")
        head = migrations.head_revision()
        print(f"upgrade to {head}: {upgrade_s:.1f} s", flush=True)
        result["upgrade_to_head_s"] = round(upgrade_s, 1)
        result["runs"][head] = measure(engine, catalogue, args.reps, args.seed, args.cameras,
                                       args.videos, max_id)
        engine.dispose()
        bad = [f"{rev}:{name}" for rev, run in result["runs"].items() for name, r in run.items()
               if not r["explain_ok"]]
        result["explain_failures"] = bad
        print("EXPLAIN: " + (f"sequential scans of tracklets in {bad}" if bad else
                             "no selective query scans the tracklets table"), flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.out}")
    finally:
        if server is not None:
            server.stop()


def _git_state() -> str:
    import subprocess

    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True,
                              check=False).stdout.strip()

    dirty = git("status", "--short", "reid/store")
    return git("rev-parse", "--short", "HEAD") + (f" + uncommitted: {dirty}" if dirty else "")


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
