"""Throw generated bad input at a running ``reid serve`` and check that it survives unchanged.

Starts ``reid serve`` (HOG + MobileNetV2, offline) on a fresh gallery holding one indexed synthetic
video, records the gallery (tracklet ids, their JSON, a search of each), then sends, from a seeded
generator:

- **videos**: tiny, thin, huge-declared and odd-sized frames, grey frames, zero/one frame, random
  bytes, truncated and byte-flipped real files, HTML/SVG under video names, hostile file names,
  uploaded through the UI's indexing endpoint with hostile camera names and start times;
- **images**: the same kinds of damage for "search by photo";
- **JSON bodies**: random nested values, wrong types, huge numbers, NaN, long strings, broken JSON,
  to ``POST /api/v1/search``;
- **strings and ids**: path segments, query strings and headers (``Host``, ``Origin``) with
  control characters, markup, traversal, huge and negative numbers.

After every input it checks that the server process is alive; at the end, that every original
tracklet is unchanged and searchable. A 5xx answer, a UI "internal error" or a dead server is a
finding. Prints a table; ``--json`` writes it. Exit code 1 when something was found. The inputs
are generated in ``benchmarks/fuzz_inputs.py``.

    python benchmarks/fuzz_server.py --rounds 40 --seed 0
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # for tests.support (run as a script)
sys.path.insert(0, str(Path(__file__).resolve().parent))  # for the sibling fuzz_inputs

from fuzz_inputs import BAD_TIMES, HOSTILE, bad_images, bad_videos, search_body  # noqa: E402

OFFLINE_ENV = {
    "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "False", "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1", "GRADIO_ANALYTICS_ENABLED": "False",
    "YOLO_CONFIG_DIR": str(REPO / ".cache" / "ultralytics"),
}


class ServerDiedError(RuntimeError):
    """The server process is gone."""


@dataclass
class Tally:
    """What was sent and what came back, per category; ``alive`` tells whether the server runs."""

    alive: Callable[[], bool]
    sent: Counter = field(default_factory=Counter)
    findings: list[str] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    client_refusals: Counter = field(default_factory=Counter)

    def finding(self, kind: str, what: str) -> None:
        self.findings.append(f"{kind}: {what[:300]}")

    def check_alive(self, kind: str) -> None:
        if not self.alive():
            raise ServerDiedError(kind)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------- the server
class Server:
    """``reid serve`` on 127.0.0.1 for one gallery; ``pid``, ``url``."""

    def __init__(self, data_dir: Path, log: Path, upload_mb: float) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.log_path = log
        self.cmd = [sys.executable, "-m", "app", "serve", "--data-dir", str(data_dir), "--port",
                    str(self.port), "--detector", "hog", "--embedder", "mobilenet", "--stride", "2",
                    "--max-upload-mb", str(upload_mb), "--archive-root", str(data_dir.parent)]
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 600) -> None:
        self.proc = subprocess.Popen(self.cmd, cwd=REPO, stdout=self.log_path.open("w"),
                                     stderr=subprocess.STDOUT, env={**os.environ, **OFFLINE_ENV})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"reid serve exited:\n{self.log()}")
            try:
                if httpx.get(self.url + "/api/v1/status", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"reid serve did not answer within {timeout} s:\n{self.log()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_mb(self) -> float:
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except (OSError, AttributeError):
            pass
        return float("nan")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def seed_gallery(data_dir: Path, work: Path) -> Path:
    """Index one synthetic two-person video with the CLI; returns the video file."""
    from tests.support.synthetic import make_multicamera_scenes

    scene = make_multicamera_scenes(num_cameras=1, num_identities=2, per_camera=2, num_frames=40,
                                    seed=3)[0]
    video = Path(scene.write_video(work / "seed.mp4"))
    subprocess.run([sys.executable, "-m", "app", "index", str(video), "--camera", "seed",
                    "--data-dir", str(data_dir), "--detector", "hog", "--embedder", "mobilenet",
                    "--stride", "2"], cwd=REPO, env={**os.environ, **OFFLINE_ENV}, check=True,
                   capture_output=True, timeout=1800)
    return video


def gallery_snapshot(http: httpx.Client) -> dict[int, tuple[dict, list[int]]]:
    """Each tracklet's JSON and the ids its search returns, from the JSON API."""
    listing = http.get("/api/v1/tracklets", params={"limit": 5000}).json()["tracklets"]
    snap = {}
    for t in listing:
        tid = t["id"] if "id" in t else t["tracklet_id"]
        one = http.get(f"/api/v1/tracklets/{tid}").json()
        found = http.post("/api/v1/search", json={"tracklet_id": tid, "top_k": 50}).json()
        snap[tid] = (one, sorted(m["tracklet_id"] for m in found["matches"]))
    return snap


