"""The vector index's delta file (``vectors.delta``): the changes made since ``vectors.faiss`` was
written, appended record by record, so that saving a video costs that video, not the gallery.

Layout: a 48-byte header, ``REIDVD01``, the raw sha256 (32 bytes) of the ``vectors.faiss`` it
follows, the dimension D (uint32) and 4 reserved bytes; then records, each a 12-byte head, the op
(uint8: 1 add, 2 remove), 3 zero bytes, the count n (uint32) and the crc32 (uint32) of the op, the
count and the payload, followed by the payload: n int64 ids, then for an add the ``(n, D)`` float32
descriptors as they were given to ``VectorIndex.add`` (unit, not centred), so that replaying the
records through ``VectorIndex`` repeats what the writer did. Each record is one ``write`` followed
by ``fsync``; a record cut short by a kill, or damaged, fails its crc and ends the replay.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reid.files import atomic_write_bytes

__all__ = ["ADD", "HEADER_BYTES", "REMOVE", "DeltaOp", "DeltaRead", "append_delta", "delta_header",
           "read_delta", "start_delta"]

_MAGIC = b"REIDVD01"
_HEAD = struct.Struct("<8s32sII")
_RECORD = struct.Struct("<BxxxII")
HEADER_BYTES = _HEAD.size
"""Bytes of the file header (an empty delta)."""
ADD, REMOVE = 1, 2


@dataclass(frozen=True)
class DeltaOp:
    """One change of the index: ``ids`` ``(n,)`` int64 added with their unit descriptors
    ``vectors`` ``(n, D)`` float32 (``op == ADD``), or removed (``op == REMOVE``, no vectors)."""

    op: int
    ids: np.ndarray
    vectors: np.ndarray | None = None

    def encode(self, dim: int) -> bytes:
        """The record's bytes (head and payload)."""
        ids = np.ascontiguousarray(self.ids, dtype="<i8").reshape(-1)
        payload = ids.tobytes()
        if self.op == ADD:
            if self.vectors is None:
                raise ValueError("an add record needs its vectors")
            x = np.ascontiguousarray(self.vectors, dtype="<f4")
            if x.shape != (len(ids), dim):
                raise ValueError(f"expected vectors of shape ({len(ids)}, {dim}), got {x.shape}")
            payload += x.tobytes()
        elif self.op != REMOVE:
            raise ValueError(f"unknown delta op {self.op}")
        crc = zlib.crc32(payload, zlib.crc32(struct.pack("<BI", self.op, len(ids))))
        return _RECORD.pack(self.op, len(ids), crc) + payload


@dataclass(frozen=True)
class DeltaRead:
    """What ``read_delta`` found.

    Attributes:
        ops: the intact records, in order.
        good_bytes: bytes of header and intact records (where the next record goes).
        problem: why reading stopped early (None: every byte up to ``limit`` was intact).
    """

    ops: list[DeltaOp]
    good_bytes: int
    problem: str | None


def delta_header(main_sha256: str, dim: int) -> bytes:
    """The header of a delta following the index file whose sha256 (hex) is ``main_sha256``."""
    return _HEAD.pack(_MAGIC, bytes.fromhex(main_sha256), int(dim), 0)


def start_delta(path: Path, main_sha256: str, dim: int, first: DeltaOp | None = None) -> int:
    """Write a new delta (header, and ``first`` if given) atomically; returns its size."""
    data = delta_header(main_sha256, dim) + (b"" if first is None else first.encode(dim))
    atomic_write_bytes(Path(path), [data])
    return len(data)


def append_delta(path: Path, op: DeltaOp, dim: int, expect_size: int) -> int:
    """Append ``op`` to the delta at ``path`` whose first ``expect_size`` bytes are known good
    (bytes past them, a record cut short by a kill, are cut off first); one write, then fsync.
    Returns the new size. Raises ``OSError`` when the file is missing or shorter than expected."""
    record = op.encode(dim)
    fd = os.open(path, os.O_WRONLY)
    try:
        size = os.fstat(fd).st_size
        if size < expect_size:
            raise OSError(f"{path} has {size} bytes, fewer than the {expect_size} written")
        if size > expect_size:
            os.ftruncate(fd, expect_size)
        os.lseek(fd, expect_size, os.SEEK_SET)
        view = memoryview(record)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    return expect_size + len(record)


def read_delta(path: Path, main_sha256: str, dim: int, limit: int, start: int = HEADER_BYTES
               ) -> DeltaRead:
    """The records of the delta at ``path`` from byte ``start`` (a record boundary; default: the
    first record) to byte ``limit`` (the size ``vectors.json`` recorded after the last complete
    append; later bytes may be an append in flight). Stops at the first record that is cut short
    or fails its crc (``problem``)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(HEADER_BYTES)
            if len(head) < HEADER_BYTES:
                return DeltaRead([], 0, f"{path.name} has no complete header")
            magic, sha, file_dim, _ = _HEAD.unpack(head)
            if magic != _MAGIC:
                return DeltaRead([], 0, f"{path.name} is not a vector index delta")
            if sha.hex() != main_sha256 or file_dim != dim:
                return DeltaRead([], 0, f"{path.name} follows another {path.with_suffix('.faiss').name}")
            ops: list[DeltaOp] = []
            pos = max(start, HEADER_BYTES)
            f.seek(pos)
            while pos < limit:
                rec = f.read(_RECORD.size)
                if len(rec) < _RECORD.size or pos + _RECORD.size > limit:
                    return DeltaRead(ops, pos, f"{path.name} ends inside a record")
                op, n, crc = _RECORD.unpack(rec)
                size = 8 * n + (4 * n * dim if op == ADD else 0)
                if op not in (ADD, REMOVE) or pos + _RECORD.size + size > limit:
                    return DeltaRead(ops, pos, f"{path.name} has a damaged or cut record")
                payload = f.read(size)
                if len(payload) < size or zlib.crc32(
                        payload, zlib.crc32(struct.pack("<BI", op, n))) != crc:
                    return DeltaRead(ops, pos, f"{path.name} has a record that fails its checksum")
                ids = np.frombuffer(payload, "<i8", n).astype(np.int64)
                vectors = (np.frombuffer(payload, "<f4", n * dim, 8 * n).reshape(n, dim)
                           .astype(np.float32) if op == ADD else None)
                ops.append(DeltaOp(op, ids, vectors))
                pos += _RECORD.size + size
            return DeltaRead(ops, pos, None)
    except OSError as exc:
        return DeltaRead([], 0, f"cannot read {path.name}: {exc}")
