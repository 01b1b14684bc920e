"""Connecting to Ray for the cluster indexing (``reid.jobs.ray_cluster``): a local instance, the
cluster this machine belongs to, or a Ray client server (``ray://HOST:PORT``), each refused in one
line (:class:`ClusterError`) when Ray is missing or the cluster cannot be reached in time.

Ray is optional (``pip install 'tfclip-reid[cluster]'``); it is imported only here, on use.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

__all__ = ["INSTALL_HINT", "ClusterError", "RaySession", "check_address", "import_ray",
           "ray_session"]

INSTALL_HINT = "pip install 'tfclip-reid[cluster]'"
_NAMESPACE = "tfclip-reid"


class ClusterError(RuntimeError):
    """Ray is missing, the cluster cannot be reached, or it cannot run the workers asked for
    (printed by the CLI as one line)."""

    user_facing = True


def import_ray() -> ModuleType:
    """The ``ray`` module; :class:`ClusterError` saying how to install it when it is missing."""
    try:
        return importlib.import_module("ray")
    except ImportError as exc:
        raise ClusterError(f"Ray is not installed ({exc}): {INSTALL_HINT}") from None


def check_address(address: str) -> str:
    """``address`` checked: ``"local"``, ``"auto"`` or ``"ray://HOST:PORT"``.

    Raises:
        ClusterError: any other form.
    """
    address = address.strip()
    if address in ("local", "auto"):
        return address
    parts = urlsplit(address)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "ray" or not parts.hostname or port is None:
        raise ClusterError(f"--cluster takes local, auto or ray://HOST:PORT (the Ray client "
                           f"port, 10001 by default), got {address!r}")
    return address


def _check_reachable(address: str, timeout_s: float) -> None:
    """A TCP connection to the Ray client port of ``ray://HOST:PORT`` within ``timeout_s``
    (Ray's own client retries for about 35 s before it gives up)."""
    parts = urlsplit(address)
    host, port = parts.hostname or "", int(parts.port or 0)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise ClusterError(f"cannot reach the Ray cluster at {address}: {reason} (within "
                           f"{timeout_s:g} s); is `ray start --head` running there, with its "
                           f"client port open to this machine?") from None


def _init_within(ray: Any, timeout_s: float, address: str, **kwargs: Any) -> None:
    """``ray.init(address, ...)`` that gives up after ``timeout_s`` (a port that answers but is
    not a Ray client server would keep it retrying)."""
    outcome: list[BaseException | None] = []

    def connect() -> None:
        try:
            ray.init(address=address, **kwargs)
            outcome.append(None)
        except BaseException as exc:  # handed to the caller
            outcome.append(exc)

    thread = threading.Thread(target=connect, name="reid-ray-connect", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if not outcome:
        hint = ""
        if address.startswith("ray://") and not os.environ.get("RAY_AUTH_MODE"):
            hint = ("; if it uses token authentication (the default of clusters started by Ray "
                    ">= 2.5x), set RAY_AUTH_MODE=token and its token (RAY_AUTH_TOKEN, or "
                    "~/.ray/auth_token)")
        raise ClusterError(f"the Ray cluster at {address} did not answer within {timeout_s:g} s"
                           f"{hint}")
    if outcome[0] is not None:
        exc = outcome[0]
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ClusterError(f"cannot connect to the Ray cluster at {address}: {first}") from None


@dataclass(frozen=True)
class RaySession:
    """A connected Ray session: where, whether this process started it, what it offers."""

    address: str
    started_here: bool
    resources: dict[str, float]

    @property
    def cpus(self) -> float:
        """CPUs the cluster offers in all."""
        return float(self.resources.get("CPU", 0.0))

    @property
    def gpus(self) -> float:
        """GPUs the cluster offers in all."""
        return float(self.resources.get("GPU", 0.0))


@contextmanager
def ray_session(address: str, *, num_cpus: int | None = None, object_store_mb: int = 256,
                connect_timeout_s: float = 10.0) -> Iterator[RaySession]:
    """Connect to Ray for the block, then disconnect.

    Args:
        address: ``"local"`` starts a Ray instance on this machine (``num_cpus``, default all of
            its cores; a small object store, no dashboard, worker logs not forwarded) and stops
            it afterwards; ``"auto"`` joins the cluster this machine belongs to (``ray start``);
            ``"ray://HOST:PORT"`` connects as a Ray client (needs ``ray[client]``). A Ray session
            this process already holds is used as it is, and left running (for ``local`` and
            ``auto``; ``ray://`` then is an error).
        object_store_mb: the local instance's object store (jobs move only small rows).
        connect_timeout_s: how long ``ray://`` may take to answer a TCP connection; joining
            takes at most three times that.

    Raises:
        ClusterError: Ray is not installed, the address is malformed or unreachable.
    """
    address = check_address(address)
    ray = import_ray()
    if address.startswith("ray://"):
        _check_reachable(address, connect_timeout_s)
    if ray.is_initialized():
        if address.startswith("ray://"):
            raise ClusterError(f"cannot connect to {address}: this process is already "
                               "connected to another Ray session")
        yield RaySession(address, False, dict(ray.cluster_resources()))
        return
    common: dict[str, Any] = {"namespace": _NAMESPACE, "log_to_driver": False,
                              "logging_level": logging.WARNING}
    if address == "local":
        cpus = int(num_cpus or os.cpu_count() or 1)
        try:
            # address "local": a new instance even where `ray start` runs (or left its address)
            ray.init(address="local", num_cpus=cpus,
                     object_store_memory=int(object_store_mb) * 1024 * 1024,
                     include_dashboard=False, **common)
        except Exception as exc:
            raise ClusterError(f"could not start a local Ray instance: {exc}") from None
        logger.info("started a local Ray instance with %d CPUs", cpus)
    else:
        _init_within(ray, 3 * connect_timeout_s, address, **common)
        logger.info("connected to the Ray cluster at %s", address)
    try:
        yield RaySession(address, True, dict(ray.cluster_resources()))
    finally:
        ray.shutdown()
