"""Layering: the runtime packages (``app``, ``reid``, ``tracking``, ``training``) never import the
test and benchmark kits (``tests``, among them ``tests.support``; ``benchmarks``).

The sources are scanned rather than imported: many imports are function-local."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ("app", "reid", "tracking", "training")
KITS = ("tests", "benchmarks")


def kit_imports(source: str) -> list[str]:
    """Every absolute import of a ``tests`` or ``benchmarks`` module in ``source``, module-level or
    function-local (``from tests import support`` is reported as ``tests.support``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in KITS]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module in KITS:
                found += [f"{node.module}.{a.name}" for a in node.names]
            elif node.module.split(".")[0] in KITS:
                found.append(node.module)
    return found


def test_the_scan_sees_every_kind_of_import() -> None:
    source = ("import tests.support.synthetic\nfrom tests.support.metrics import evaluate_mot\n"
              "from tests import support\nimport testsuite\nfrom tracking.boxes import iou_matrix\n"
              "def f():\n    from benchmarks import ssd_detector\n")
    assert kit_imports(source) == ["tests.support.synthetic", "tests.support.metrics", "tests.support",
                                   "benchmarks.ssd_detector"]


def test_runtime_sources_import_no_test_kit() -> None:
    offenders = []
    for package in RUNTIME:
        for path in sorted((ROOT / package).rglob("*.py")):
            for module in kit_imports(path.read_text(encoding="utf-8")):
                offenders.append(f"{path.relative_to(ROOT)}: {module}")
    assert not offenders, "runtime code imports a test kit:\n" + "\n".join(offenders)


def test_the_kits_live_outside_the_runtime_packages() -> None:
    for moved in ("tracking/synthetic.py", "tracking/metrics.py"):
        assert not (ROOT / moved).exists(), f"{moved} is a test kit: it belongs in tests/support/"
    import reid.embed

    assert "random_init_embedder" not in reid.embed.__all__
