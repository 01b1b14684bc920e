"""Fixtures of the security tests: the two servers of the HTTP-guard tests (``guard_servers``),
started once for all the ``test_http_guard*`` modules of this package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.security.guard_servers import PASSWORD, USER, guard_server
from tests.ui.server import ServerProcess


@pytest.fixture(scope="package")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``reid serve`` without a login, on loopback."""
    proc = guard_server(tmp_path_factory.mktemp("guard-open"))
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="package")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``reid serve --auth USER:PASSWORD``."""
    proc = guard_server(tmp_path_factory.mktemp("guard-auth"), "--auth", f"{USER}:{PASSWORD}")
    proc.start()
    yield proc
    proc.stop()
