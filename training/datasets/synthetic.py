"""A small, seedable synthetic video-ReID dataset of procedurally drawn people.

Identity = clothing colours (top, bottom, shoes, hair), a torso pattern (solid, stripes, checks),
body shape (width, height) and a carried item (none, backpack, bag, hat). Each camera has its own
viewpoint scale, illumination, colour cast, blur, background clutter and occlusion rate; frames walk
(leg swing) and jitter. Train and test identities are disjoint, so evaluation is on held-out people.

``generate_synthetic(root, ...)`` writes JPEG frames plus ``manifest.json`` under ``root`` (a folder
the caller names) and returns :class:`DatasetSplits`; ``load_synthetic(root)`` reads it back;
``render_walk(root, pid, camid, n)`` draws new frames of one of its people under one of its cameras.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from training.datasets.records import DatasetSplits, DatasetTracklet, require_file

logger = logging.getLogger(__name__)

_PALETTE = np.array([
    [200, 30, 30], [30, 140, 40], [30, 60, 190], [230, 200, 40], [240, 240, 240], [25, 25, 25],
    [120, 120, 120], [150, 80, 30], [230, 120, 20], [140, 40, 160], [40, 190, 200], [240, 150, 170],
    [90, 110, 60], [20, 40, 90],
], dtype=np.float64)
_PATTERNS = ("solid", "hstripes", "vstripes", "checks")
_ITEMS = ("none", "backpack", "bag", "hat")
# A filled rectangle of a scene: ((x0, y0, x1, y1) pixels, RGB colour).
_Patch = tuple[tuple[int, int, int, int], tuple[int, int, int]]


@dataclass(frozen=True)
class _Identity:
    top: tuple[int, int, int]
    pattern_colour: tuple[int, int, int]
    bottom: tuple[int, int, int]
    shoes: tuple[int, int, int]
    hair: tuple[int, int, int]
    skin: tuple[int, int, int]
    item_colour: tuple[int, int, int]
    pattern: str
    item: str
    width: float
    height: float


@dataclass(frozen=True)
class _Camera:
    scale: float
    gain: float
    cast: tuple[float, float, float]
    blur: float
    background: tuple[int, int, int]
    occlusion_p: float


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    c = _PALETTE[rng.integers(len(_PALETTE))] + rng.normal(0, 12, 3)
    return _rgb(np.clip(c, 0, 255))


def _floats3(values: np.ndarray) -> tuple[float, float, float]:
    """The first three entries of ``values`` as floats."""
    x, y, z = (float(v) for v in values[:3])
    return x, y, z


def _rgb(values: np.ndarray) -> tuple[int, int, int]:
    """The first three entries of ``values`` as ints (truncated)."""
    r, g, b = (int(v) for v in values[:3])
    return r, g, b


def _identity(rng: np.random.Generator) -> _Identity:
    skin = np.array([225, 180, 140]) * rng.uniform(0.45, 1.05)
    return _Identity(
        top=_colour(rng), pattern_colour=_colour(rng), bottom=_colour(rng), shoes=_colour(rng),
        hair=_colour(rng), skin=_rgb(np.clip(skin, 0, 255)),
        item_colour=_colour(rng), pattern=_PATTERNS[rng.integers(len(_PATTERNS))],
        item=_ITEMS[rng.integers(len(_ITEMS))], width=float(rng.uniform(0.8, 1.2)),
        height=float(rng.uniform(0.88, 1.0)),
    )


def _camera(rng: np.random.Generator) -> _Camera:
    # keyword arguments are evaluated in order: the draws keep the seeded datasets unchanged
    return _Camera(
        scale=float(rng.uniform(0.75, 1.0)), gain=float(rng.uniform(0.65, 1.25)),
        cast=_floats3(rng.uniform(0.82, 1.18, 3)),
        blur=float(rng.uniform(0.0, 1.0)), background=_colour(rng),
        occlusion_p=float(rng.uniform(0.0, 0.35)),
    )


def _draw_torso(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], p: _Identity) -> None:
    x0, y0, x1, y1 = box
    draw.rectangle(box, fill=p.top)
    step = max(2, (y1 - y0) // 5)
    if p.pattern == "hstripes":
        for y in range(y0, y1, 2 * step):
            draw.rectangle((x0, y, x1, min(y + step - 1, y1)), fill=p.pattern_colour)
    elif p.pattern == "vstripes":
        for x in range(x0, x1, 2 * step):
            draw.rectangle((x, y0, min(x + step - 1, x1), y1), fill=p.pattern_colour)
    elif p.pattern == "checks":
        for y in range(y0, y1, step):
            for x in range(x0 + ((y - y0) // step % 2) * step, x1, 2 * step):
                draw.rectangle((x, y, min(x + step - 1, x1), min(y + step - 1, y1)),
                               fill=p.pattern_colour)


def _render(
    p: _Identity, cam: _Camera, size: tuple[int, int], phase: float, jitter: tuple[float, float],
    clutter: list[_Patch],
    occluder: _Patch | None,
    rng: np.random.Generator,
) -> Image.Image:
    H, W = size
    img = Image.new("RGB", (W, H), cam.background)
    draw = ImageDraw.Draw(img)
    for box, colour in clutter:
        draw.rectangle(box, fill=colour)
    h = H * cam.scale * p.height
    w = W * 0.55 * cam.scale * p.width
    cx = W / 2 + jitter[0]
    top = H - h - (H - H * cam.scale) / 2 + jitter[1]
    head_h, torso_h, leg_h = 0.16 * h, 0.38 * h, 0.42 * h
    hx = w * 0.22
    draw.ellipse((cx - hx, top, cx + hx, top + head_h), fill=p.skin)
    draw.rectangle((cx - hx, top, cx + hx, top + head_h * 0.35), fill=p.hair)
    if p.item == "hat":
        draw.rectangle((cx - hx * 1.3, top - head_h * 0.15, cx + hx * 1.3, top + head_h * 0.2),
                       fill=p.item_colour)
    t0 = top + head_h
    torso = (int(cx - w / 2), int(t0), int(cx + w / 2), int(t0 + torso_h))
    arm = w * 0.16
    draw.rectangle((torso[0] - arm, t0 + 1, torso[0], t0 + torso_h * 0.9), fill=p.top)
    draw.rectangle((torso[2], t0 + 1, torso[2] + arm, t0 + torso_h * 0.9), fill=p.top)
    _draw_torso(draw, torso, p)
    l0 = t0 + torso_h
    swing = np.sin(phase) * w * 0.18
    for sign in (-1, 1):
        lx = cx + sign * w * 0.22 + sign * swing
        draw.rectangle((lx - w * 0.17, l0, lx + w * 0.17, l0 + leg_h), fill=p.bottom)
        draw.rectangle((lx - w * 0.2, l0 + leg_h, lx + w * 0.2, l0 + leg_h + 0.04 * h),
                       fill=p.shoes)
    if p.item == "backpack":
        draw.rectangle((torso[2] - w * 0.1, t0 + torso_h * 0.1, torso[2] + w * 0.3,
                        t0 + torso_h * 0.75), fill=p.item_colour)
    elif p.item == "bag":
        draw.rectangle((torso[0] - w * 0.35, l0 - torso_h * 0.1, torso[0] - w * 0.02,
                        l0 + torso_h * 0.35), fill=p.item_colour)
    if occluder is not None:
        draw.rectangle(*occluder[:1], fill=occluder[1])
    arr = np.asarray(img, dtype=np.float64) * cam.gain * np.array(cam.cast)
    arr += rng.normal(0, 4, arr.shape)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    if cam.blur > 0.15:
        img = img.filter(ImageFilter.GaussianBlur(cam.blur))
    return img


def _tracklet_scene(
    rng: np.random.Generator, cam: _Camera, size: tuple[int, int]
) -> tuple[list[_Patch], _Patch | None]:
    """Background clutter rectangles and an optional bottom occluder of one tracklet."""
    H, W = size
    clutter: list[_Patch] = []
    for _ in range(int(rng.integers(1, 5))):
        x0, y0 = int(rng.integers(0, W)), int(rng.integers(0, H))
        clutter.append(((x0, y0, x0 + int(rng.integers(3, W // 2)), y0 + int(rng.integers(3, H // 3))),
                        _colour(rng)))
    occluder: _Patch | None = None
    if rng.random() < cam.occlusion_p:
        frac = rng.uniform(0.2, 0.4)
        occluder = ((0, int(H * (1 - frac)), W, H), _colour(rng))
    return clutter, occluder


def generate_synthetic(
    root: str | Path,
    num_train_ids: int = 24,
    num_test_ids: int = 16,
    num_cams: int = 3,
    tracklets_per_cam: int = 1,
    frames_range: tuple[int, int] = (8, 20),
    size: tuple[int, int] = (64, 32),
    seed: int = 0,
) -> DatasetSplits:
    """Draw the dataset into ``root`` (JPEG frames + ``manifest.json``) and return its splits.

    Every identity appears in every camera with ``tracklets_per_cam`` tracklets of a random length
    in ``frames_range`` (inclusive), frames of ``size`` = (H, W) pixels. For each test identity one
    tracklet (random camera) is the query and the others are gallery items.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    cams = [_camera(rng) for _ in range(num_cams)]
    records: dict[str, list[DatasetTracklet]] = {"train": [], "query": [], "gallery": []}
    people = []
    for pid in range(num_train_ids + num_test_ids):
        person = _identity(rng)
        people.append(person)
        is_test = pid >= num_train_ids
        tracks = []
        for camid, cam in enumerate(cams):
            for k in range(tracklets_per_cam):
                folder = root / "frames" / f"{pid:04d}" / f"c{camid}_t{k}"
                folder.mkdir(parents=True, exist_ok=True)
                clutter, occluder = _tracklet_scene(rng, cam, size)
                n = int(rng.integers(frames_range[0], frames_range[1] + 1))
                phase0, dx = rng.uniform(0, 2 * np.pi), rng.uniform(-2, 2)
                paths = []
                for f in range(n):
                    jitter = (dx + rng.normal(0, 0.7), rng.normal(0, 0.7))
                    img = _render(person, cam, size, phase0 + 0.8 * f, jitter, clutter, occluder,
                                  rng)
                    path = folder / f"{f:04d}.jpg"
                    img.save(path, quality=90)
                    paths.append(str(path))
                tracks.append(DatasetTracklet(tuple(paths), pid, camid))
        if not is_test:
            records["train"].extend(tracks)
            continue
        q = int(rng.integers(len(tracks)))
        records["query"].append(tracks[q])
        records["gallery"].extend(t for i, t in enumerate(tracks) if i != q)
    manifest = {
        "params": {"num_train_ids": num_train_ids, "num_test_ids": num_test_ids,
                   "num_cams": num_cams, "tracklets_per_cam": tracklets_per_cam,
                   "frames_range": list(frames_range), "size": list(size), "seed": seed},
        "cameras": [asdict(c) for c in cams],
        "identities": [asdict(p) for p in people],
        **{split: [{"frames": [str(Path(p).relative_to(root)) for p in r.frame_paths],
                    "pid": r.pid, "camid": r.camid} for r in recs]
           for split, recs in records.items()},
    }
    (root / "manifest.json").write_text(json.dumps(manifest))
    return load_synthetic(root)


