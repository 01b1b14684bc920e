"""Synthetic galleries for store and search tests."""

from __future__ import annotations

import datetime as dt

import numpy as np
import sqlalchemy as sa

from reid.store import Store, TrackletRecord

FP = {"model": "oracle", "weights_sha256": "0" * 8, "dim": 16, "preprocess": {"size": [256, 128]}}
T0 = dt.datetime(2024, 5, 1, 9, 0, tzinfo=dt.timezone.utc)


def record(track_id: int, start_s: float, end_s: float, fps: float = 10.0,
           crops: tuple = (), thumb=None) -> TrackletRecord:
    frames = np.arange(int(start_s * fps), int(end_s * fps) + 1)
    boxes = np.column_stack([frames, frames + 1, frames + 50, frames + 120]).astype(np.float32)
    return TrackletRecord(track_id, frames, boxes, start_s, end_s, quality=0.5,
                          crop_paths=crops, thumbnail_path=thumb)


def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def person_gallery(store: Store, people: int = 6, cameras: int = 3, noise: float = 0.05,
                   seed: int = 0) -> dict[int, tuple[int, int]]:
    """One video per camera; every person walks on every camera at overlapping times.

    Descriptors are exact up to small noise plus a per-camera bias (an oracle embedder).
    Returns ``{tracklet_id: (person, camera)}``.
    """
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((people, FP["dim"])))
    bias = unit(rng.standard_normal((cameras, FP["dim"]))) * 0.2
    truth = {}
    for c in range(cameras):
        vid = store.add_video(f"/videos/cam{c}.mp4", f"hash{c}", f"cam{c}", fps=10.0,
                              duration_s=60.0, start_time=T0 + dt.timedelta(minutes=5 * c))
        recs = [record(p, 1.0 + p, 20.0 + p) for p in range(people)]
        desc = unit(centres + bias[c] + noise * rng.standard_normal((people, FP["dim"])))
        ids = store.add_tracklets(vid, recs, desc, FP)
        truth.update({i: (p, c) for p, i in enumerate(ids)})
    return truth


def execute_sql(url: str, *statements: str) -> None:
    """Run ``statements`` in one transaction on the database at ``url`` (behind the store's back)."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as con:
            for sql in statements:
                con.exec_driver_sql(sql)
    finally:
        engine.dispose()
