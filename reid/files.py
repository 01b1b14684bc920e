"""File helpers shared by every layer: streamed content hashes and crash-safe writes.

Neutral on purpose (standard library and numpy only), so that ``reid.embed``, ``reid.adapt`` and
``reid.store`` can all use them without importing one another.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np

__all__ = ["atomic_write", "atomic_write_bytes", "sha256_file"]


def sha256_file(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file's content, read in ``chunk_bytes`` chunks (constant memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            h.update(chunk)
    return h.hexdigest()


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(file)`` on a temporary file, then fsync, rename over ``path``, fsync the dir."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_write_bytes(path: Path, chunks: list[bytes | np.ndarray]) -> None:
    """Write ``chunks`` (bytes, or arrays written as their raw bytes) to ``path`` crash-safely:
    temporary file, fsync, rename, fsync directory (see ``atomic_write``)."""

    def write(f: BinaryIO) -> None:
        for chunk in chunks:
            f.write(chunk.data.cast("B") if isinstance(chunk, np.ndarray) else chunk)

    atomic_write(path, write)