def render_walk(
    root: str | Path,
    pid: int,
    camid: int,
    num_frames: int,
    size: tuple[int, int] = (64, 32),
    seed: int = 0,
) -> list[np.ndarray]:
    """Fresh frames of person ``pid`` of the dataset at ``root``, seen by its camera ``camid``.

    The same identity (clothes, pattern, body, carried item) and camera look (scale, light, colour
    cast, blur, background) as the dataset's tracklets, in a new walk (phase, jitter, noise) and
    without clutter or occluder: footage of people the dataset knows, e.g. to index in tests.
    Returns ``num_frames`` RGB uint8 images of shape (H, W, 3), ``size`` = (H, W) pixels.

    Raises:
        ValueError: ``pid`` or ``camid`` out of range, or a manifest written before identities
            were recorded in it (generate the dataset again).
    """
    manifest = json.loads(require_file(
        Path(root) / "manifest.json",
        "  <root>/manifest.json written by training.datasets.generate_synthetic").read_text())
    if "identities" not in manifest:
        raise ValueError(f"{root}: this synthetic dataset does not record its identities "
                         "(written by an older version); generate it again")
    people, cams = manifest["identities"], manifest["cameras"]
    if not (0 <= pid < len(people) and 0 <= camid < len(cams)):
        raise ValueError(f"pid {pid} / camid {camid} out of range: the dataset has {len(people)} "
                         f"identities and {len(cams)} cameras")
    person = _Identity(**_lists_to_tuples(people[pid]))
    cam = _Camera(**_lists_to_tuples(cams[camid]))
    rng = np.random.default_rng(seed)
    phase0, dx = rng.uniform(0, 2 * np.pi), rng.uniform(-2, 2)
    return [np.asarray(_render(person, cam, size, phase0 + 0.8 * f,
                               (dx + rng.normal(0, 0.7), rng.normal(0, 0.7)), [], None, rng))
            for f in range(num_frames)]


def _lists_to_tuples(fields: dict[str, Any]) -> dict[str, Any]:
    """A manifest entry's fields with JSON lists back as tuples (the dataclasses' colours)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}


def load_synthetic(root: str | Path) -> DatasetSplits:
    """Read a dataset written by :func:`generate_synthetic` (train pids are 0..num_train_ids-1)."""
    root = Path(root)
    manifest = json.loads(require_file(
        root / "manifest.json",
        "  <root>/manifest.json and <root>/frames/... written by "
        "training.datasets.generate_synthetic (or `benchmarks/train_synthetic.py`)").read_text())
    splits = {
        split: tuple(DatasetTracklet(tuple(str(root / f) for f in r["frames"]), r["pid"], r["camid"])
                     for r in manifest[split])
        for split in ("train", "query", "gallery")
    }
    params = manifest["params"]
    return DatasetSplits("synthetic", splits["train"], splits["query"], splits["gallery"],
                         params["num_train_ids"], params["num_cams"], {"params": params})