# ---------------------------------------------------------------------------- the attacks
def check_http(tally: Tally, kind: str, response: httpx.Response, *, must_refuse: bool = False) -> None:
    """Count ``response``; a 5xx is a finding, so is a 2xx where ``must_refuse``."""
    tally.sent[kind] += 1
    tally.statuses[response.status_code] += 1
    if response.status_code >= 500:
        tally.finding(kind, f"HTTP {response.status_code}: {response.text[:200]}")
    elif must_refuse and response.status_code < 300:
        request = response.request
        sent = {k: request.headers.get(k) for k in ("host", "origin")}
        tally.finding(kind, f"{request.method} {request.url.path} with {sent} answered "
                            f"{response.status_code}")
    tally.check_alive(kind)


def ui_call(tally: Tally, client: object, kind: str, *args: object, api_name: str) -> None:
    """A Gradio endpoint call; refusals (``AppError`` with a message) are fine, internal errors not.

    ``AppError`` (a ``ValueError``) carries the server's answer; any other ``ValueError`` is
    gradio_client refusing to send the input (a file over the upload limit), counted apart.
    """
    try:
        client.predict(*args, api_name=api_name)
    except Exception as exc:
        text = str(exc).strip()
        if type(exc).__name__ == "AppError":
            if not text or "internal error" in text:
                tally.finding(kind, f"{api_name}: {text or '(no message)'}")
            elif "has not enabled verbose error reporting" in text:
                tally.sent["refused by Gradio's input checks"] += 1  # before our handler ran
                return
        elif isinstance(exc, ValueError):
            tally.sent["not sent (client-side check)"] += 1
            tally.client_refusals[text[:60]] += 1
            return
        else:
            tally.finding(kind, f"{api_name}: {type(exc).__name__}: {text or '(no message)'}")
    tally.sent[kind] += 1
    tally.check_alive(f"{kind} ({api_name}, {args[0]!r:.200})")


def attack_api(tally: Tally, http: httpx.Client, rng: random.Random, rounds: int, valid_id: int) -> None:
    for _ in range(rounds):
        check_http(tally, "json body", http.post("/api/v1/search", content=search_body(rng, valid_id),
                                                 headers={"Content-Type": "application/json"}))
        s = rng.choice(HOSTILE + BAD_TIMES + [str(10**30), "-5", "0x10", "1.5", "%ff"])
        for path in (f"/api/v1/tracklets/{s}", f"/api/v1/tracklets/{s}/thumbnail"):
            try:
                check_http(tally, "path string", http.get(path))
            except httpx.InvalidURL:
                tally.sent["path string"] += 1
        params = {rng.choice(["camera", "limit", "x"]): s, "limit": rng.choice(["1", "-1", "1e9", s])}
        check_http(tally, "query string", http.get("/api/v1/tracklets", params=params))
        host = rng.choice(["evil.example", "127.0.0.1.evil.example", "localhost:1@evil", "", "[::1"])
        try:
            check_http(tally, "header", http.get("/config", headers={"Host": host}), must_refuse=True)
            check_http(tally, "header", http.post("/api/v1/search", json={"tracklet_id": valid_id},
                                                  headers={"Origin": "http://evil.example"}),
                       must_refuse=True)
        except httpx.HTTPError:
            tally.sent["header"] += 1


def attack_uploads(tally: Tally, client: object, files: list[Path], rng: random.Random) -> None:
    from gradio_client import handle_file

    for path in files:
        table = {"headers": ["file", "camera", "start time (UTC, optional)"],
                 "data": [[path.name, rng.choice(HOSTILE),
                           rng.choice(BAD_TIMES) if rng.random() < 0.3 else ""]]}
        ui_call(tally, client, "video upload", [handle_file(str(path))], table, api_name="/index_files")


def attack_photos(tally: Tally, client: object, files: list[Path]) -> None:
    from gradio_client import handle_file

    for path in files:
        ui_call(tally, client, "photo search", handle_file(str(path)), 0.0, 10, [], "", "", False,
                False, api_name="/search_photo")


