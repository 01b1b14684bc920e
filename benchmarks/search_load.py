"""Search latency of the web app under load: concurrent searches through the HTTP API.

Builds a gallery of ``--tracklets`` synthetic tracklets (clustered random descriptors of the
embedder in use, one small JPEG thumbnail each), starts ``reid serve`` on it (127.0.0.1, a free
port), and runs ``--clients`` concurrent clients, each doing ``--rounds`` searches by a random
person (top 30, other cameras only):

- ``--mode rest`` (default): ``POST /api/v1/search`` of the JSON API, one ``httpx.Client``
  (keep-alive) per client thread;
- ``--mode gradio``: the UI's ``/search`` event through one ``gradio_client`` session per client
  (the Gradio queue; gradio_client runs several threads and opens a new HTTP client per call, so
  20 of them load the shared cores heavily);
- ``--mode ui``: the UI's ``/search`` event through the Gradio queue the way the page does it
  (``POST /gradio_api/queue/join``, then the event's server-sent events on
  ``GET /gradio_api/queue/data`` until ``process_completed``), one lean ``http.client`` session
  per client: the server's cost without gradio_client's.

Then the same again while a video is being indexed through the UI's queue (``/index_files``).
Prints p50/p95/max latency and errors per phase, and the 1-minute load average before and after.
The client threads run on the same machine as the server and share its cores.

    .venv/bin/python benchmarks/search_load.py                 # 10^4 tracklets, 20 clients
    .venv/bin/python benchmarks/search_load.py --mode gradio   # through the Gradio queue
    .venv/bin/python benchmarks/search_load.py --tracklets 2000 --clients 5 --rounds 2
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime as dt
import functools
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import cv2
import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ENV = {"YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "False", "HF_HUB_OFFLINE": "1",
       "HF_HUB_DISABLE_TELEMETRY": "1", "GRADIO_ANALYTICS_ENABLED": "False",
       "YOLO_CONFIG_DIR": str(REPO / ".cache" / "ultralytics")}


def build_gallery(data_dir: Path, n: int, cameras: int, seed: int = 0) -> float:
    """Fill ``data_dir`` with ``n`` tracklets of ~n/10 identities on ``cameras`` cameras; seconds."""
    from reid.embed import create_embedder
    from reid.store import Store, TrackletRecord

    t0 = time.perf_counter()
    fingerprint = create_embedder("mobilenet").fingerprint
    dim = int(fingerprint["dim"])
    rng = np.random.default_rng(seed)
    identities = rng.standard_normal((max(1, n // 10), dim)).astype(np.float32)
    store = Store.open(data_dir)
    start = dt.datetime(2024, 5, 1, 9, tzinfo=dt.timezone.utc)
    per_video = 500
    try:
        for v, lo in enumerate(range(0, n, per_video)):
            count = min(per_video, n - lo)
            cam = f"cam-{v % cameras}"
            video_id = store.add_video(data_dir / f"fake_{v}.mp4", f"{v:064x}", cam,
                                       start_time=start + dt.timedelta(minutes=10 * v))
            records, vectors = [], []
            for k in range(count):
                thumb = data_dir / "crops" / f"v{v}" / f"t{k}.jpg"
                thumb.parent.mkdir(parents=True, exist_ok=True)
                colour = rng.integers(0, 255, 3).tolist()
                cv2.imwrite(str(thumb), np.full((64, 32, 3), colour, np.uint8))
                frames = np.arange(k, k + 8)
                boxes = np.tile(np.array([10, 10, 42, 74], np.float32), (8, 1))
                records.append(TrackletRecord(k + 1, frames, boxes, k * 0.1, k * 0.1 + 0.7, 0.5,
                                              (thumb,), thumb))
                ident = identities[rng.integers(len(identities))]
                vectors.append(ident + 0.6 * rng.standard_normal(dim).astype(np.float32))
            store.add_tracklets(video_id, records, np.stack(vectors), fingerprint)
    finally:
        store.close()
    return time.perf_counter() - t0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: Path, log: Path, concurrency: int, api_threads: int,
                 niceness: int, profile: bool = False) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "app", "serve", "--data-dir", str(data_dir), "--port", str(port),
           "--detector", "hog", "--embedder", "mobilenet", "--stride", "2",
           "--search-concurrency", str(concurrency), "--api-search-threads", str(api_threads),
           "--index-niceness", str(niceness)]
    env = {**os.environ, **ENV, **({"GRADIO_PROFILING": "1"} if profile else {})}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        if proc.poll() is not None:
            raise RuntimeError(f"reid serve exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url + "/config", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.terminate()
    raise RuntimeError("reid serve did not start")


def gradio_client_run(url: str, ids: list[int], rounds: int, seed: int) -> tuple[list[float], list[str]]:
    """One gradio_client session doing ``rounds`` UI searches; (latencies s, errors)."""
    from gradio_client import Client

    client = Client(url, verbose=False, download_files=False)
    rng = random.Random(seed)
    latencies, errors = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        try:
            out = client.predict(rng.choice(ids), 0.0, 30, [], None, None, False, True,
                                 api_name="/search")
            if not out[1]["data"]:
                errors.append("empty result")
        except Exception as exc:  # counted and reported, the run goes on
            errors.append(f"{type(exc).__name__}: {exc}"[:200])
        latencies.append(time.perf_counter() - t0)
    return latencies, errors


def rest_client_run(url: str, ids: list[int], rounds: int, seed: int) -> tuple[list[float], list[str]]:
    """One keep-alive HTTP connection doing ``rounds`` ``POST /api/v1/search``; (latencies s, errors).

    Uses the standard library's ``http.client`` (lighter than httpx: the client threads share
    the machine's cores with the server). The service-side search times go to ``SERVER_MS``.
    """
    rng = random.Random(seed)
    latencies, errors = [], []
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        for _ in range(rounds):
            body = json.dumps({"tracklet_id": rng.choice(ids), "top_k": 30,
                               "exclude_same_camera": True})
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/api/v1/search", body,
                             {"Content-Type": "application/json"})
                response = conn.getresponse()
                payload = response.read()
                if response.status != 200:
                    errors.append(f"HTTP {response.status}: {payload[:150]!r}")
                else:
                    result = json.loads(payload)
                    SERVER_MS.append(result["elapsed_ms"])
                    if not result["matches"]:
                        errors.append("empty result")
            except (OSError, http.client.HTTPException) as exc:  # counted, the run goes on
                errors.append(f"{type(exc).__name__}: {exc}"[:200])
                conn.close()
            latencies.append(time.perf_counter() - t0)
    finally:
        conn.close()
    return latencies, errors


@functools.cache
def _search_event(url: str) -> tuple[int, tuple[bool, ...]]:
    """The UI search event's ``fn_index`` and which of its inputs are ``gr.State`` (the page
    sends None for those)."""
    config = httpx.get(url + "/config", timeout=30).json()
    kinds = {c["id"]: c.get("type") for c in config["components"]}
    for index, dep in enumerate(config["dependencies"]):
        if dep.get("api_name") == "search":
            return dep.get("id", index), tuple(kinds.get(i) == "state" for i in dep["inputs"])
    raise RuntimeError("the app has no /search event")


def ui_client_run(url: str, ids: list[int], rounds: int, seed: int) -> tuple[list[float], list[str]]:
    """One page-like session doing ``rounds`` UI searches through the Gradio queue, with
    ``http.client`` keep-alive connections; (latencies s, errors)."""
    fn_index, is_state = _search_event(url)
    rng = random.Random(seed)
    session = f"load{seed:04d}{rng.getrandbits(32):08x}"
    parts = urllib.parse.urlsplit(url)
    join = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    stream = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    latencies, errors = [], []
    try:
        for _ in range(rounds):
            values = iter([rng.choice(ids), 0.0, 30, [], None, None, False, True])
            data = [None if state else next(values) for state in is_state]
            body = json.dumps({"data": data, "fn_index": fn_index, "session_hash": session,
                               "event_data": None, "trigger_id": None})
            t0 = time.perf_counter()
            try:
                join.request("POST", "/gradio_api/queue/join", body,
                             {"Content-Type": "application/json"})
                response = join.getresponse()
                payload = response.read()
                if response.status != 200:
                    raise RuntimeError(f"join: HTTP {response.status}: {payload[:150]!r}")
                event_id = json.loads(payload)["event_id"]
                stream.request("GET", f"/gradio_api/queue/data?session_hash={session}")
                events = stream.getresponse()
                done = None
                while done is None:
                    line = events.readline()
                    if not line:
                        raise RuntimeError("the event stream ended before process_completed")
                    if line.startswith(b"data:"):
                        message = json.loads(line[5:])
                        if message.get("msg") == "process_completed" and \
                                message.get("event_id") == event_id:
                            done = message
                events.close()
                stream.close()  # the page's stream stays open; a fresh one per call is simpler
                if not done.get("success"):
                    errors.append(f"failed: {str(done.get('output'))[:150]}")
                elif not done["output"]["data"][1]:
                    errors.append("empty result")
            except (OSError, http.client.HTTPException, RuntimeError, KeyError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:200])
                join.close()
                stream.close()
            latencies.append(time.perf_counter() - t0)
    finally:
        join.close()
        stream.close()
    return latencies, errors


SERVER_MS: list[float] = []  # service-side search times (ms) of the REST calls of a phase
CLIENTS = {"rest": rest_client_run, "gradio": gradio_client_run, "ui": ui_client_run}


def run_phase(url: str, ids: list[int], clients: int, rounds: int, mode: str) -> dict:
    one_client = CLIENTS[mode]
    SERVER_MS.clear()
    barrier_t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(lambda c: one_client(url, ids, rounds, c), range(clients)))
    lat = sorted(x for r in results for x in r[0])
    errors = [e for r in results for e in r[1]]
    q = statistics.quantiles(lat, n=20, method="inclusive") if len(lat) > 1 else lat * 19
    return {"searches": len(lat), "errors": len(errors), "first_error": errors[0] if errors else "",
            "p50": statistics.median(lat), "p95": q[18], "max": lat[-1],
            "wall": time.perf_counter() - barrier_t0, "load1": os.getloadavg()[0],
            "server_p50_ms": statistics.median(SERVER_MS) if SERVER_MS else None}


def index_in_background(url: str, video: Path, done: threading.Event, out: dict) -> None:
    from gradio_client import Client, handle_file

    t0 = time.perf_counter()
    try:
        client = Client(url, verbose=False)
        table = {"headers": ["file", "camera", "start time (UTC, optional)"],
                 "data": [[video.name, "cam-indexing", ""]]}
        out["html"] = client.predict([handle_file(str(video))], table, api_name="/index_files")
    except Exception as exc:
        out["error"] = str(exc)
    out["seconds"] = time.perf_counter() - t0
    done.set()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracklets", type=int, default=10_000)
    parser.add_argument("--cameras", type=int, default=8)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5, help="searches per client per phase")
    parser.add_argument("--video", default=str(REPO / "data" / "vtest.avi"),
                        help="video indexed during the second phase (default data/vtest.avi)")
    parser.add_argument("--mode", choices=sorted(CLIENTS), default="rest",
                        help="rest: POST /api/v1/search (default); gradio: the UI's /search "
                        "through gradio_client; ui: the UI's /search through the queue like "
                        "the page, lean client")
    parser.add_argument("--search-concurrency", type=int, default=4,
                        help="reid serve --search-concurrency (UI searches at once; default 4)")
    parser.add_argument("--api-search-threads", type=int, default=1,
                        help="reid serve --api-search-threads (REST searches at once; default 1)")
    parser.add_argument("--index-niceness", type=int, default=10,
                        help="reid serve --index-niceness (default 10)")
    parser.add_argument("--profile", action="store_true",
                        help="run the server with GRADIO_PROFILING=1 and print Gradio's per-phase "
                        "summary of the idle phase (queue wait, pre/postprocess, function)")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the results here")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    video = Path(args.video)
    with tempfile.TemporaryDirectory(prefix="reid-load-") as tmp:
        data_dir = Path(tmp) / "data"
        built = build_gallery(data_dir, args.tracklets, args.cameras)
        print(f"gallery: {args.tracklets} tracklets on {args.cameras} cameras built in {built:.1f} s")
        proc, url = start_server(data_dir, Path(tmp) / "serve.log", args.search_concurrency,
                                 args.api_search_threads, args.index_niceness, args.profile)
        try:
            ids = list(range(1, args.tracklets + 1))
            CLIENTS[args.mode](url, ids, 2, seed=99)  # warm-up: first search loads the index
            if args.profile:
                httpx.post(url + "/gradio_api/profiling/clear", timeout=10)
            rows = [("idle", run_phase(url, ids, args.clients, args.rounds, args.mode))]
            if args.profile:
                summary = httpx.get(url + "/gradio_api/profiling/summary", timeout=10).json()
                print("Gradio profiling summary, idle phase:\n" + json.dumps(summary, indent=1))
            if video.is_file():
                done, info = threading.Event(), {}
                threading.Thread(target=index_in_background, args=(url, video, done, info),
                                 daemon=True).start()
                time.sleep(3.0)  # let the indexing job start
                phase = run_phase(url, ids, args.clients, args.rounds, args.mode)
                phase["indexing_still_running"] = not done.is_set()
                rows.append(("while indexing", phase))
                done.wait(timeout=900)
                state = "error: " + info["error"] if "error" in info else \
                    ("indexed" if "reid-job-indexed" in info.get("html", "") else "see log")
                print(f"background indexing of {video.name}: {state} in {info.get('seconds', 0):.0f} s")
            else:
                print(f"{video} missing (make sample-data): skipping the 'while indexing' phase")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    what = {"rest": "POST /api/v1/search", "gradio": "gradio_client /search",
            "ui": "the page's queue protocol /search"}[args.mode]
    print(f"\n{args.clients} concurrent clients x {args.rounds} searches each, top 30, "
          f"{args.tracklets} tracklets, {what} (latency per call, seconds; clients and server "
          f"share this machine's {os.cpu_count()} cores; 1-min load before: {load_before:.2f}; "
          f"index niceness {args.index_niceness}; server threads: {args.api_search_threads} API, "
          f"{args.search_concurrency} UI)")
    print(f"{'phase':<16}{'searches':>9}{'errors':>8}{'p50':>8}{'p95':>8}{'max':>8}{'wall':>8}"
          f"{'load1':>7}{'server p50 ms':>15}")
    for name, r in rows:
        flag = "" if r.get("indexing_still_running", True) else "  (indexing ended during phase)"
        print(f"{name:<16}{r['searches']:>9}{r['errors']:>8}{r['p50']:>8.3f}{r['p95']:>8.3f}"
              f"{r['max']:>8.3f}{r['wall']:>8.1f}{r['load1']:>7.2f}"
              f"{r['server_p50_ms'] or float('nan'):>15.1f}{flag}")
        if r["errors"]:
            print(f"  first error: {r['first_error']}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "mode": args.mode, "tracklets": args.tracklets, "clients": args.clients,
            "rounds": args.rounds, "cpu_count": os.cpu_count(),
            "index_niceness": args.index_niceness, "api_search_threads": args.api_search_threads,
            "search_concurrency": args.search_concurrency, "load1_before": load_before,
            "phases": dict(rows)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
