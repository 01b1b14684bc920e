"""A fake ``ReidService`` for UI callback tests: same methods, in memory, thumbnails on disk."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from reid.service.types import IndexReport, Match, SearchRequest, SearchResponse, ServiceStatus
from reid.store import TrackletInfo, VideoInfo

T0 = dt.datetime(2024, 5, 1, 9, 0, tzinfo=dt.timezone.utc)


class FakeService:
    """Two cameras, ``per_camera`` tracklets each; tracklet ``i`` has identity ``i % per_camera``.

    ``search`` ranks by identity (same identity first, score 0.9, others 0.1..0.3), honouring the
    camera filter, the threshold and ``exclude_same_camera``. ``index_video`` adds tracklets and
    reports progress; files named ``*bad*`` fail. Calls are recorded in ``calls``.
    """

    def __init__(self, data_dir: Path, per_camera: int = 3, fallback: bool = True,
                 index_delay_s: float = 0.0) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.fallback = fallback
        self.index_delay_s = index_delay_s
        self.calls: list[tuple] = []
        self.feedback: list[tuple[int, int, bool, str]] = []
        self._tracklets: dict[int, TrackletInfo] = {}
        self._lock = threading.Lock()
        self._next_video = 1
        self._videos: dict[int, VideoInfo] = {}
        for cam in ("cam-a", "cam-b"):
            self._add_video(cam, per_camera, T0)

    # -- helpers
    def _add_video(self, camera: str, n: int, start: dt.datetime | None,
                   path: str | None = None) -> tuple[int, int]:
        video_id = self._next_video
        self._next_video += 1
        self._videos[video_id] = VideoInfo(
            id=video_id, camera_id=video_id, camera=camera,
            path=path or str(self.data_dir / f"{camera}.mp4"), content_hash=f"{video_id:064x}",
            fps=10.0, duration_s=10.0, frame_count=100, start_time=start, status="done", error=None)
        for k in range(n):
            tid = len(self._tracklets) + 1
            thumb = self.data_dir / "crops" / f"t{tid}.jpg"
            thumb.parent.mkdir(parents=True, exist_ok=True)
            colour = [(40 * (tid % 6)) % 255, 120, 200 - 20 * k]
            cv2.imwrite(str(thumb), np.full((64, 32, 3), colour, np.uint8))
            self._tracklets[tid] = TrackletInfo(
                id=tid, video_id=video_id, camera_id=1 if camera == "cam-a" else 2, camera=camera,
                track_id=k + 1, first_frame=10 * k, last_frame=10 * k + 30, start_s=1.0 * k,
                end_s=1.0 * k + 3.0, quality=0.5, crop_paths=(thumb,), thumbnail_path=thumb,
                video_start_time=start, has_descriptor=True)
        return video_id, n

    def identity(self, tid: int) -> int:
        return (tid - 1) % 3

    # -- the service API
    def list_cameras(self) -> list[str]:
        return sorted({t.camera for t in self._tracklets.values()})

    def list_videos(self) -> list[VideoInfo]:
        """One ``VideoInfo`` per video added (source paths as ``index_video`` received them)."""
        return list(self._videos.values())

    def delete_video(self, video_id: int, actor: str = "cli") -> int:
        self.calls.append(("delete_video", video_id, actor))
        self._videos.pop(video_id, None)
        ids = [tid for tid, t in self._tracklets.items() if t.video_id == video_id]
        for tid in ids:
            del self._tracklets[tid]
        return len(ids)

    def list_tracklets(self, camera=None, video_id=None, limit=500) -> list[TrackletInfo]:
        out = [t for t in self._tracklets.values()
               if (camera is None or t.camera == camera) and (video_id is None or t.video_id == video_id)]
        return out[:limit] if limit else out

    def get_tracklet(self, tracklet_id: int) -> TrackletInfo:
        if tracklet_id not in self._tracklets:
            raise KeyError(f"no tracklet with id {tracklet_id}")
        return self._tracklets[tracklet_id]

    def search(self, request: SearchRequest, actor: str = "cli") -> SearchResponse:
        self.calls.append(("search", request, actor))
        query = self.get_tracklet(request.tracklet_id) if request.tracklet_id is not None else None
        if query is None and not request.images:
            raise ValueError("a search needs a tracklet id or at least one person image")
        qid = self.identity(query.id) if query else 0
        scored = []
        for t in self._tracklets.values():
            if query is not None and t.id == query.id:
                continue
            if request.cameras and t.camera not in request.cameras:
                continue
            if request.exclude_same_camera and query is not None and t.camera == query.camera:
                continue
            score = 0.9 if self.identity(t.id) == qid else 0.1 + 0.1 * (t.id % 3)
            if request.score_threshold is not None and score < request.score_threshold:
                continue
            scored.append((score, t))
        scored.sort(key=lambda st: (-st[0], st[1].id))
        matches = [Match(t, s, r) for r, (s, t) in enumerate(scored[: request.top_k], start=1)]
        return SearchResponse(query, matches, 0.002)

    def add_feedback(self, query_id: int, candidate_id: int, same: bool, actor: str = "cli") -> None:
        self.feedback.append((query_id, candidate_id, same, actor))

    def render_clip(self, tracklet_id: int) -> Path:
        path = self.data_dir / "clips" / f"tracklet_{tracklet_id}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\x00\x00\x00\x18ftypmp42fake")
        return path

    def render_frames(self, tracklet_id: int, n: int = 6) -> list[np.ndarray]:
        self.get_tracklet(tracklet_id)
        return [np.zeros((48, 64, 3), np.uint8) for _ in range(n)]

    def export(self, response: SearchResponse, fmt: str, actor: str = "cli") -> Path:
        path = self.data_dir / "exports" / f"matches.{fmt}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(f"{m.rank},{m.tracklet.id},{m.score}" for m in response.matches))
        self.calls.append(("export", fmt, actor))
        return path

    def index_video(self, path, camera=None, start_time=None, progress=None, actor="cli") -> IndexReport:
        self.calls.append(("index_video", str(path), camera, start_time, actor))
        name = Path(path).name
        if "bad" in name:
            return IndexReport(str(path), camera or "", "failed", error="cannot decode frame 0")
        if "boom" in name:
            raise RuntimeError("detector crashed")
        for k in range(5):
            if progress:
                progress(k / 5, f"{name}: frame {k}")
            time.sleep(self.index_delay_s)
        with self._lock:
            video_id, n = self._add_video(camera or Path(path).stem, 2, start_time, str(path))
        return IndexReport(str(path), camera or "", "indexed", video_id, n, 4.0, 0.1)

    def index_folder(self, root, progress=None, actor="cli") -> list[IndexReport]:
        files = sorted(p for p in Path(root).rglob("*.mp4"))
        return [self.index_video(p, p.parent.name, None, progress, actor) for p in files]

    def status(self) -> ServiceStatus:
        per = {}
        for t in self._tracklets.values():
            per[t.camera] = per.get(t.camera, 0) + 1
        return ServiceStatus(self.data_dir, "hog" if self.fallback else "yolo", self.fallback,
                             "mobilenetv2" if self.fallback else "tfclip", "imagenet", self.fallback,
                             1280, "flat", self._next_video - 1, len(self._tracklets), per,
                             ["Offline fallback embedder in use."] if self.fallback else [])

    def resolve_data_path(self, path) -> Path:
        p = Path(path)
        p = (p if p.is_absolute() else self.data_dir / p).resolve()
        if not p.is_relative_to(self.data_dir.resolve()):
            raise ValueError(f"access outside the data directory refused: {path}")
        return p
