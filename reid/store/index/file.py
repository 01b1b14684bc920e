"""The vector index file (``vectors.faiss``): a header, the FAISS parts, projection and centre.

Layout: ``REIDVX01``, the header length (uint32, little-endian), a JSON header (kind, dim, layout,
part sizes, projection shape, centre count, config), each FAISS part as ``faiss.write_index``
writes it, the ``(P, D)`` float32 projection if any, then the ``(D,)`` float32 centre if any.
Written atomically and streamed both ways (never a second in-memory copy, never memory-mapped);
the sha256 is computed on the way.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import faiss
import numpy as np

from reid.files import atomic_write
from reid.store.index.config import IVF_KINDS, IndexConfig, IndexFileError

__all__ = ["IndexFile", "read_index_file", "write_index_file"]

_MAGIC = b"REIDVX01"
_LAYOUT = 2  # 1: IVF inside IndexIDMap2 (broken removal); 2: IVF keeps the ids itself


@dataclass(frozen=True)
class IndexFile:
    """What an index file holds.

    Attributes:
        header: the JSON header (``kind``, ``dim``, ``centre_count``, ...).
        parts: the FAISS structures, in the order they were written.
        proj: ``(P, D)`` float32 projection, or None.
        centre: ``(D,)`` float32 centre, or None.
        sha256: the file's sha256 (hex) when computed while reading, else None.
    """

    header: dict[str, Any]
    parts: list[faiss.Index]
    proj: np.ndarray | None
    centre: np.ndarray | None
    sha256: str | None


def write_index_file(path: str | Path, *, kind: str, dim: int, parts: list[faiss.Index],
                     proj: np.ndarray | None, centre: np.ndarray | None, centre_count: int,
                     config: IndexConfig) -> str:
    """Write an index file to ``path`` atomically; returns its sha256 (hex), computed while
    writing (``vectors.json`` records it so that a damaged file is noticed on loading)."""
    sizes = []
    for part in parts:  # a counting pass: the header lists the sizes before the data
        counter = [0]
        # faiss stubs lack PyCallbackIOWriter/PyCallbackIOReader (faiss/python/__init__.py has them)
        faiss.write_index(part, faiss.PyCallbackIOWriter(  # type: ignore[attr-defined]
            lambda b, c=counter: c.__setitem__(0, c[0] + len(b)) or len(b)))
        sizes.append(counter[0])
    proj_shape = None if proj is None else list(proj.shape)
    header = json.dumps({"kind": kind, "dim": dim, "layout": _LAYOUT,
                         "sizes": sizes, "proj_shape": proj_shape,
                         "centre_count": centre_count if centre is not None else 0,
                         "config": asdict(config)}).encode()
    digest = hashlib.sha256()

    def write(f: BinaryIO) -> None:
        def out(b: bytes) -> int:
            digest.update(b)
            return f.write(b)

        out(_MAGIC + struct.pack("<I", len(header)) + header)
        for part in parts:  # faiss stubs lack PyCallbackIOWriter
            faiss.write_index(part, faiss.PyCallbackIOWriter(out))  # type: ignore[attr-defined]
        if proj is not None:
            out(np.ascontiguousarray(proj, np.float32).tobytes())
        if centre is not None:
            out(np.ascontiguousarray(centre, np.float32).tobytes())

    atomic_write(Path(path), write)
    return digest.hexdigest()


def read_index_file(path: str | Path, *, digest: bool = True) -> IndexFile:
    """Read an index file written by ``write_index_file``; raises ``IndexFileError`` if it is
    unreadable, truncated, corrupt, or an IVF file of the first layout (ids in ``IndexIDMap2``,
    unreliable after removals: the store rebuilds it). With ``digest`` the sha256 is computed on
    the way, trailing bytes included."""
    path = Path(path)
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below, errors mapped separately
    except OSError as exc:
        raise IndexFileError(f"cannot read vector index {path}: {exc}") from exc
    try:
        with f:
            reader: _Reader = _HashingReader(f) if digest else f
            header, blobs, proj, centre = _read_parts(reader, os.fstat(f.fileno()).st_size)
            while digest and reader.read(1 << 20):  # trailing bytes count in the checksum
                pass
    except Exception as exc:  # faiss raises RuntimeError with C++ text; json/struct others
        raise IndexFileError(f"vector index {path} is corrupt ({exc})") from exc
    sha = reader.hexdigest() if isinstance(reader, _HashingReader) else None
    return IndexFile(header, blobs, proj, centre, sha)


class _Reader(Protocol):
    """What reading an index file needs of a binary file."""

    def read(self, n: int = -1, /) -> bytes: ...

    def tell(self) -> int: ...


class _HashingReader:
    """A binary file's ``read``/``tell`` that feed every byte read into a sha256."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self._sha = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self._sha.update(data)
        return data

    def tell(self) -> int:
        return self._f.tell()

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


def _read_parts(f: _Reader, file_size: int
                ) -> tuple[dict[str, Any], list[faiss.Index], np.ndarray | None, np.ndarray | None]:
    """Header, FAISS parts, projection and centre of an index file, streamed (see
    ``write_index_file``)."""
    if f.read(8) != _MAGIC:
        raise ValueError("bad magic bytes")
    (hlen,) = struct.unpack("<I", f.read(4))
    header = json.loads(f.read(hlen))
    if header["kind"] in IVF_KINDS and header.get("layout", 1) < _LAYOUT:
        raise ValueError("IVF index of an older layout; it is rebuilt from the database")
    rows, cols = header.get("proj_shape") or (0, 0)
    centre_bytes = 4 * int(header["dim"]) if header.get("centre_count") else 0
    if 12 + hlen + sum(header["sizes"]) + rows * cols * 4 + centre_bytes > file_size:
        raise ValueError("file is truncated")
    blobs = []
    for size in header["sizes"]:
        end = f.tell() + size
        # faiss stubs lack PyCallbackIOReader
        blobs.append(faiss.read_index(faiss.PyCallbackIOReader(  # type: ignore[attr-defined]
            lambda n, e=end: f.read(max(0, min(n, e - f.tell()))))))
        if f.tell() != end:
            raise ValueError("a part has the wrong length")
    proj = np.frombuffer(f.read(rows * cols * 4), np.float32).reshape(rows, cols).copy() if rows \
        else None
    centre = np.frombuffer(f.read(centre_bytes), np.float32).copy() if centre_bytes else None
    if centre is not None and not (np.isfinite(centre).all() and float(centre @ centre) < 1.0):
        raise ValueError("the stored centre is not the mean of unit vectors")
    return header, blobs, proj, centre
