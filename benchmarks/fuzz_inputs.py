"""The hostile inputs of ``benchmarks/fuzz_server.py``, generated from a seeded ``random.Random``:
damaged and odd-sized videos and images (files), random JSON-ish values and ``/api/v1/search``
bodies, and the hostile strings and times they draw from. A helper module, not a script.
"""

from __future__ import annotations

import functools
import json
import os
import random
import string
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

HOSTILE = [
    "<img src=x onerror=alert(1)>", "<script>alert(1)</script>", "\"><svg onload=alert(1)>",
    "![x](http://evil.example/beacon.png)", "[click](javascript:alert(1))",
    "<div style=\"position:fixed;inset:0;background:#fff\">log in</div>",
    "=HYPERLINK(\"http://evil.example\")", "+cmd|'/c calc'!A0", "-2+3", "@SUM(1)", "\tx", "\rx",
    "../../etc/passwd", "..\\..\\boot.ini", "/etc/passwd", "a/b", "C:\\x", "\x00nul", "\x1b[31mred\x1b[0m",
    "\u202eevil\u202c", "ｃａｍ", "😀" * 10, "x" * 5000, "", " ", ".", "..", "%00", "%2e%2e%2f",
    "${jndi:ldap://x}", "{{7*7}}", "'; DROP TABLE tracklets; --", "NaN", "-1", "1e309",
]
BAD_TIMES = ["", "tomorrow", "2024-13-45", "99999-01-01", "0000-00-00", "NaN", "1e309", "-1",
             "2024-05-01T09:00:00+99:00", "\x00", "<b>9</b>", "2024-05-01 09:00:00"]



# ---------------------------------------------------------------------------- generated files
def write_video(path: Path, size: tuple[int, int], frames: int, *, codec: str = "MJPG",
                fps: float = 10.0, color: bool = True, rng: random.Random | None = None) -> Path:
    """A video of ``frames`` noisy frames of ``size`` = (width, height); may write nothing."""
    rng = rng or random.Random(0)
    w, h = size
    tmp = path.with_name(path.name + ".tmp.avi")  # an AVI container whatever the final name
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*codec), fps, (w, h), color)
    gen = np.random.default_rng(rng.randrange(2**32))
    for _ in range(frames):
        shape = (h, w, 3) if color else (h, w)
        writer.write(gen.integers(0, 255, shape, dtype=np.uint8))
    writer.release()
    if tmp.exists():
        tmp.replace(path)
    else:
        path.write_bytes(b"")
    return path


def damaged(data: bytes, rng: random.Random) -> bytes:
    """``data`` truncated, bit-flipped, zero-filled or shuffled in a random place."""
    if not data:
        return bytes(rng.randrange(256) for _ in range(64))
    kind = rng.choice(["truncate", "flip", "zero", "splice", "prefix"])
    b = bytearray(data)
    at = rng.randrange(len(b))
    if kind == "truncate":
        return bytes(b[:at])
    if kind == "flip":
        for _ in range(rng.randint(1, 16)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        return bytes(b)
    if kind == "zero":
        n = rng.randint(1, 4096)
        b[at:at + n] = bytes(min(n, len(b) - at))
        return bytes(b)
    if kind == "splice":
        return bytes(b[:at] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 512))) + b[at:])
    return bytes(rng.randrange(256) for _ in range(rng.randint(1, 64))) + bytes(b)


