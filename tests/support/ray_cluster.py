"""Ray for the cluster tests: imported, or the test skipped with the reason (locally) or failed
(under ``REID_REQUIRE_RAY=1``, which ``.ci/run`` sets: CI installs the ``cluster`` extra through
``dev``, so a missing Ray there is a broken setup, not a reason to skip)."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

__all__ = ["REQUIRE_ENV", "require_ray", "ray_required"]

REQUIRE_ENV = "REID_REQUIRE_RAY"  # "1": a missing Ray fails the tests (CI) instead of skipping


def ray_required() -> bool:
    """True when ``REID_REQUIRE_RAY=1`` (set by ``.ci/run``): no skipping allowed."""
    return os.environ.get(REQUIRE_ENV, "").strip() == "1"


def require_ray() -> ModuleType:
    """The ``ray`` module; skips the test when it is missing, or fails it under
    ``REID_REQUIRE_RAY=1``."""
    try:
        return importlib.import_module("ray")
    except ImportError as exc:
        if ray_required():
            pytest.fail(f"{REQUIRE_ENV}=1 but Ray is not installed ({exc}): pip install -e "
                        "'.[cluster]'", pytrace=False)
        pytest.skip(f"Ray tests skipped: Ray is not installed ({exc}; pip install -e '.[cluster]', "
                    f"or set {REQUIRE_ENV}=1 to make this an error)")
