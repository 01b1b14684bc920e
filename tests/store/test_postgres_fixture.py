"""The PostgreSQL test fixture: skipped with a reason where PostgreSQL is missing, an error under
``REID_REQUIRE_POSTGRES=1`` (CI), so CI can never pass by skipping the PostgreSQL runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.support.postgres import BIN_ENV, REQUIRE_ENV, PostgresServer, PostgresUnavailableError

ROOT = Path(__file__).resolve().parents[2]
TEST = "tests/store/test_store.py::test_feedback_latest_verdict_and_audit"


def _pytest(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != REQUIRE_ENV}
    environ.update(env, **{BIN_ENV: str(tmp_path / "no-postgres-here")})
    return subprocess.run([sys.executable, "-m", "pytest", TEST, "-q", "-rs", "-p", "no:cacheprovider"],
                          cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300,
                          check=False)


def test_missing_binaries_are_named(tmp_path, monkeypatch):
    monkeypatch.setenv(BIN_ENV, str(tmp_path))
    with pytest.raises(PostgresUnavailableError, match="apt-get install postgresql"):
        PostgresServer()


@pytest.mark.slow
def test_without_postgres_the_runs_skip_locally_and_fail_in_ci(tmp_path):
    local = _pytest(tmp_path)
    assert local.returncode == 0, local.stdout[-2000:]
    assert "1 passed, 1 skipped" in local.stdout and "PostgreSQL tests skipped" in local.stdout
    ci = _pytest(tmp_path, **{REQUIRE_ENV: "1"})
    assert ci.returncode != 0, ci.stdout[-2000:]
    assert "1 passed, 1 error" in ci.stdout and f"{REQUIRE_ENV}=1 but PostgreSQL" in ci.stdout


@pytest.mark.postgres
def test_a_server_left_by_a_killed_session_is_swept(postgres_server):
    base = Path(tempfile.mkdtemp(prefix="sweep-"))  # the postgres user must be able to enter it
    base.chmod(0o755)
    code = ("import os, sys; sys.path.insert(0, sys.argv[2]); "
            "from tests.support.postgres import PostgresServer; "
            "s = PostgresServer(base_dir=sys.argv[1]).start(); print(s.root, flush=True); "
            "os._exit(0)")  # dies without stopping its server
    try:
        done = subprocess.run([sys.executable, "-c", code, str(base), str(ROOT)],
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        left = Path(done.stdout.strip())
        assert (left / "data" / "postmaster.pid").is_file()
        swept = PostgresServer(base_dir=base).sweep_stale()
        assert swept == [left] and not left.exists()
        assert postgres_server.root is not None and postgres_server.root.exists()  # ours lives
    finally:
        shutil.rmtree(base, ignore_errors=True)
