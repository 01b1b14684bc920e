"""Checks on what users send before any processing: file types, sizes, names and start times.

Uploads are refused when the extension is not an accepted video container, when the file's first
bytes do not look like one (a renamed text file is not a video), or when it is larger than the
configured limit. Gradio enforces the same size limit on the upload itself (``max_file_size``);
the check here covers files that reach a callback by another route (the API, a server folder).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "UploadRejectedError",
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
_CAMERA_UNSAFE = re.compile(r"[^\w.-]+")


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
    name = path.name
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
    stem = Path(str(filename)).stem
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

    A time without a zone is taken as UTC. Empty input gives None. Raises ``UploadRejectedError``
    naming ``field`` and an example when the text is not a time.
    """
    if text is None:
        return None
    if isinstance(text, dt.datetime):
        value = text
    elif isinstance(text, (int, float)):
        value = dt.datetime.fromtimestamp(float(text), tz=dt.timezone.utc)
    else:
        raw = str(text).strip()
        if not raw:
            return None
        try:
            value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise UploadRejectedError(
                f"{field}: {raw!r} is not a date and time; write it like 2024-05-01 14:30:00"
            ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def persist_upload(path: str | Path, uploads_dir: Path) -> Path:
    """Keep an uploaded file in the data dir for good: ``uploads/<sha256[:16]>/<name>``.

    Gradio's upload folder is a cache that it empties; indexed videos must stay readable for
    playback and export. Hard-links when the cache is on the same file system, else copies.
    Content-addressed, so uploading the same file twice stores it once.
    """
    import hashlib
    import os
    import shutil

    src = Path(path)
    digest = hashlib.sha256()
    with src.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    name = _CAMERA_UNSAFE.sub("_", src.name).strip("_") or "video"
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
