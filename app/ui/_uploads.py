"""Checks on what users send before any processing: file types, sizes, names and start times.

Uploads are refused when the extension is not an accepted video container, when the file's first
bytes do not look like one (a renamed text file is not a video), or when it is larger than the
configured limit. Gradio enforces the same size limit on the upload itself (``max_file_size``);
the check here covers files that reach a callback by another route (the API, a server folder).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import os
import re
import shutil
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from reid.service._cleanup import regular_files
from reid.untrusted import printable, safe_filename

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "UploadLimits",
    "UploadRejectedError",
    "UploadSpace",
    "check_video_file",
    "default_camera_name",
    "parse_time",
    "persist_upload",
    "sniff_video_container",
    "start_time_from_name",
]

VIDEO_EXTENSIONS: tuple[str, ...] = (
    ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
    ".flv", ".wmv", ".asf", ".3gp",
)
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp", ".bmp")

_NAME_TIME = re.compile(
    r"(?P<y>(?:19|20)\d{2})[-_.]?(?P<mo>\d{2})[-_.]?(?P<d>\d{2})[T_ .-]?"
    r"(?P<h>\d{2})[-_.:]?(?P<mi>\d{2})[-_.:]?(?P<s>\d{2})"
)
logger = logging.getLogger(__name__)

_CAMERA_UNSAFE = re.compile(r"[^\w.-]+")
TIME_RANGE = (dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc),
              dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc))


class UploadRejectedError(ValueError):
    """A file or a field the user sent is refused; the message says why and what is accepted."""


def sniff_video_container(head: bytes) -> str | None:
    """Name the video container whose signature starts ``head`` (the file's first bytes), or None.

    Recognises ISO-BMFF (MP4/MOV/3GP), RIFF AVI, Matroska/WebM, MPEG-TS/PS, FLV and ASF/WMV.
    ``head`` should hold at least 377 bytes for MPEG-TS (two 188-byte packets).
    """
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "mp4"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if head[:3] == b"FLV":
        return "flv"
    if head[:8] == b"\x30\x26\xb2\x75\x8e\x66\xcf\x11":
        return "asf"
    if head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):
        return "mpeg-ps"
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return "mpeg-ts"
    if len(head) > 196 and head[4] == 0x47 and head[196] == 0x47:
        return "mpeg-ts"  # M2TS: 4-byte timestamp before each 188-byte packet
    return None


def check_video_file(path: str | Path, max_bytes: int) -> str:
    """Refuse ``path`` unless it is an accepted video container no larger than ``max_bytes``.

    Returns the container name. Raises ``UploadRejectedError`` naming the file, the problem and what
    is accepted.
    """
    path = Path(path)
    name = printable(path.name, max_chars=120)
    if path.suffix.lower() not in VIDEO_EXTENSIONS:
        raise UploadRejectedError(
            f"{name}: not a video file type; accepted: {', '.join(VIDEO_EXTENSIONS)}")
    if not path.is_file():
        raise UploadRejectedError(f"{name}: the file does not exist (was the upload interrupted?)")
    size = path.stat().st_size
    if size > max_bytes:
        raise UploadRejectedError(
            f"{name}: {size / 2**20:.1f} MB is over the upload limit of {max_bytes / 2**20:.0f} MB "
            "(raise it with `reid serve --max-upload-mb`)")
    if size == 0:
        raise UploadRejectedError(f"{name}: the file is empty")
    with path.open("rb") as fh:
        head = fh.read(400)
    container = sniff_video_container(head)
    if container is None:
        raise UploadRejectedError(
            f"{name}: the content is not a known video container (MP4/MOV, AVI, MKV/WebM, "
            "MPEG-TS/PS, FLV, WMV), whatever its extension says")
    return container


def default_camera_name(filename: str | Path) -> str:
    """Camera name proposed for an uploaded file: its stem, made safe (``[A-Za-z0-9_.-]``, 64 max).

    A timestamp in the name (``cam1_20240501_093000.mp4``) is dropped from the camera name, since
    it is the recording's start time, not part of the camera's identity.
    """
    stem = unicodedata.normalize("NFKC", Path(str(filename)).stem)
    stem = _NAME_TIME.sub("", stem)
    safe = _CAMERA_UNSAFE.sub("_", stem).strip("_.-")
    return (safe or "camera")[:64]


def start_time_from_name(filename: str | Path) -> str:
    """Start time found in a file name (``..._20240501_093000...``) as ``YYYY-MM-DD HH:MM:SS``, or ""."""
    m = _NAME_TIME.search(Path(str(filename)).stem)
    if not m:
        return ""
    try:
        value = dt.datetime(int(m["y"]), int(m["mo"]), int(m["d"]),
                            int(m["h"]), int(m["mi"]), int(m["s"]))
    except ValueError:
        return ""
    return value.strftime("%Y-%m-%d %H:%M:%S")


def parse_time(text: str | float | dt.datetime | None, field: str = "time") -> dt.datetime | None:
    """Parse a user time (ISO 8601 text, a POSIX timestamp or a datetime) into aware UTC, or None.

    A time without a zone is taken as UTC. Empty input gives None. Times outside ``TIME_RANGE``
    (1970-01-01 .. 2100-01-01 UTC) are refused as absurd. Raises ``UploadRejectedError`` naming
    ``field`` and an example for anything that is not such a time (``tomorrow``, ``2024-13-45``,
    year 99999, NaN, infinity).
    """
    if text is None:
        return None
    shown = printable(repr(text), max_chars=60)
    example = "write it like 2024-05-01 14:30:00 (UTC unless a zone is given)"
    try:
        if isinstance(text, dt.datetime):
            value = text
        elif isinstance(text, (int, float)) and not isinstance(text, bool):
            if not math.isfinite(float(text)):
                raise ValueError("not finite")
            value = dt.datetime.fromtimestamp(float(text), tz=dt.timezone.utc)
        else:
            raw = str(text).strip()
            if not raw:
                return None
            if len(raw) > 64:
                raise ValueError("too long")
            value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        value = value.astimezone(dt.timezone.utc)
    except (ValueError, TypeError, OverflowError, OSError):
        raise UploadRejectedError(f"{field}: {shown} is not a date and time; {example}") from None
    if not TIME_RANGE[0] <= value < TIME_RANGE[1]:
        raise UploadRejectedError(
            f"{field}: {shown} is outside {TIME_RANGE[0]:%Y-%m-%d} .. {TIME_RANGE[1]:%Y-%m-%d}; {example}")
    return value


def persist_upload(path: str | Path, uploads_dir: Path) -> Path:
    """Keep an uploaded file in the data dir for good: ``uploads/<sha256[:16]>/<name>``.

    Gradio's upload folder is a cache that it empties; indexed videos must stay readable for
    playback and export. Hard-links when the cache is on the same file system, else copies.
    Content-addressed, so uploading the same file twice stores it once.
    """
    import hashlib

    src = Path(path)
    digest = hashlib.sha256()
    with src.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    suffix = src.suffix.lower() if src.suffix.lower() in VIDEO_EXTENSIONS + IMAGE_EXTENSIONS else ""
    name = safe_filename(_CAMERA_UNSAFE.sub("_", src.name[: len(src.name) - len(suffix)]),
                         default="video", max_len=100) + suffix
    dest = Path(uploads_dir) / digest.hexdigest()[:16] / name
    if dest.is_file() and dest.stat().st_size == src.stat().st_size:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dest)
    return dest


# ------------------------------------------------------------------------------ quotas and cleanup

@dataclass(frozen=True)
class UploadLimits:
    """Budgets for uploaded files (bytes and seconds). Defaults (documented in the README):

    - ``per_user_bytes``: 20 GiB per login (per browser session without login) in any 24 hours;
    - ``total_bytes``: 100 GiB for the kept originals (``<data_dir>/uploads``) and Gradio's upload
      cache together; ``min_free_bytes``: 1 GiB always left free on their file system;
    - ``abandoned_after_s``: uploads older than 6 hours that belong to no indexed video are removed
      (at server start, after each indexing job, and at most every ``sweep_every_s`` on uploads).
    """

    per_user_bytes: int = 20 * 2**30
    total_bytes: int = 100 * 2**30
    window_s: float = 24 * 3600.0
    min_free_bytes: int = 2**30
    abandoned_after_s: float = 6 * 3600.0
    sweep_every_s: float = 600.0


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MB"


def _remove_empty_dirs(root: Path) -> None:
    if not root.is_dir():
        return
    for dirpath, _dirs, _names in os.walk(root, topdown=False):
        if Path(dirpath) != root:
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)


class UploadSpace:
    """Where uploads live and how much of it each user may use; one per server (no global state).

    ``uploads_dir`` keeps the originals of indexed uploads; ``cache_dir`` is Gradio's upload cache
    (``app.ui.serving.gradio_cache_dir``). ``indexed_paths()`` returns the source paths of the
    gallery's videos (what the sweep keeps). Thread-safe.
    """

    def __init__(self, uploads_dir: Path, cache_dir: Path | None,
                 indexed_paths: Callable[[], Iterable[str | Path]],
                 limits: UploadLimits | None = None) -> None:
        self.uploads_dir = Path(uploads_dir)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.limits = limits or UploadLimits()
        self._indexed_paths = indexed_paths
        self._lock = threading.Lock()
        self._charged: dict[str, dict[str, tuple[float, int]]] = {}
        self._last_sweep = -math.inf

    def _roots(self) -> list[Path]:
        return [r for r in (self.uploads_dir, self.cache_dir) if r is not None]

    def used_bytes(self) -> int:
        """Bytes held by kept originals and the upload cache (hard links counted once)."""
        seen: set[tuple[int, int]] = set()
        total = 0
        for root in self._roots():
            for _path, st in regular_files(root):
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_size
        return total

    def charge(self, user: str, path: str | Path) -> None:
        """Count the uploaded file ``path`` against ``user``'s budget (once per file).

        Raises ``UploadRejectedError`` saying which budget is exceeded, by how much and what to do.
        """
        path = Path(path)
        key = str(path.resolve())
        size = path.stat().st_size
        name = printable(path.name, max_chars=120)
        lim = self.limits
        with self._lock:
            now = time.monotonic()
            mine = self._charged.setdefault(user, {})
            for k in [k for k, (t, _) in mine.items() if now - t > lim.window_s]:
                del mine[k]
            if key in mine:
                return
            used = sum(n for _, n in mine.values())
            if used + size > lim.per_user_bytes:
                raise UploadRejectedError(
                    f"{name}: over your upload quota ({_gib(used)} of {_gib(lim.per_user_bytes)} in "
                    f"24 hours already used, this file is {_gib(size)}); try again later or ask the "
                    "operator to raise it")
            total = self.used_bytes()  # this file is already in the cache, so counted here
            if total > lim.total_bytes:
                raise UploadRejectedError(
                    f"{name}: the server's upload space is full ({_gib(total)} of "
                    f"{_gib(lim.total_bytes)}); delete videos (`reid delete`) or ask the operator")
            root = self.cache_dir if self.cache_dir is not None and self.cache_dir.is_dir() \
                else self.uploads_dir.parent
            if root.is_dir() and shutil.disk_usage(root).free < lim.min_free_bytes:
                raise UploadRejectedError(
                    f"{name}: the server's disk is almost full (less than "
                    f"{_gib(lim.min_free_bytes)} free); ask the operator")
            mine[key] = (now, size)

    def room_for(self, n_bytes: int) -> str | None:
        """None when ``n_bytes`` more still fit the total budget and leave the disk's reserve free;
        otherwise why not (for an upload request, before its body is read)."""
        lim = self.limits
        total = self.used_bytes()
        if total + n_bytes > lim.total_bytes:
            return (f"the server's upload space is full ({_gib(total)} of {_gib(lim.total_bytes)} "
                    "used); delete videos (`reid delete`) or ask the operator")
        root = self.cache_dir if self.cache_dir is not None and self.cache_dir.is_dir() \
            else self.uploads_dir.parent
        if root.is_dir() and shutil.disk_usage(root).free - n_bytes < lim.min_free_bytes:
            return (f"the server's disk is almost full (less than {_gib(lim.min_free_bytes)} "
                    "would be left free); ask the operator")
        return None

    def discard(self, path: str | Path) -> None:
        """Remove a refused upload from the cache (never a file outside it)."""
        if self.cache_dir is None:
            return
        p = Path(path).resolve()
        if p.is_relative_to(self.cache_dir.resolve()) and p.is_file():
            p.unlink(missing_ok=True)

    def sweep(self, *, force: bool = False, now: float | None = None) -> int:
        """Remove abandoned uploads; returns the number of files removed.

        Abandoned: in the cache, older than ``abandoned_after_s``; in ``uploads_dir``, older than
        that and not the source of any indexed video. Runs at most every ``sweep_every_s`` unless
        ``force``. Age counts from the later of modification and inode change (a fresh copy or
        link of an old file is fresh); ``now`` is the POSIX time to measure it at (default: now).
        """
        lim = self.limits
        with self._lock:
            now_mono = time.monotonic()
            if not force and now_mono - self._last_sweep < lim.sweep_every_s:
                return 0
            self._last_sweep = now_mono
        keep = {str(Path(p).resolve()) for p in self._indexed_paths()}
        cutoff = (time.time() if now is None else now) - lim.abandoned_after_s
        removed = 0
        for root in self._roots():
            for path, st in list(regular_files(root)):
                if max(st.st_mtime, st.st_ctime) >= cutoff:
                    continue
                if root == self.uploads_dir and str(path.resolve()) in keep:
                    continue
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed += 1
            _remove_empty_dirs(root)
        if removed:
            logger.info("removed %d abandoned upload files", removed)
        return removed
