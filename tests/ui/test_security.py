"""Serving safety: binding, auth parsing, served paths, traversal, upload types and sizes."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app.ui._uploads import UploadRejectedError, check_video_file, sniff_video_container
from app.ui.serving import (
    ServeOptions,
    check_bind,
    is_loopback,
    launch_kwargs,
    parse_auth,
    served_paths,
)
from tests.ui.server import run_reid


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_hosts_need_no_auth(host: str) -> None:
    assert is_loopback(host)
    check_bind(host, None, False)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "::", "example.org"])
def test_non_local_bind_without_auth_is_refused(host: str) -> None:
    with pytest.raises(ValueError, match="without authentication.*--auth USER:PASSWORD"):
        check_bind(host, None, False)
    check_bind(host, ("u", "p"), False)
    check_bind(host, None, True)  # explicit --insecure-no-auth


def test_reid_serve_refuses_0000_without_auth_before_loading_models() -> None:
    proc = run_reid("serve", "--host", "0.0.0.0", "--port", "1")
    assert proc.returncode == 1
    assert "refusing to serve on 0.0.0.0 without authentication" in proc.stderr
    assert "--insecure-no-auth" in proc.stderr and "Traceback" not in proc.stderr
    bad = run_reid("serve", "--auth", "nopassword")
    assert bad.returncode == 1 and "USER:PASSWORD" in bad.stderr


def test_parse_auth() -> None:
    assert parse_auth("ann:s3:cret") == ("ann", "s3:cret")
    assert parse_auth(None) is None
    for text in ("ann", ":pw", "ann:"):
        with pytest.raises(ValueError, match="USER:PASSWORD"):
            parse_auth(text)


def test_launch_kwargs_never_share_and_block_store_files(tmp_path: Path) -> None:
    kwargs = launch_kwargs(tmp_path, ServeOptions(max_upload_bytes=123))
    assert kwargs["share"] is False and kwargs["server_name"] == "127.0.0.1"
    assert kwargs["max_file_size"] == 123 and kwargs["show_error"] is False
    assert kwargs["mcp_server"] is False and kwargs["enable_monitoring"] is False
    allowed, blocked = served_paths(tmp_path)
    assert allowed == [str(tmp_path.resolve())]
    for private in ("reid.db", "uploads", "vectors.faiss", "models", ".write.lock"):
        assert str(tmp_path.resolve() / private) in blocked, private  # models/: adapted models
    with pytest.raises(ValueError, match="without authentication"):
        launch_kwargs(tmp_path, ServeOptions(host="0.0.0.0"))


def test_sniffing_recognises_containers_and_refuses_text(videos: dict[str, Path]) -> None:
    assert check_video_file(videos["good"], 10**6) == "mp4"
    assert check_video_file(videos["avi"], 10**6) == "avi"
    assert sniff_video_container(b"\x1a\x45\xdf\xa3" + bytes(60)) == "matroska"
    assert sniff_video_container((b"\x47" + bytes(187)) * 3) == "mpeg-ts"
    with pytest.raises(UploadRejectedError, match="not a known video container"):
        check_video_file(videos["fake"], 10**6)
    with pytest.raises(UploadRejectedError, match="not a video file type"):
        check_video_file(videos["txt"], 10**6)
    with pytest.raises(UploadRejectedError, match="over the upload limit"):
        check_video_file(videos["good"], 10)


# ---------------------------------------------------------------- against a running `reid serve`

@pytest.mark.slow
def test_files_outside_the_served_paths_are_refused(indexed, synthetic_videos: list[Path]) -> None:
    server, _ = indexed
    data = server.data_dir.resolve()
    thumb = next((data / "crops").rglob("*.jpg"))
    base = server.url + "/gradio_api/file="
    assert httpx.get(base + str(thumb)).status_code == 200  # crops are served...
    for path in (data / "reid.db", data / "uploads", "/etc/passwd", synthetic_videos[0],
                 f"{data}/crops/../reid.db", f"{data}/../serve.log"):
        response = httpx.get(base + str(path))
        assert response.status_code == 403, (path, response.status_code)
        assert "File not allowed" in response.text and "Traceback" not in response.text


@pytest.mark.slow
def test_non_video_and_oversized_uploads_are_refused(indexed, tmp_path: Path) -> None:
    from gradio_client import Client, handle_file

    server, _ = indexed
    client = Client(server.url, verbose=False)
    empty = {"headers": ["file", "camera", "start time (UTC, optional)"], "data": []}
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(Exception, match="Invalid file type"):
        client.predict([handle_file(str(text))], empty, api_name="/index_files")
    renamed = tmp_path / "holiday.mp4"
    renamed.write_text("not a video at all\n" * 30)
    html = client.predict([handle_file(str(renamed))], empty, api_name="/index_files")
    assert "not a known video container" in html and "reid-job-failed" in html

    big = tmp_path / "big.mp4"
    big.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(6 * 2**20))  # over the 5 MB limit
    with big.open("rb") as fh:
        response = httpx.post(server.url + "/gradio_api/upload", files={"files": fh}, timeout=60)
    assert response.status_code == 413, response.text
    assert "5.0 MB" in response.text or "maximum" in response.text.lower()
