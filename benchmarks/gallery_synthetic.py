"""Cross-camera retrieval quality of the whole gallery pipeline on synthetic multi-camera footage.

    python benchmarks/gallery_synthetic.py [--cameras 3] [--identities 8] [--per-camera 5]

Synthetic scenes (procedural people whose clothing follows their identity) are written as videos,
indexed through ``ReidService`` with ground-truth detections (so tracking is not the variable), and
every tracklet queries the others. A tracklet's identity is the ground-truth person its boxes
overlap most. Reported per embedder: Rank-1 and mAP with the video-ReID protocol (same identity
on the same camera removed, other people on the same camera kept) from
``training.evaluate_rank``; and cross-camera Rank-1 (other cameras only) computed twice, directly
from the stored descriptors and through the service's search (``exclude_same_camera``), which
agree when the plumbing loses nothing.

Embedders: the offline MobileNetV2 fallback (the real model available without a network), and a
random-init TF-CLIP (``tfclip-vit-b16``) as the untrained control.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.support (run as a script)

from reid.embed import MobileNetEmbedder  # noqa: E402
from reid.service import ReidService, SearchRequest  # noqa: E402
from reid.store import Store  # noqa: E402
from tests.support.embedders import random_init_embedder  # noqa: E402
from tests.support.synthetic import GroundTruthDetector, SyntheticScene, make_multicamera_scenes  # noqa: E402
from tracking import load_tracking_config  # noqa: E402
from training import evaluate_rank  # noqa: E402


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes a (4,) against b (N, 4), xyxy pixels."""
    x1, y1 = np.maximum(a[0], b[:, 0]), np.maximum(a[1], b[:, 1])
    x2, y2 = np.minimum(a[2], b[:, 2]), np.minimum(a[3], b[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    return inter / np.maximum(area, 1e-6)


def identity_of(scene: SyntheticScene, frames: np.ndarray, boxes: np.ndarray) -> int:
    """The ground-truth identity whose boxes overlap the tracklet's boxes most (summed IoU)."""
    votes: dict[int, float] = {}
    for f, box in zip(frames, boxes, strict=True):
        gt = scene.ground_truth(int(f))
        if len(gt.ids):
            ious = box_iou(box, gt.boxes_xyxy)
            j = int(ious.argmax())
            votes[int(gt.ids[j])] = votes.get(int(gt.ids[j]), 0.0) + float(ious[j])
    return max(votes, key=votes.get) if votes else -1


def evaluate(embedder, scenes: list[SyntheticScene], root: Path) -> dict:
    store = Store.open(root / embedder.name)
    service = ReidService(store, GroundTruthDetector(scenes[0]), embedder, load_tracking_config("bytetrack"))
    t0 = time.perf_counter()
    for scene in scenes:
        service.detector = GroundTruthDetector(scene)
        video = scene.write_video(root / f"{scene.camera_id}.avi")
        report = service.index_video(video, camera=scene.camera_id)
        if report.status != "indexed":
            raise RuntimeError(report.error)
    index_s = time.perf_counter() - t0
    by_camera = {s.camera_id: s for s in scenes}
    infos = service.list_tracklets(limit=None)
    pids = np.array([identity_of(by_camera[t.camera], *store.get_boxes(t.id)) for t in infos])
    cams = np.array([sorted(by_camera).index(t.camera) for t in infos])
    x = store.get_descriptors([t.id for t in infos])
    dist = 2.0 - 2.0 * (x @ x.T)  # squared Euclidean of unit vectors
    cmc, mean_ap = evaluate_rank(dist, pids, pids, cams, cams, max_rank=5)
    # Cross-camera Rank-1 two ways: directly from the descriptors, and through the service's
    # search (other cameras only); equal unless the plumbing loses or reorders something.
    row_of = {t.id: i for i, t in enumerate(infos)}
    direct = service_hits = valid = 0
    for i, t in enumerate(infos):
        other = cams != cams[i]
        if not ((pids == pids[i]) & other).any():
            continue
        valid += 1
        direct += int(pids[np.flatnonzero(other)[dist[i, other].argmin()]] == pids[i])
        found = service.search(SearchRequest(tracklet_id=t.id, top_k=1, exclude_same_camera=True))
        service_hits += bool(found.matches) and int(pids[row_of[found.matches[0].tracklet.id]] == pids[i])
    return {"embedder": embedder.name, "tracklets": len(infos), "identities": len(set(pids.tolist())),
            "rank1": float(cmc[0]), "mAP": float(mean_ap), "xcam_rank1": direct / max(valid, 1),
            "service_rank1": service_hits / max(valid, 1), "index_s": index_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=3)
    parser.add_argument("--identities", type=int, default=8)
    parser.add_argument("--per-camera", type=int, default=5)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    scenes = make_multicamera_scenes(num_cameras=args.cameras, num_identities=args.identities,
                                     per_camera=args.per_camera, seed=args.seed, num_frames=args.frames,
                                     size_wh=(640, 360), occlusions=False)
    embedders = [MobileNetEmbedder(), random_init_embedder("tfclip-vit-b16", seed=0)]
    print(f"{'embedder':<24}{'tracklets':>10}{'ids':>5}{'Rank-1':>8}{'mAP':>7}{'x-cam R1':>9}"
          f"{'service R1':>11}{'index s':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for embedder in embedders:
            r = evaluate(embedder, scenes, Path(tmp))
            print(f"{r['embedder']:<24}{r['tracklets']:>10}{r['identities']:>5}{r['rank1']:>8.3f}"
                  f"{r['mAP']:>7.3f}{r['xcam_rank1']:>9.3f}{r['service_rank1']:>11.3f}{r['index_s']:>9.1f}")


if __name__ == "__main__":
    main()
