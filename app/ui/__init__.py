"""The Gradio web UI: ``build_app(service, config)`` makes the page; ``serving`` launches it safely."""

from app.ui.layout import UiConfig, build_app
from app.ui.serving import ServeOptions, check_bind, launch

__all__ = ["ServeOptions", "UiConfig", "build_app", "check_bind", "launch"]
