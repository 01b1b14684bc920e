"""Contact sheets of tracklet crops, for labelling which tracklets are the same person.

Runs the tracker (SSDLite + ByteTrack, default settings) on a video, or reads a ``reid track`` JSON,
and writes PNG grids: one row per tracklet, first a small full frame with the tracklet's path (box
bottom centres) and its middle box, then a few crops sampled over its life, each captioned with the
tracklet id and frame. A person then writes ``assets/labels/*.json`` (see
:mod:`tracking.labels`) by eye.

    python benchmarks/label_tool.py sheets --out /tmp/sheets [--tracklets ssd.json] [--video data/vtest.avi]
    python benchmarks/label_tool.py frame --tracklets ssd.json --frame 300 --out f300.png
    python benchmarks/label_tool.py fill --tracklets ssd.json \\
        --labels assets/labels/vtest_identities.json --out assets/labels/vtest_identities.json
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import cv2
import numpy as np
from ssd_detector import read_frames  # a sibling script: benchmarks/ is on sys.path when run

ROOT = Path(__file__).resolve().parents[1]
VTEST = ROOT / "data" / "vtest.avi"
CROP_H = 200
OVERVIEW_W = 240


def _track(video: Path) -> list[dict]:
    from tracking import create_detector, track_video

    tracklets, _ = track_video(video, create_detector("ssd"), "bytetrack", with_crops=False)
    return [t.to_dict() for t in tracklets]


def _load_tracklets(path: Path | None, video: Path) -> list[dict]:
    if path is None:
        return _track(video)
    return json.loads(path.read_text())["tracklets"]


def _crop(frame: np.ndarray, box: list[float]) -> np.ndarray:
    h, w = frame.shape[:2]
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
    crop = frame[y1:max(y2, y1 + 1), x1:max(x2, x1 + 1)]
    scale = CROP_H / max(crop.shape[0], 1)
    return cv2.resize(crop, (max(1, int(crop.shape[1] * scale)), CROP_H))


def _caption(img: np.ndarray, text: str) -> None:
    cv2.putText(img, text, (2, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3)
    cv2.putText(img, text, (2, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 255, 255), 1)


def _row(frames: list[np.ndarray], t: dict, n_crops: int) -> np.ndarray:
    fi = t["frame_indices"]
    boxes = t["boxes_xyxy"]
    mid = len(fi) // 2
    over = frames[fi[mid]].copy()
    pts = np.array([[(b[0] + b[2]) / 2, b[3]] for b in boxes], np.int32)
    cv2.polylines(over, [pts], False, (0, 255, 0), 3)
    x1, y1, x2, y2 = (int(v) for v in boxes[mid])
    cv2.rectangle(over, (x1, y1), (x2, y2), (0, 0, 255), 3)
    cv2.circle(over, tuple(pts[0]), 8, (255, 0, 0), -1)
    scale = OVERVIEW_W / over.shape[1]
    over = cv2.resize(over, (OVERVIEW_W, int(over.shape[0] * scale)))
    pad = np.zeros((CROP_H, OVERVIEW_W, 3), np.uint8)
    pad[: min(CROP_H, over.shape[0])] = over[:CROP_H]
    _caption(pad, f"T{t['track_id']} f{fi[0]}-{fi[-1]} n{len(fi)}")
    cells = [pad]
    for k in np.linspace(0, len(fi) - 1, n_crops).round().astype(int):
        crop = _crop(frames[fi[k]], boxes[k])
        _caption(crop, f"{t['track_id']}:{fi[k]}")
        cells.append(crop)
        cells.append(np.zeros((CROP_H, 4, 3), np.uint8))
    return np.hstack(cells)


def write_sheets(frames: list[np.ndarray], tracklets: list[dict], out: Path, per_sheet: int = 8,
                 n_crops: int = 8) -> list[Path]:
    """PNG contact sheets, ``per_sheet`` tracklets (rows) each; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for s in range(0, len(tracklets), per_sheet):
        rows = [_row(frames, t, n_crops) for t in tracklets[s:s + per_sheet]]
        width = max(r.shape[1] for r in rows)
        rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0))) for r in rows]
        path = out / f"sheet_{s // per_sheet:02d}.png"
        cv2.imwrite(str(path), np.vstack(rows))
        paths.append(path)
    return paths


def draw_frame(frame: np.ndarray, tracklets: list[dict], index: int) -> np.ndarray:
    """The full frame with every tracklet box present in it, captioned with its id."""
    img = frame.copy()
    for t in tracklets:
        if index in t["frame_indices"]:
            b = t["boxes_xyxy"][t["frame_indices"].index(index)]
            x1, y1, x2, y2 = (int(v) for v in b)
            cv2.rectangle(img, (x1, y1), (x2, y2), (0, 0, 255), 2)
            cv2.putText(img, str(t["track_id"]), (x1, max(12, y1 - 3)), cv2.FONT_HERSHEY_SIMPLEX,
                        0.6, (0, 255, 255), 2)
    cv2.putText(img, f"frame {index}", (5, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2)
    return img


def fill_label_boxes(labels: dict, tracklets: list[dict]) -> dict:
    """The label file with each labelled tracklet's ``boxes`` filled from the tracker output: every
    ``sample_step``-th box of the tracklet inside its labelled ``frames`` span, ``[frame, x1, y1, x2, y2]``.

    Raises:
        KeyError: a labelled track id is not in ``tracklets``.
    """
    by_id = {t["track_id"]: t for t in tracklets}
    step = int(labels.get("sample_step", 3))
    for ident in labels["identities"]:
        for entry in ident["tracklets"]:
            t = by_id[entry["track_id"]]
            lo, hi = entry["frames"]
            pairs = zip(t["frame_indices"], t["boxes_xyxy"], strict=True)
            rows = [[f, *(round(v, 1) for v in b)] for f, b in pairs if lo <= f <= hi]
            entry["boxes"] = rows[::step]
    return labels


def _dump(labels: dict) -> str:
    """JSON with one box row per line (readable diffs)."""
    text = json.dumps(labels, indent=1)
    return re.sub(r"\[[-\d.,\s]*\]", lambda m: json.dumps(json.loads(m.group(0))), text) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("sheets", "frame", "fill"))
    parser.add_argument("--labels", default=None, help="fill: the label file whose boxes are (re)filled")
    parser.add_argument("--video", default=str(VTEST))
    parser.add_argument("--tracklets", default=None, help="reid track JSON (default: run SSD + ByteTrack)")
    parser.add_argument("--ids", default=None, help="comma-separated tracklet ids (default: all)")
    parser.add_argument("--frame", type=int, default=0)
    parser.add_argument("--crops", type=int, default=8, help="crops per tracklet row")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    frames = read_frames(Path(args.video))
    tracklets = _load_tracklets(Path(args.tracklets) if args.tracklets else None, Path(args.video))
    if args.ids:
        wanted = {int(v) for v in args.ids.split(",")}
        tracklets = [t for t in tracklets if t["track_id"] in wanted]
    if args.mode == "fill":
        path = Path(args.labels)
        labels = fill_label_boxes(json.loads(path.read_text()), tracklets)
        Path(args.out).write_text(_dump(labels))
        print(args.out)
    elif args.mode == "sheets":
        for p in write_sheets(frames, tracklets, Path(args.out), n_crops=args.crops):
            print(p)
    else:
        cv2.imwrite(args.out, draw_frame(frames[args.frame], tracklets, args.frame))
        print(args.out)


if __name__ == "__main__":
    main()