def attack_ui_strings(tally: Tally, client: object, rng: random.Random, rounds: int) -> None:
    for _ in range(rounds):
        s = rng.choice(HOSTILE + BAD_TIMES)
        threshold = rng.choice([rng.random(), -5.0, 1e308, -1e308])
        top_k = rng.choice([10, 0, -1, 10**9, 1e308])
        ui_call(tally, client, "ui string", rng.choice([s, 10**30, -3, 1e308]), threshold, top_k,
                [s], s, rng.choice(BAD_TIMES), False, True, api_name="/search")
        ui_call(tally, client, "ui string", s, api_name="/index_folder")


# ---------------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=40, help="inputs per category (default 40)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary gallery")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    from gradio_client import Client

    work = Path(tempfile.mkdtemp(prefix="reid-fuzz-"))
    data_dir = work / "gallery"
    t0 = time.perf_counter()
    seed_video = seed_gallery(data_dir, work)
    server = Server(data_dir, work / "serve.log", upload_mb=20)
    tally = Tally(alive=server.alive)
    try:
        server.start()
        http = httpx.Client(base_url=server.url, timeout=300)
        before = gallery_snapshot(http)
        if not before:
            raise RuntimeError("the seed video gave no tracklets; nothing to protect")
        valid_id = min(before)
        rss0 = server.rss_mb()
        client = Client(server.url, verbose=False)
        photo_seed = next(data_dir.glob("crops/**/thumb.jpg"))
        steps = [
            ("json/path/query/header", lambda: attack_api(tally, http, rng, args.rounds, valid_id)),
            ("ui strings", lambda: attack_ui_strings(tally, client, rng, max(1, args.rounds // 4))),
            ("photos", lambda: attack_photos(tally, client, bad_images(work / "img", rng, photo_seed,
                                                                        args.rounds))),
            ("videos", lambda: attack_uploads(tally, client, bad_videos(work / "vid", rng, seed_video,
                                                                         args.rounds), rng)),
        ]
        for name, step in steps:
            ts = time.perf_counter()
            try:
                step()
            except ServerDiedError as exc:
                tally.finding("crash", f"server died after {exc}:\n{server.log()}")
            alive = server.alive()
            print(f"{name:24s} {time.perf_counter() - ts:7.1f} s   server alive: {alive}   "
                  f"RSS {server.rss_mb():.0f} MB", flush=True)
            if not alive:
                break
        after = gallery_snapshot(http) if server.alive() else {}
        changed = [tid for tid, snap in before.items() if after.get(tid) != snap
                   and (after.get(tid) is None or after[tid][0] != snap[0]
                        or not set(snap[1]) <= set(after[tid][1]))]
        if changed and after:
            tally.finding("gallery", f"original tracklets changed or unsearchable: {changed}")
        stuck = http.get("/api/v1/status").json() if server.alive() else {}
        result = {
            "seed": args.seed, "rounds": args.rounds, "inputs": sum(tally.sent.values()),
            "per_category": dict(tally.sent), "http_statuses": {str(k): v for k, v in tally.statuses.items()},
            "crashes": sum(1 for f in tally.findings if f.startswith("crash")),
            "findings": tally.findings, "original_tracklets": len(before),
            "original_tracklets_unchanged": not changed and bool(after), "rss_mb_before": rss0,
            "rss_mb_after": server.rss_mb(), "status_after": stuck,
            "seconds": round(time.perf_counter() - t0, 1),
        }
    finally:
        server.stop()
    print(f"\ninputs tried: {result['inputs']} ({', '.join(f'{k} {v}' for k, v in tally.sent.items())})")
    print(f"HTTP statuses: {result['http_statuses']}")
    for text, n in tally.client_refusals.most_common(5):
        print(f"  not sent x{n}: {text}")
    print(f"crashes: {result['crashes']}   findings: {len(tally.findings)}   original tracklets "
          f"unchanged: {result['original_tracklets_unchanged']} ({len(before)})   RSS "
          f"{result['rss_mb_before']:.0f} -> {result['rss_mb_after']:.0f} MB   {result['seconds']} s")
    for f in tally.findings[:40]:
        print("  -", f.replace("\n", " ")[:300])
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    if not args.keep:
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"gallery kept in {work}")
    return 1 if tally.findings else 0


if __name__ == "__main__":
    sys.exit(main())

