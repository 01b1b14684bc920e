"""The weights that ``reid weights fetch`` downloads itself: where from, their SHA-256, where they go.

Endpoints, first match wins:

- ``REID_WEIGHTS_URL_<NAME>`` (name upper-cased, ``-`` as ``_``; e.g. ``REID_WEIGHTS_URL_YOLO11N``,
  ``REID_WEIGHTS_URL_CLIP_VIT_B16``): the full URL of that one file;
- ``REID_WEIGHTS_MIRROR``: a base URL; the file is fetched as ``<mirror>/<file name>``;
- the default hub URL below.

Files go to ``<weights root>/<name>/<file name>``, the root being the SSDLite graph's
(``$REID_WEIGHTS_DIR``, else ``$XDG_CACHE_HOME/reid/weights``, else ``~/.cache/reid/weights``;
:func:`weights_root`). Stdlib only: :mod:`reid.model.pretrained` imports it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

MIRROR_ENV = "REID_WEIGHTS_MIRROR"
URL_ENV_PREFIX = "REID_WEIGHTS_URL_"
WEIGHTS_DIR_ENV = "REID_WEIGHTS_DIR"
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class RemoteFile:
    """One downloadable weights file.

    Attributes:
        name: the weights name of ``reid weights`` (also the cache subfolder).
        filename: the file's name, in the cache and under a mirror.
        url: the default (hub) URL.
        sha256: pinned hex SHA-256 of the hub's file, or None (then the hash the server advertises).
        offline_env: the variable that forbids reaching this file's hub (``YOLO_OFFLINE``,
            ``HF_HUB_OFFLINE``); a mirror or URL override is still used when it is set.
        open_clip: ``(model, tag)`` of open_clip's pretrained registry this file is, if any.
    """

    name: str
    filename: str
    url: str
    sha256: str | None
    offline_env: str
    open_clip: tuple[str, str] | None = None


REMOTE_FILES: dict[str, RemoteFile] = {
    f.name: f
    for f in (
        # SHA-256 published by many independent projects that verify this exact release asset.
        RemoteFile("yolo11n", "yolo11n.pt",
                   "https://github.com/ultralytics/assets/releases/download/v8.3.0/yolo11n.pt",
                   "0ebbc80d4a7680d14987a577cd21342b65ecfd94632bd9a8da63ae6417644ee1", "YOLO_OFFLINE"),
        # The LFS object of timm/vit_base_patch16_clip_224.openai at revision 977e3dd0 (598,516,980
        # bytes), as several projects pin it; Hugging Face also advertises it (X-Linked-Etag).
        RemoteFile("clip-vit-b16", "open_clip_model.safetensors",
                   "https://huggingface.co/timm/vit_base_patch16_clip_224.openai/resolve/main/"
                   "open_clip_model.safetensors",
                   "4b8699299b1e8997753c64b052ba32031449d5d853f55a039148560ee02b820f", "HF_HUB_OFFLINE",
                   open_clip=("ViT-B-16", "openai")),
    )
}


def weights_root() -> Path:
    """``$REID_WEIGHTS_DIR``, else ``$XDG_CACHE_HOME/reid/weights``, else ``~/.cache/reid/weights``:
    the root :func:`tracking.ssd.ssd_weights_dir` uses (a test holds the two equal)."""
    base = os.environ.get(WEIGHTS_DIR_ENV, "").strip()
    if base:
        return Path(base).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(cache).expanduser() if cache else Path.home() / ".cache") / "reid" / "weights"


def url_env(name: str) -> str:
    """The variable overriding the URL of weights ``name`` (``REID_WEIGHTS_URL_CLIP_VIT_B16``)."""
    return URL_ENV_PREFIX + name.upper().replace("-", "_")


def resolve_url(remote: RemoteFile) -> tuple[str, bool]:
    """``(url, overridden)``: the URL to fetch ``remote`` from, and whether the environment chose it."""
    own = os.environ.get(url_env(remote.name), "").strip()
    if own:
        return own, True
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    if mirror:
        return f"{mirror.rstrip('/')}/{remote.filename}", True
    return remote.url, False


def cache_path(remote: RemoteFile) -> Path:
    """Where ``remote`` is kept: ``<weights root>/<name>/<file name>`` (may not exist)."""
    return weights_root() / remote.name / remote.filename


def find_cached(remote: RemoteFile) -> Path | None:
    """The downloaded file when it is in the cache (a non-empty regular file), else None."""
    path = cache_path(remote)
    try:
        return path if path.is_file() and path.stat().st_size > 0 else None
    except OSError:
        return None


def find_open_clip_file(model: str, tag: str) -> Path | None:
    """Our cached copy of open_clip's pretrained ``(model, tag)`` weights, or None."""
    for remote in REMOTE_FILES.values():
        if remote.open_clip == (model, tag):
            return find_cached(remote)
    return None


def fetch_hint(name: str) -> str:
    """What a failed download tells the user to do (the command, the mirror variables)."""
    return (f"run `reid weights fetch {name}` where the network allows, or point {MIRROR_ENV} "
            f"(or {url_env(name)}) at a reachable copy")


def fetch_remote(name: str, sha256: str | None = None, timeout_s: float = 30.0,
                 progress: bool = True) -> Path:
    """Download weights ``name`` into the cache (a cached copy is returned at once); its path.

    Args:
        name: a key of :data:`REMOTE_FILES`.
        sha256: expected hex SHA-256 overriding the pinned one (a file of another release).
        timeout_s: network timeout per connection / read, in seconds.
        progress: show a progress bar.

    Raises:
        KeyError: ``name`` is not a downloadable file.
        reid.weights.download.DownloadError: offline, unreachable, HTTP error, interrupted, or a
            checksum mismatch; one line naming ``reid weights fetch NAME`` and the mirror variables.
    """
    from reid.weights.download import DownloadError, download

    remote = REMOTE_FILES[name]
    cached = find_cached(remote)
    if cached is not None:
        return cached
    url, overridden = resolve_url(remote)
    hint = fetch_hint(name)
    if not overridden and os.environ.get(remote.offline_env, "").strip().lower() in _TRUE:
        raise DownloadError(f"cannot download {name}: {remote.offline_env} is set (no hub access); "
                            f"unset it and {hint}")
    logger.info("fetching %s from %s", name, url)
    return download(url, cache_path(remote), sha256=sha256 or remote.sha256, hint=hint,
                    timeout_s=timeout_s, progress=progress)
