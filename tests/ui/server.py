"""Start ``reid serve`` as a subprocess on a free localhost port, for the API and browser tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
OFFLINE_ENV = {
    "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "False", "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1", "GRADIO_ANALYTICS_ENABLED": "False",
    "YOLO_CONFIG_DIR": str(REPO / ".cache" / "ultralytics"),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reid_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "app", *args]


def run_reid(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``reid ARGS`` to completion (offline environment), capturing output."""
    return subprocess.run(reid_command(*args), cwd=REPO, env={**os.environ, **OFFLINE_ENV},
                          capture_output=True, text=True, timeout=timeout)


class ServerProcess:
    """``reid serve`` on 127.0.0.1:<free port>; ``url`` once ``start()`` returns."""

    def __init__(self, data_dir: Path, log_path: Path, *extra: str) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.args = ["serve", "--data-dir", str(data_dir), "--port", str(self.port), *extra]
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 600) -> ServerProcess:
        log = self.log_path.open("w")
        self.proc = subprocess.Popen(reid_command(*self.args), cwd=REPO, stdout=log,
                                     stderr=subprocess.STDOUT, env={**os.environ, **OFFLINE_ENV})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"reid serve exited ({self.proc.returncode}):\n{self.log()}")
            try:
                # 401: up, with a login (``--auth``).
                if httpx.get(self.url + "/config", timeout=2).status_code in (200, 401):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"reid serve did not answer within {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
