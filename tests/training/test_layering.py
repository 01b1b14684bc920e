"""Layering: ``training`` imports nothing of ``reid`` except ``reid.model`` (and its submodules).

The sources are scanned rather than imported: training imports ``reid.model`` inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import training

TRAINING_DIR = Path(training.__file__).parent
ALLOWED = "reid.model"


def _allowed(module: str) -> bool:
    return module == ALLOWED or module.startswith(ALLOWED + ".")


def reid_imports(source: str) -> list[str]:
    """Every absolute import of a ``reid`` module in ``source``, module-level or function-local
    (``from reid import model`` is reported as ``reid.model``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "reid"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "reid":
                found += [f"reid.{a.name}" for a in node.names]
            elif node.module.startswith("reid."):
                found.append(node.module)
    return found


def test_the_scan_sees_every_kind_of_import() -> None:
    source = ("import reid.search\nfrom reid.store import Store\nfrom reid import service\n"
              "def f():\n    from reid.model.rerank import k_reciprocal_rerank\n    import reid.model\n")
    found = reid_imports(source)
    assert found == ["reid.search", "reid.store", "reid.service", "reid.model.rerank", "reid.model"]
    assert [m for m in found if not _allowed(m)] == ["reid.search", "reid.store", "reid.service"]


def test_training_sources_import_only_reid_model() -> None:
    offenders = []
    for path in sorted(TRAINING_DIR.rglob("*.py")):
        for module in reid_imports(path.read_text(encoding="utf-8")):
            if not _allowed(module):
                offenders.append(f"{path.relative_to(TRAINING_DIR.parent)}: {module}")
    assert not offenders, "training may import only reid.model:\n" + "\n".join(offenders)

