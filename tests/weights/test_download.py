"""The downloader against a local HTTP server: checksums, resume, restart, broken transfers, errors."""

from __future__ import annotations

import hashlib
import os
import socket

import pytest

from reid.weights.download import ChecksumError, DownloadError, download, part_path

BODY = os.urandom(300_000)  # > 1 MiB chunks are not needed: a few chunks of the server's writes
SHA = hashlib.sha256(BODY).hexdigest()


def test_full_download_checksum_ok(hub, tmp_path):
    hub.add("/w/model.pt", BODY)
    dest = tmp_path / "out" / "model.pt"
    assert download(f"{hub.url}/w/model.pt", dest, sha256=SHA.upper(), progress=False) == dest
    assert dest.read_bytes() == BODY
    assert not part_path(dest).exists()
    assert hub.requests == [("/w/model.pt", None)]


def test_checksum_mismatch_removes_the_file(hub, tmp_path):
    hub.add("/w/model.pt", BODY)
    dest = tmp_path / "model.pt"
    wrong = hashlib.sha256(b"another release").hexdigest()
    with pytest.raises(ChecksumError) as info:
        download(f"{hub.url}/w/model.pt", dest, sha256=wrong, hint="run `reid weights fetch x`",
                 progress=False)
    message = str(info.value)
    assert "\n" not in message
    assert f"{hub.url}/w/model.pt" in message and SHA in message and wrong in message
    assert "reid weights fetch x" in message
    assert not dest.exists() and not part_path(dest).exists()


def test_a_partial_file_is_resumed_with_range(hub, tmp_path):
    hub.add("/w/model.pt", BODY)
    dest = tmp_path / "model.pt"
    part_path(dest).write_bytes(BODY[:123_456])
    download(f"{hub.url}/w/model.pt", dest, sha256=SHA, progress=False)
    assert dest.read_bytes() == BODY
    assert hub.requests == [("/w/model.pt", "bytes=123456-")]
    assert hub.bytes_sent == len(BODY) - 123_456


def test_a_server_ignoring_range_starts_over(hub, tmp_path):
    hub.add("/w/model.pt", BODY)
    hub.honour_range = False
    dest = tmp_path / "model.pt"
    part_path(dest).write_bytes(BODY[:1000])
    download(f"{hub.url}/w/model.pt", dest, sha256=SHA, progress=False)
    assert dest.read_bytes() == BODY  # not the first 1000 bytes twice
    assert hub.requests == [("/w/model.pt", "bytes=1000-")]
    assert hub.bytes_sent == len(BODY)


def test_a_part_longer_than_the_file_starts_over(hub, tmp_path):
    hub.add("/w/model.pt", BODY)
    dest = tmp_path / "model.pt"
    part_path(dest).write_bytes(BODY + b"junk")  # the server answers 416
    download(f"{hub.url}/w/model.pt", dest, sha256=SHA, progress=False)
    assert dest.read_bytes() == BODY
    assert [r for _, r in hub.requests] == [f"bytes={len(BODY) + 4}-", None]


def test_a_dropped_connection_keeps_the_part_and_the_next_call_resumes(hub, tmp_path):
    hub.add("/w/model.pt", BODY)
    hub.drop_after = 100_000
    dest = tmp_path / "model.pt"
    url = f"{hub.url}/w/model.pt"
    with pytest.raises(DownloadError, match="broke off after 100000 of 300000 bytes") as info:
        download(url, dest, sha256=SHA, progress=False)
    assert "\n" not in str(info.value)
    assert not dest.exists()
    assert part_path(dest).read_bytes() == BODY[:100_000]
    download(url, dest, sha256=SHA, progress=False)
    assert dest.read_bytes() == BODY
    assert [r for _, r in hub.requests] == [None, "bytes=100000-"]


def test_a_stalled_transfer_times_out_and_keeps_the_part(hub, tmp_path):
    hub.add("/w/model.pt", BODY)
    hub.drop_after, hub.stall_s = 50_000, 1.0
    dest = tmp_path / "model.pt"
    with pytest.raises(DownloadError, match=r"broke off after 50000 of 300000 bytes \(TimeoutError\)"):
        download(f"{hub.url}/w/model.pt", dest, sha256=SHA, timeout_s=0.2, progress=False)
    assert part_path(dest).read_bytes() == BODY[:50_000]


def test_the_hash_advertised_on_a_redirect_is_checked(hub, tmp_path):
    """Hugging Face answers /resolve/ with a redirect carrying X-Linked-Etag (the LFS SHA-256)."""
    hub.add("/cdn/blob", BODY)
    hub.redirects["/repo/resolve/main/model.safetensors"] = (f"{hub.url}/cdn/blob",
                                                              {"X-Linked-Etag": f'"{SHA}"'})
    dest = tmp_path / "model.safetensors"
    download(f"{hub.url}/repo/resolve/main/model.safetensors", dest, progress=False)
    assert dest.read_bytes() == BODY

    bad = hashlib.sha256(b"x").hexdigest()
    hub.redirects["/repo/resolve/main/other.safetensors"] = (f"{hub.url}/cdn/blob",
                                                              {"X-Linked-Etag": f'"{bad}"'})
    with pytest.raises(ChecksumError, match=bad):
        download(f"{hub.url}/repo/resolve/main/other.safetensors", tmp_path / "other", progress=False)
    assert not (tmp_path / "other").exists() and not part_path(tmp_path / "other").exists()


def test_http_errors_and_unreachable_servers_are_one_line(hub, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404") as info:
        download(f"{hub.url}/missing.pt", tmp_path / "m.pt", hint="do this", progress=False)
    assert str(info.value).endswith("; do this") and "\n" not in str(info.value)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DownloadError, match=f"cannot reach http://127.0.0.1:{port}/m.pt") as info:
        download(f"http://127.0.0.1:{port}/m.pt", tmp_path / "m.pt", hint="do this", timeout_s=2,
                 progress=False)
    assert "\n" not in str(info.value)
    assert not list(tmp_path.iterdir())


def test_a_bad_expected_hash_is_refused(tmp_path):
    with pytest.raises(ValueError, match="64 hex"):
        download("http://127.0.0.1:9/x", tmp_path / "x", sha256="abc", progress=False)
