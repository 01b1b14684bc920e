"""The Gradio web UI: ``build_app(service, config)`` makes the page; ``serving`` launches it safely.

The names below are imported on first use (PEP 562), so ``import app.ui`` (and ``app.ui.serving``,
which ``reid serve`` reads its options from) loads no Gradio.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.ui.config import UiConfig
    from app.ui.layout import build_app
    from app.ui.serving import ServeOptions, check_bind, launch

_WHERE = {
    "ServeOptions": "app.ui.serving",
    "UiConfig": "app.ui.config",
    "build_app": "app.ui.layout",
    "check_bind": "app.ui.serving",
    "launch": "app.ui.serving",
}

__all__ = ["ServeOptions", "UiConfig", "build_app", "check_bind", "launch"]


def __getattr__(name: str) -> Any:
    """Import ``name`` from its module on first use and keep it here."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