def bad_videos(folder: Path, rng: random.Random, good: Path, count: int) -> list[Path]:
    """``count`` hostile video files under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    makers = [
        lambda p: write_video(p, (1, 1), 3, rng=rng),
        lambda p: write_video(p, (8, 8), 5, rng=rng),
        lambda p: write_video(p, (64, 48), 5, rng=rng),
        lambda p: write_video(p, (63, 127), 4, rng=rng),
        lambda p: write_video(p, (2, 600), 3, rng=rng),
        lambda p: write_video(p, (600, 2), 3, rng=rng),
        lambda p: write_video(p, (160, 120), 1, rng=rng),
        lambda p: write_video(p, (160, 120), 0, rng=rng),
        lambda p: write_video(p, (160, 120), 6, color=False, rng=rng),
        lambda p: write_video(p, (320, 240), 4, fps=1.0, rng=rng),
        lambda p: write_video(p, (320, 240), 4, fps=1000.0, rng=rng),
        lambda p: write_video(p, (4096 + 16, 64), 2, rng=rng),
        lambda p: p.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randint(0, 20000)))),
        lambda p: p.write_bytes(damaged(good.read_bytes(), rng)),
        lambda p: p.write_bytes(damaged(good.read_bytes(), rng)),
        lambda p: p.write_text("<html><script>alert(document.cookie)</script></html>"),
        lambda p: p.write_text("<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>"),
    ]
    names = ["a.avi", "b.mp4", "c.mkv", "d.mov", "e.webm"]
    out = []
    for k in range(count):
        name = f"{k:03d}_" + rng.choice(names)
        if rng.random() < 0.3:
            junk = rng.choice(["<b>x</b>", "..", "=cmd", "\u202e", "%2e", "😀", "a b", "'\""])
            name = f"{k:03d}{junk}{name}".replace("/", "_")
        path = folder / name
        make = rng.choice(makers)
        if not _in_child(functools.partial(make, path)):  # OpenCV's writer itself may crash on odd input
            path.write_bytes(bytes(rng.randrange(256) for _ in range(1000)))
        out.append(path)
    return out


def _in_child(fn: Callable[[], object]) -> bool:
    """Run ``fn`` in a forked child; False when the child did not exit cleanly."""
    pid = os.fork()
    if pid == 0:
        try:
            fn()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def bad_images(folder: Path, rng: random.Random, good: Path, count: int) -> list[Path]:
    """``count`` hostile image files under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    gen = np.random.default_rng(rng.randrange(2**32))

    def png(shape: tuple[int, ...], dtype: type = np.uint8) -> bytes:
        hi = 65535 if dtype == np.uint16 else 255
        ok, buf = cv2.imencode(".png", gen.integers(0, hi, shape, dtype=dtype))
        return buf.tobytes() if ok else b""

    def bomb() -> bytes:  # a tiny PNG that declares 30000 x 30000 pixels
        ok, buf = cv2.imencode(".png", np.zeros((30000, 1, 1), np.uint8))
        data = bytearray(buf.tobytes())
        data[16:20] = (30000).to_bytes(4, "big")  # IHDR width (the CRC no longer matches)
        return bytes(data)

    makers = [
        lambda: png((1, 1, 3)), lambda: png((2, 3)), lambda: png((300, 100, 4)),
        lambda: png((64, 32, 3), np.uint16), lambda: png((1, 5000, 3)), lambda: bomb(),
        lambda: png((3000, 3000)),
        lambda: damaged(good.read_bytes(), rng), lambda: damaged(good.read_bytes(), rng),
        lambda: b"", lambda: b"GIF89a" + bytes(rng.randrange(256) for _ in range(100)),
        lambda: b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>",
        lambda: b"<html><script>alert(1)</script></html>",
    ]
    out = []
    for k in range(count):
        path = folder / f"{k:03d}_{rng.choice(['q.png', 'q.jpg', 'q.webp', 'q.bmp'])}"
        path.write_bytes(rng.choice(makers)())
        out.append(path)
    return out


# ---------------------------------------------------------------------------- generated values
def random_value(rng: random.Random, depth: int = 0) -> object:
    """A random JSON-ish value, hostile more often than not."""
    kinds = ["int", "bigint", "float", "str", "hostile", "bool", "null", "list", "dict"]
    if depth > 3:
        kinds = kinds[:7]
    kind = rng.choice(kinds)
    if kind == "int":
        return rng.choice([0, 1, -1, 2**31, -(2**31), 2**63, 10**30, rng.randint(-10**6, 10**6)])
    if kind == "bigint":
        return int("9" * rng.randint(20, 400))
    if kind == "float":
        return rng.choice([0.5, -0.0, 1e308, -1e308, 1e-320, float("nan"), float("inf")])
    if kind == "str":
        return "".join(rng.choice(string.printable) for _ in range(rng.randint(0, 64)))
    if kind == "hostile":
        return rng.choice(HOSTILE + BAD_TIMES)
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "list":
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    keys = ["tracklet_id", "top_k", "cameras", "x", "", "__proto__"]
    return {rng.choice(keys): random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


SEARCH_KEYS = ["tracklet_id", "top_k", "cameras", "time_from", "time_to", "min_duration_s",
               "exclude_same_video", "exclude_same_camera", "score_threshold", "rerank",
               "query_expansion"]


def search_body(rng: random.Random, valid_id: int) -> bytes:
    """A hostile ``/api/v1/search`` body: mostly JSON objects with wrong values, some broken JSON."""
    roll = rng.random()
    if roll < 0.1:
        return rng.choice([b"", b"{", b"[]", b"null", b'{"tracklet_id": }', b"\xff\xfe\x00",
                           b'{"tracklet_id": 1' + b"," * 1000, b"[" * 5000 + b"]" * 5000])
    body: dict[str, object] = {"tracklet_id": valid_id}
    for key in rng.sample(SEARCH_KEYS, rng.randint(1, 5)):
        body[key] = random_value(rng)
    text = json.dumps(body, allow_nan=True)
    return text.encode("utf-8", "surrogatepass")
