"""The application layer: CLI entry point, settings, composition root and (later) the web UI."""

__version__ = "0.1.0"
__all__ = ["__version__"]
