"""A small resumable HTTP(S) downloader (stdlib ``urllib`` only) for model weights.

``download(url, dest)`` writes to ``dest.part``, resumes a ``.part`` left by an interrupted run with
an HTTP ``Range`` request (a server that answers 200 instead of 206 sends the whole file: it starts
over), checks the SHA-256 and only then moves the file into place atomically (``os.replace``).

Which SHA-256: the one the caller gives (a pinned or user-given hash), else the one the server
advertises for the file (Hugging Face sends ``X-Linked-Etag``, the SHA-256 of an LFS file, on the
redirect it answers ``/resolve/`` with), else none (logged as unverified).
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
# Headers carrying a file's SHA-256, on the response or on a redirect before it (Hugging Face LFS).
_HASH_HEADERS = ("X-Linked-Etag", "X-Sha256")


class DownloadError(RuntimeError):
    """A download failed (unreachable, HTTP error, interrupted); the message is one line and says
    what to do."""

    user_facing = True  # app.cli prints it without the "run with -v" hint


class ChecksumError(DownloadError):
    """The downloaded file is not the expected one; it has been removed."""


def part_path(dest: Path) -> Path:
    """Where ``dest`` is written while downloading (``<dest>.part``)."""
    return dest.with_name(dest.name + ".part")


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def normalise_sha256(value: str | None) -> str | None:
    """A hex SHA-256 in lower case (quotes, ``sha256:`` prefix removed), or None when ``value`` is
    not one (an ordinary ETag, an MD5...)."""
    if not value:
        return None
    text = value.strip().strip('"').lower()
    if text.startswith("w/"):
        text = text[2:].strip('"')
    text = text.removeprefix("sha256:")
    return text if _SHA256_RE.match(text) else None


class _RecordingRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects like urllib does, keeping the headers of each redirect response (Hugging
    Face puts the file's SHA-256 on the redirect, not on the CDN's final answer)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Any] = []

    def redirect_request(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
        headers: http.client.HTTPMessage, newurl: str,
    ) -> urllib.request.Request | None:
        self.seen.append(headers)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _advertised_sha256(headers_seen: list[Any]) -> str | None:
    for headers in headers_seen:
        for name in _HASH_HEADERS:
            found = normalise_sha256(headers.get(name))
            if found:
                return found
    return None


def _open(url: str, offset: int, timeout_s: float) -> tuple[Any, list[Any]]:
    """``(response, headers of every redirect then of the response)``; raises urllib's errors."""
    redirects = _RecordingRedirects()
    opener = urllib.request.build_opener(redirects)
    request = urllib.request.Request(url, headers={"User-Agent": "tfclip-reid-weights"})
    if offset > 0:
        request.add_header("Range", f"bytes={offset}-")
    response = opener.open(request, timeout=timeout_s)
    return response, [*redirects.seen, response.headers]


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def download(
    url: str,
    dest: str | Path,
    sha256: str | None = None,
    hint: str = "",
    timeout_s: float = 30.0,
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``dest`` (resuming ``dest.part``), verify it, move it into place.

    Args:
        url: ``http(s)://`` (or ``file://``) address of the file.
        dest: final path; its folder is created once the server answers. An existing ``dest``
            is replaced.
        sha256: expected hex SHA-256; None: the server's advertised hash when it sends one.
        hint: appended to every error message (the command to rerun, the variables to set).
        timeout_s: seconds to wait for the connection and for each read.
        progress: show a tqdm bar on stderr.

    Returns:
        ``dest``.

    Raises:
        DownloadError: unreachable, HTTP error, or the transfer broke off (the ``.part`` is kept:
            the next call resumes it).
        ChecksumError: the file's SHA-256 is not the expected one (the file is removed).
    """
    dest = Path(dest)
    part = part_path(dest)
    expected = normalise_sha256(sha256) if sha256 else None
    if sha256 and expected is None:
        raise ValueError(f"not a SHA-256 (64 hex digits): {sha256!r}")
    tail = f"; {hint}" if hint else ""
    for attempt in range(2):  # a second try only after a 416 on a stale .part
        offset = part.stat().st_size if part.is_file() else 0
        try:
            response, headers_seen = _open(url, offset, timeout_s)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and offset > 0 and attempt == 0:
                logger.info("the server refused to resume %s at byte %d; starting over", url, offset)
                _remove(part)
                continue
            raise DownloadError(f"cannot download {url}: HTTP {exc.code} {exc.reason}{tail}") from exc
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise DownloadError(f"cannot reach {url} ({reason}){tail}") from exc
        with response:
            expected = expected or _advertised_sha256(headers_seen)
            _receive(response, url, part, offset, progress, tail)
        break
    actual = sha256_of(part)
    if expected is None:
        logger.warning("%s: no SHA-256 to check against (none pinned, none advertised); sha256 %s",
                       url, actual)
    elif actual != expected:
        _remove(part)
        raise ChecksumError(f"{url}: SHA-256 {actual} is not the expected {expected}; the download "
                            f"was removed{tail}")
    os.replace(part, dest)
    logger.info("downloaded %s -> %s (sha256 %s)", url, dest, actual)
    return dest


def _receive(response: Any, url: str, part: Path, offset: int, progress: bool, tail: str) -> None:
    """Append (206) or write (200) the body to ``part``; raises DownloadError when it breaks off."""
    from tqdm import tqdm

    status = getattr(response, "status", 200)
    if offset > 0 and status == 206:
        content_range = response.headers.get("Content-Range", "")
        if not content_range.startswith(f"bytes {offset}-"):
            raise DownloadError(f"cannot resume {url}: the server sent range {content_range!r} for a "
                                f"request from byte {offset}{tail}")
        mode = "ab"
    else:
        if offset > 0:
            logger.info("%s: the server ignored the Range request (HTTP %s); starting over", url, status)
        offset, mode = 0, "wb"
    length = response.headers.get("Content-Length")
    total = offset + int(length) if length and length.isdigit() else None
    received = offset
    part.parent.mkdir(parents=True, exist_ok=True)  # only once the server answers
    # read1: what has arrived, so a timeout loses nothing already received (read() waits for a full chunk)
    read = getattr(response, "read1", response.read)
    with part.open(mode) as fh, tqdm(total=total, initial=offset, unit="B", unit_scale=True,
                                     unit_divisor=1024, desc=part.name.removesuffix(".part"),
                                     disable=not progress, leave=False) as bar:
        while True:
            try:
                chunk = read(CHUNK_BYTES)
            except (OSError, http.client.HTTPException) as exc:  # TimeoutError is an OSError
                fh.flush()
                raise DownloadError(f"the download of {url} broke off after {received} of "
                                    f"{total if total is not None else '?'} bytes ({type(exc).__name__}); "
                                    f"run it again to resume{tail}") from exc
            if not chunk:
                break
            fh.write(chunk)  # a full disk raises OSError itself: not a network fault to resume
            received += len(chunk)
            bar.update(len(chunk))
        fh.flush()
        os.fsync(fh.fileno())
    if total is not None and received < total:
        raise DownloadError(f"the download of {url} broke off after {received} of {total} bytes; "
                            f"run it again to resume{tail}")
