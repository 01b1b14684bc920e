"""Search by photo (issue 9, items 3 and 9): it works through the page's own event, and an oversized
image or a decompression bomb gets a clear message, never a crash or a big allocation."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import gradio as gr
import numpy as np
import pytest
from gradio.data_classes import ImageData

from app.ui.layout import UiConfig, build_app
from tests.service.conftest import indexed, scenes  # noqa: F401 (fixtures: the real service)
from tests.ui.fakes import FakeService
from tests.ui.server import run_reid


@pytest.fixture
def service(tmp_path: Path) -> FakeService:
    return FakeService(tmp_path / "data")


def _png_declaring(path: Path, width: int, height: int) -> Path:
    """A tiny PNG file (< 100 bytes) whose header declares ``width`` x ``height`` RGB pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    return path


def _photo_event(service: FakeService):
    """(the photo component, the search-by-photo handler) of the page, as Gradio wires them."""
    demo = build_app(service, UiConfig())
    fn = {f.api_name: f for f in demo.fns.values()}["search_photo"]
    return fn.inputs[0], fn.fn


def _search(component, handler, path: Path):
    """Do what Gradio does for a click on "Search by photo": preprocess the upload, call the handler."""
    value = component.preprocess(ImageData(path=str(path), orig_name=path.name))
    return handler(value, 0.0, 10, [], None, None, False, False, None)


def test_search_by_photo_through_the_page_event_returns_ranked_matches(
        service: FakeService, tmp_path: Path) -> None:
    photo = tmp_path / "person.png"
    cv2.imwrite(str(photo), np.full((128, 64, 3), (30, 90, 200), np.uint8))
    component, handler = _photo_event(service)
    response, items, rows, _timeline, summary, *_ = _search(component, handler, photo)
    assert response is not None and response.query is None and len(response.matches) >= 3
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))  # ranked, best first
    assert rows[0][5] >= rows[-1][5] and len(items) == len(rows)
    assert "matches on" in summary
    request = next(c[1] for c in service.calls if c[0] == "search")
    assert request.images[0].dtype == np.uint8 and request.images[0].shape == (128, 64, 3)


def test_search_by_photo_needs_a_photo(service: FakeService) -> None:
    _component, handler = _photo_event(service)
    with pytest.raises(gr.Error, match="Upload a photo"):
        handler(None, 0.0, 10, [], None, None, False, False, None)


@pytest.mark.parametrize(("width", "height"), [(20000, 20000), (9000, 9000), (100000, 1)])
def test_oversized_photo_gets_a_clear_message(service: FakeService, tmp_path: Path,
                                              width: int, height: int) -> None:
    path = _png_declaring(tmp_path / f"huge_{width}x{height}.png", width, height)
    assert path.stat().st_size < 200
    component, handler = _photo_event(service)
    with pytest.raises(gr.Error) as info:
        _search(component, handler, path)
    message = str(info.value)
    assert "internal error" not in message
    assert "pixels" in message and ("crop" in message or "at least" in message)
    assert not [c for c in service.calls if c[0] == "search"]


def test_undecodable_photo_gets_a_clear_message(service: FakeService, tmp_path: Path) -> None:
    path = tmp_path / "person.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg" * 10)
    component, handler = _photo_event(service)
    with pytest.raises(gr.Error) as info:
        _search(component, handler, path)
    assert "internal error" not in str(info.value) and "photo" in str(info.value)


def test_cli_search_by_oversized_image_gets_a_message(tmp_path: Path) -> None:
    path = _png_declaring(tmp_path / "bomb.png", 20000, 20000)
    proc = run_reid("search", "--image", str(path), "--data-dir", str(tmp_path / "data"),
                    timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert "pixels" in proc.stderr and "Traceback" not in proc.stderr


def test_search_by_a_gallery_crop_finds_that_person_with_the_real_service(indexed) -> None:  # noqa: F811
    real, _reports = indexed
    tracklet = real.list_tracklets(limit=None)[0]
    component, handler = _photo_event(real)
    response, items, rows, *_ = _search(component, handler, Path(tracklet.crop_paths[0]))
    best = [m.tracklet.id for m in response.matches if m.score >= response.matches[0].score - 1e-6]
    assert tracklet.id in best and len(rows) == len(response.matches) >= 2
