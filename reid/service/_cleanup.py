"""What else to remove with a video: its uploaded original, copies of its files, exports naming it.

Used by ``ReidService.delete_video``. Copies are found by content (size, then SHA-256), so a copy
under any name in any cache folder (e.g. Gradio's upload cache, which keeps uploaded originals and
the thumbnails and clips it served) is found without knowing how that cache names its files.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import stat
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = ["copies_by_content", "exports_naming_video", "uploaded_original"]


def _sha256(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def regular_files(root: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """Regular files under ``root`` (symlinks are not followed)."""
    if not root.is_dir():
        return
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            try:
                st = path.lstat()
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                yield path, st


def copies_by_content(originals: Iterable[Path], folders: Sequence[Path]) -> list[Path]:
    """Files under ``folders`` with the same content as one of ``originals`` (the originals
    themselves excluded). Only files of a matching size are hashed."""
    by_size: dict[int, list[Path]] = {}
    own: set[str] = set()
    for path in originals:
        try:
            by_size.setdefault(path.stat().st_size, []).append(path)
            own.add(str(path.resolve()))
        except OSError:
            continue
    digests: dict[Path, str | None] = {}
    found = []
    for folder in folders:
        for path, st in regular_files(Path(folder)):
            candidates = by_size.get(st.st_size)
            if not candidates or str(path.resolve()) in own:
                continue
            digest = _sha256(path)
            for original in candidates:
                if original not in digests:
                    digests[original] = _sha256(original)
                if digest is not None and digest == digests[original]:
                    found.append(path)
                    break
    return found


def uploaded_original(video_path: str | Path, uploads_dir: Path) -> Path | None:
    """``video_path`` if it is a kept upload (inside ``uploads_dir``), else None: originals indexed
    from a server folder belong to their owner and are never removed."""
    try:
        path = Path(video_path).resolve()
        root = uploads_dir.resolve()
    except OSError:
        return None
    return path if path.is_relative_to(root) and path != root else None


def _video_ids_in_export(path: Path) -> set[int]:
    """The ``video_id`` values an export file names: its matches' and its query's (CSV, JSON or a
    zip holding either)."""
    def from_json(text: str) -> set[int]:
        data = json.loads(text)
        ids = {int(m["video_id"]) for m in data.get("matches", []) if m.get("video_id") is not None}
        query = data.get("query") or {}
        if query.get("video_id") is not None:
            ids.add(int(query["video_id"]))
        return ids

    def from_csv(text: str) -> set[int]:
        out = set()
        for row in csv.DictReader(io.StringIO(text, newline="")):
            value = str(row.get("video_id") or "").lstrip("'")
            if value.isdigit():
                out.add(int(value))
        return out

    suffix = path.suffix.lower()
    if suffix == ".json":
        return from_json(path.read_text(encoding="utf-8"))
    if suffix == ".csv":
        return from_csv(path.read_bytes().decode("utf-8"))
    if suffix == ".zip":
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if "matches.json" in names:
                return from_json(z.read("matches.json").decode("utf-8"))
            if "matches.csv" in names:
                return from_csv(z.read("matches.csv").decode("utf-8"))
    return set()


def exports_naming_video(exports_dir: Path, video_id: int, tracklet_ids: Iterable[int] = ()) -> list[Path]:
    """Export files under ``exports_dir`` that hold something of video ``video_id``: a match from
    it, or a query person from it (``matches_t<tracklet id>_...``, one of ``tracklet_ids``). They
    hold its crops, clips or times, so they go with it. Unreadable exports are kept and logged."""
    prefixes = tuple(f"matches_t{int(t)}_" for t in tracklet_ids)
    found = []
    for path, _st in regular_files(exports_dir):
        if prefixes and path.name.startswith(prefixes):
            found.append(path)
            continue
        try:
            if int(video_id) in _video_ids_in_export(path):
                found.append(path)
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, UnicodeDecodeError,
                csv.Error) as exc:
            logger.warning("cannot read export %s to check it for video %d: %s", path, video_id, exc)
    return found
