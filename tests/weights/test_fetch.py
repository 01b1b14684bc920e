"""``reid weights fetch`` against a local server standing in for the hubs: endpoints from the
environment, the cache the finders read, offline errors that name the command."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest

from app.cli import main
from reid.weights import DownloadError
from reid.weights.remote import REMOTE_FILES, cache_path, fetch_remote, weights_root

YOLO = b"fake yolo11n release " * 5000
CLIP = b"fake open_clip safetensors " * 5000
YOLO_SHA = hashlib.sha256(YOLO).hexdigest()
CLIP_SHA = hashlib.sha256(CLIP).hexdigest()


def test_one_cache_root_for_every_weight(tmp_path, monkeypatch):
    """Our downloads, the YOLO finder and the SSDLite graph share the root (one convention)."""
    from tracking.detect import yolo_cache_path
    from tracking.ssd import ssd_weights_dir

    assert weights_root() == tmp_path / "weights"
    monkeypatch.delenv("REID_WEIGHTS_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert weights_root() == ssd_weights_dir().parent == tmp_path / "xdg" / "reid" / "weights"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert weights_root() == ssd_weights_dir().parent == Path.home() / ".cache" / "reid" / "weights"
    assert yolo_cache_path("yolo11n.pt") == cache_path(REMOTE_FILES["yolo11n"])


def test_mirror_then_per_weight_url(hub, monkeypatch):
    hub.add("/mirror/yolo11n.pt", YOLO)
    hub.add("/elsewhere/my-yolo.pt", YOLO)
    monkeypatch.setenv("REID_WEIGHTS_MIRROR", f"{hub.url}/mirror/")
    path = fetch_remote("yolo11n", sha256=YOLO_SHA, progress=False)
    assert path == cache_path(REMOTE_FILES["yolo11n"]) and path.read_bytes() == YOLO
    assert hub.requests == [("/mirror/yolo11n.pt", None)]
    assert fetch_remote("yolo11n", sha256=YOLO_SHA, progress=False) == path  # cached: no request
    assert len(hub.requests) == 1

    path.unlink()
    monkeypatch.setenv("REID_WEIGHTS_URL_YOLO11N", f"{hub.url}/elsewhere/my-yolo.pt")  # beats the mirror
    assert fetch_remote("yolo11n", sha256=YOLO_SHA, progress=False).read_bytes() == YOLO
    assert hub.requests[-1] == ("/elsewhere/my-yolo.pt", None)


def test_a_mirror_is_checked_against_the_pinned_hash(hub, monkeypatch):
    hub.add("/mirror/yolo11n.pt", YOLO)  # not the real release: the pinned SHA-256 refuses it
    monkeypatch.setenv("REID_WEIGHTS_MIRROR", f"{hub.url}/mirror")
    with pytest.raises(DownloadError, match=REMOTE_FILES["yolo11n"].sha256):
        fetch_remote("yolo11n", progress=False)
    assert not cache_path(REMOTE_FILES["yolo11n"]).parent.exists() or not any(
        cache_path(REMOTE_FILES["yolo11n"]).parent.iterdir())


@pytest.mark.parametrize("name,flag", [("yolo11n", "YOLO_OFFLINE"), ("clip-vit-b16", "HF_HUB_OFFLINE")])
def test_offline_errors_name_the_command_and_the_mirror_variable(name, flag):
    with pytest.raises(DownloadError) as info:
        fetch_remote(name, progress=False)
    message = str(info.value)
    assert "\n" not in message
    assert flag in message and f"reid weights fetch {name}" in message and "REID_WEIGHTS_MIRROR" in message


def test_404_and_unreachable_mirror_name_the_command(hub, monkeypatch):
    monkeypatch.setenv("REID_WEIGHTS_MIRROR", hub.url)
    with pytest.raises(DownloadError,
                       match="HTTP 404.*reid weights fetch clip-vit-b16.*REID_WEIGHTS_URL_CLIP_VIT_B16"):
        fetch_remote("clip-vit-b16", progress=False)
    monkeypatch.setenv("REID_WEIGHTS_MIRROR", "http://127.0.0.1:9")  # discard port: refused
    with pytest.raises(DownloadError, match="cannot reach .*reid weights fetch clip-vit-b16"):
        fetch_remote("clip-vit-b16", timeout_s=2, progress=False)


def test_cli_fetch_list_and_the_finders_see_the_files(hub, monkeypatch, capsys):
    """`reid weights fetch yolo11n clip-vit-b16` end to end, then the detector's and CLIP's finders."""
    from reid.model.pretrained import resolve_pretrained
    from reid.model.registry import get_model_config
    from tracking import find_yolo_weights

    hub.add("/m/yolo11n.pt", YOLO)
    hub.add("/m/open_clip_model.safetensors", CLIP)
    monkeypatch.setenv("REID_WEIGHTS_MIRROR", f"{hub.url}/m")
    # pinned to the fake file (CLIP keeps the real pin and is given --sha256, as a user would)
    monkeypatch.setitem(REMOTE_FILES, "yolo11n", replace(REMOTE_FILES["yolo11n"], sha256=YOLO_SHA))
    assert main(["weights", "fetch", "yolo11n"]) == 0
    assert main(["weights", "fetch", "clip-vit-b16", "--sha256", CLIP_SHA]) == 0
    out = capsys.readouterr().out
    yolo, clip = cache_path(REMOTE_FILES["yolo11n"]), cache_path(REMOTE_FILES["clip-vit-b16"])
    assert f"yolo11n: {yolo}" in out and f"clip-vit-b16: {clip}" in out
    assert yolo.read_bytes() == YOLO and clip.read_bytes() == CLIP

    assert find_yolo_weights("yolo11n.pt") == str(yolo)
    path, size = resolve_pretrained(get_model_config("tfclip-vit-b16"), "openai")  # HF_HUB_OFFLINE=1
    assert (path, size) == (clip, (224, 224))

    assert main(["weights", "list"]) == 0
    listed = capsys.readouterr().out
    assert f"local: {yolo}" in listed and f"local: {clip}" in listed
    assert len(hub.requests) == 2  # the second fetch of a cached file downloads nothing
    assert main(["weights", "fetch", "yolo11n", "clip-vit-b16"]) == 0 and len(hub.requests) == 2


def test_cli_errors_are_one_line(hub, monkeypatch, capsys):
    monkeypatch.setenv("REID_WEIGHTS_MIRROR", hub.url)
    assert main(["weights", "fetch", "clip-vit-b16"]) == 1  # 404 on the mirror
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("reid weights: error:")
    assert "reid weights fetch clip-vit-b16" in err and "run with -v" not in err
    assert main(["weights", "fetch", "yolo11n", "clip-vit-b16", "--sha256", "0" * 64]) == 1
    assert "one weights name" in capsys.readouterr().err
