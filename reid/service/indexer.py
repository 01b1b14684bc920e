"""Index one video: track -> crops on disk -> embed in batches -> one transaction in the store."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from reid.embed import Embedder
from reid.service.types import IndexReport, ProgressFn
from reid.store import Store, TrackletRecord
from tracking import Detector, TrackingConfig, Tracklet, VideoTracker

logger = logging.getLogger(__name__)

EMBED_BATCH_TRACKLETS = 16


@dataclass
class IndexJob:
    """Everything needed to index one file; the store row already exists (status ``indexing``)."""

    store: Store
    detector: Detector
    embedder: Embedder
    tracking_config: TrackingConfig
    video_id: int
    path: Path
    camera: str
    start_time: dt.datetime | None = None
    stride: int = 1
    progress: ProgressFn | None = None
    write_lock: Callable[[], AbstractContextManager[None]] = nullcontext


def tracklet_quality(t: Tracklet) -> float:
    """A [0, 1] score for display order: mean detector confidence x how large the person is
    (median box height relative to 128 pixels, capped at 1), over the detected boxes (interpolated
    boxes have score 0 and are left out)."""
    detected = np.asarray(t.scores) > 0
    if not detected.any():
        return 0.0
    heights = (t.boxes_xyxy[:, 3] - t.boxes_xyxy[:, 1])[detected]
    size = min(1.0, float(np.median(heights)) / 128.0)
    return float(np.clip(np.mean(np.asarray(t.scores)[detected]) * size, 0.0, 1.0))


def _write_jpeg(path: Path, rgb: np.ndarray) -> None:
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90]):
        raise OSError(f"could not write {path}")


def save_crops(store: Store, video_id: int, t: Tracklet) -> tuple[list[str], str | None]:
    """Write a tracklet's crops and thumbnail as JPEGs under ``crops/<video>/<track>/``."""
    folder = store.crop_dir(video_id, t.track_id)
    paths = []
    for i, (crop, frame) in enumerate(zip(t.crops, t.crop_frame_indices, strict=True)):
        path = folder / f"{i:03d}_f{frame:06d}.jpg"
        _write_jpeg(path, crop)
        paths.append(store.relpath(path))
    thumb = None
    if t.thumbnail is not None:
        _write_jpeg(folder / "thumb.jpg", t.thumbnail)
        thumb = store.relpath(folder / "thumb.jpg")
    return paths, thumb


def run_index_job(job: IndexJob) -> IndexReport:
    """Track, embed and store one video. Raises on failure (the caller records the error).

    Memory stays bounded: tracklets arrive as they finish, their crops go to disk, and they are
    embedded in batches of ``EMBED_BATCH_TRACKLETS``. The database rows and vectors are written at
    the end in one transaction, holding ``job.write_lock()`` (the gallery's writer lock: only for
    that write, so several processes index videos side by side), so a killed run leaves no
    half-indexed video behind.
    """
    t0 = time.perf_counter()
    start_posix = job.start_time.timestamp() if job.start_time else None

    def on_progress(done: int, total: int) -> None:
        if job.progress is not None and total > 0:
            job.progress(min(0.95, 0.95 * done / total), f"{job.path.name}: frame {done}/{total}")

    tracker = VideoTracker(
        job.path, job.detector, job.tracking_config, video_id=str(job.video_id), camera_id=job.camera,
        stride=job.stride, start_time=start_posix, with_crops=True, progress=on_progress,
    )
    info = tracker.info
    job.store.update_video(
        job.video_id, fps=info.fps, frame_count=info.frame_count, duration_s=info.duration_seconds
    )
    records: list[TrackletRecord] = []
    descriptors: list[np.ndarray] = []
    pending: list[tuple[Tracklet, list[str], str | None]] = []

    timings = {"embed": 0.0, "crops": 0.0}

    def flush() -> None:
        if not pending:
            return
        t_embed = time.perf_counter()
        descriptors.append(job.embedder.embed_tracklets([t.crops for t, _, _ in pending]))
        timings["embed"] += time.perf_counter() - t_embed
        for t, crop_paths, thumb in pending:
            records.append(TrackletRecord(
                track_id=t.track_id, frames=t.frame_indices, boxes_xyxy=t.boxes_xyxy,
                start_s=t.start_seconds, end_s=t.end_seconds, quality=tracklet_quality(t),
                crop_paths=crop_paths, thumbnail_path=thumb,
            ))
        pending.clear()

    for t in tracker.run():
        if not t.crops:
            continue
        t_crops = time.perf_counter()
        crop_paths, thumb = save_crops(job.store, job.video_id, t)
        timings["crops"] += time.perf_counter() - t_crops
        pending.append((t, crop_paths, thumb))
        if len(pending) >= EMBED_BATCH_TRACKLETS:
            flush()
    flush()
    if job.progress is not None:
        job.progress(0.97, f"{job.path.name}: storing {len(records)} tracklets")
    vectors = np.concatenate(descriptors) if descriptors else np.zeros((0, job.embedder.dim), np.float32)
    t_store = time.perf_counter()
    with job.write_lock():  # the gallery's writer lock for this write only, not the whole video
        if records:
            job.store.add_tracklets(job.video_id, records, vectors, job.embedder.fingerprint,
                                    mark_done=True)
        else:
            job.store.update_video(job.video_id, status="done")
    timings["store"] = time.perf_counter() - t_store
    stats = tracker.stats
    timings.update(decode=stats.decode_seconds, detect=stats.detect_seconds, track=stats.track_seconds)
    # Seconds actually decoded (a truncated file has fewer frames than it announces).
    duration = (stats.read.decoded / info.fps) if info.fps > 0 else 0.0
    if stats.read.truncated:
        logger.warning("%s ended early: %d frames decoded of %d announced",
                       job.path, stats.read.decoded, info.frame_count)
    logger.info(
        "indexed %s (camera %s): %d tracklets in %.1fs (decode %.1fs, detect %.1fs, track %.1fs)",
        job.path, job.camera, len(records), time.perf_counter() - t0,
        stats.decode_seconds, stats.detect_seconds, stats.track_seconds,
    )
    return IndexReport(
        path=str(job.path), camera=job.camera, status="indexed", video_id=job.video_id,
        tracklets=len(records), video_seconds=float(duration), elapsed_s=time.perf_counter() - t0,
        timings=timings,
    )
