"""The page built on a fake service: its API endpoints and how errors reach the user."""

from __future__ import annotations

import logging

import gradio as gr
import pytest

from app.ui import callbacks as cb
from app.ui._events import guard as _guard
from app.ui.config import UiConfig
from app.ui.layout import build_app
from tests.ui.fakes import FakeService

PUBLIC = {"/status", "/list_people", "/search", "/search_photo", "/feedback_same", "/feedback_not",
          "/export_csv", "/export_json", "/export_zip", "/index_files", "/index_folder"}


def test_build_app_exposes_the_documented_endpoints(service: FakeService) -> None:
    demo = build_app(service, UiConfig(search_concurrency=3))
    assert set(demo.get_api_info()["named_endpoints"]) == PUBLIC
    fns = {fn.api_name: fn for fn in demo.fns.values()}
    assert fns["search"].concurrency_limit == 3 and fns["search"].concurrency_id == "search"
    assert fns["index_files"].concurrency_limit == 1
    assert fns["index_files"].concurrency_id != fns["search"].concurrency_id  # indexing never blocks search
    assert demo.analytics_enabled is False


def test_guard_turns_user_errors_into_messages_and_hides_internals(caplog) -> None:
    def user() -> None:
        raise cb.UiError("Pick a person first.")

    def internal() -> None:
        raise RuntimeError("secret /srv/path detail")

    with pytest.raises(gr.Error, match="Pick a person first"):
        _guard(user, "Searching")()
    with caplog.at_level(logging.ERROR), pytest.raises(gr.Error) as info:
        _guard(internal, "Searching")()
    assert "secret" not in str(info.value) and "ref " in str(info.value)
    assert "secret /srv/path detail" in caplog.text  # the details go to the log


def test_guard_wraps_generators() -> None:
    def gen():
        yield "a"
        raise cb.UiError("stop here")

    wrapped = _guard(gen, "Indexing")
    out = wrapped()
    assert next(out) == "a"
    with pytest.raises(gr.Error, match="stop here"):
        next(out)


def test_unknown_camera_is_a_user_error(service: FakeService) -> None:
    with pytest.raises(cb.UiError, match="No camera named 'nope'"):
        cb.list_people(service, "nope")
    request = cb.build_request(cb.SearchForm(cameras=["cam-z"]), tracklet_id=1)
    with pytest.raises(cb.UiError, match="No camera named cam-z"):
        cb.run_search(service, request, "web")
