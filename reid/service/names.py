"""The export formats the command line and the web UI offer (``--export``, the Export button).

Standard library only, so that ``reid --help`` lists them without loading numpy;
:mod:`reid.service.export` writes exactly these.
"""

from __future__ import annotations

__all__ = ["EXPORT_FORMATS"]

EXPORT_FORMATS: tuple[str, ...] = ("csv", "json", "zip")
