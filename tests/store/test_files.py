"""reid.files: the neutral file helpers, and the embedders no longer importing the store."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import numpy as np

from reid.files import atomic_write_bytes, sha256_file

ROOT = Path(__file__).resolve().parents[2]


def test_atomic_write_bytes_and_sha256(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    atomic_write_bytes(path, [b"head", np.arange(4, dtype="<i4")])
    data = path.read_bytes()
    assert data == b"head" + np.arange(4, dtype="<i4").tobytes()
    assert sha256_file(path, chunk_bytes=3) == hashlib.sha256(data).hexdigest()
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]  # no temporary file left


def _imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_embedders_do_not_import_the_store() -> None:
    files = [*sorted((ROOT / "reid" / "embed").glob("*.py")), ROOT / "reid" / "adapt" / "head.py"]
    offenders = {p.name: sorted(m for m in _imported_modules(p) if m.startswith("reid.store"))
                 for p in files}
    assert {k: v for k, v in offenders.items() if v} == {}
