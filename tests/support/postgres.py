"""A throwaway PostgreSQL server for tests, started from the distribution's binaries.

``PostgresServer.start()`` runs ``initdb`` into a fresh temporary folder and starts ``postgres``
listening only on a unix socket in that folder (no TCP), with durability off (``fsync``,
``synchronous_commit`` and ``full_page_writes``: a test server loses nothing it needs on a crash).
As root it runs the binaries as the ``postgres`` user, since PostgreSQL refuses to run as root.
``create_database()`` gives each test its own empty database; ``stop()`` stops the server and
removes the folder.

``find_postgres_bin()`` looks in ``$REID_POSTGRES_BIN`` when set (only there), else for
``initdb``/``pg_ctl`` on ``PATH``, then under ``/usr/lib/postgresql/<version>/bin`` (Debian's
``postgresql`` package).
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from reid.store._worker_ids import pid_alive

logger = logging.getLogger(__name__)

__all__ = ["BIN_ENV", "REQUIRE_ENV", "PostgresServer", "PostgresUnavailableError", "find_postgres_bin",
           "postgres_required"]

BIN_ENV = "REID_POSTGRES_BIN"  # the folder of initdb/pg_ctl/postgres, when not the usual one
REQUIRE_ENV = "REID_REQUIRE_POSTGRES"  # "1": a missing PostgreSQL fails the tests (CI) instead of skipping
PREFIX = "reid-pg-"  # the temporary folders of test servers
OWNER_FILE = "owner.pid"  # in each: the process that started it (see PostgresServer.sweep_stale)
ROLE = "reid"  # the superuser initdb creates; tests connect as this role without a password


class PostgresUnavailableError(RuntimeError):
    """PostgreSQL cannot be started here (no binaries, no ``postgres`` user, or it failed)."""


def postgres_required() -> bool:
    """True when ``REID_REQUIRE_POSTGRES=1`` (set by ``.ci/run``): no skipping allowed."""
    return os.environ.get(REQUIRE_ENV, "").strip() == "1"


def find_postgres_bin() -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``, or None when not installed."""
    override = os.environ.get(BIN_ENV)
    on_path = shutil.which("initdb")
    candidates = [Path(override)] if override else [Path(on_path).resolve().parent] if on_path else []
    root = Path("/usr/lib/postgresql")
    if root.is_dir() and not override:
        versions = sorted((p for p in root.iterdir() if p.name.isdigit()), key=lambda p: int(p.name),
                          reverse=True)
        candidates += [p / "bin" for p in versions]
    for folder in candidates:
        if all((folder / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One PostgreSQL server in a temporary folder (see the module docstring).

    Args:
        bin_dir: where ``initdb`` and ``pg_ctl`` are (default: ``find_postgres_bin()``).
        base_dir: parent of the temporary folder (default: the system's temporary folder; it
            must be short, since a unix socket path is limited to ~100 characters).
    """

    def __init__(self, bin_dir: Path | None = None, base_dir: Path | None = None) -> None:
        found = bin_dir or find_postgres_bin()
        if found is None:
            raise PostgresUnavailableError(
                "PostgreSQL is not installed (no initdb/pg_ctl/postgres "
                + (f"in ${BIN_ENV}={os.environ[BIN_ENV]}" if os.environ.get(BIN_ENV)
                   else "on PATH or under /usr/lib/postgresql/*/bin")
                + "): `apt-get install postgresql`")
        self.bin_dir = found
        self.base_dir = base_dir
        self.root: Path | None = None
        self.port = 0
        self._databases = 0
        self._as_postgres = os.geteuid() == 0

    # ------------------------------------------------------------ paths
    @property
    def data_dir(self) -> Path:
        """The cluster's data folder."""
        return self._root() / "data"

    @property
    def socket_dir(self) -> Path:
        """The folder of the unix socket ``.s.PGSQL.<port>``."""
        return self._root() / "sock"

    def _root(self) -> Path:
        if self.root is None:
            raise RuntimeError("the PostgreSQL server is not started: call start() first")
        return self.root

    # ------------------------------------------------------------ running
    def _run(self, *args: str, timeout: float = 120.0) -> str:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if self._as_postgres:  # PostgreSQL refuses to run as root
            cmd = ["runuser", "-u", "postgres", "--", *cmd] if shutil.which("runuser") \
                else ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(map(_quote, cmd))]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False,
                              cwd=self._root())
        if done.returncode != 0:
            raise PostgresUnavailableError(f"{args[0]} failed ({done.returncode}): "
                                      f"{(done.stderr or done.stdout).strip()[-800:]}")
        return done.stdout

    def start(self) -> PostgresServer:
        """Create the cluster and start the server; returns ``self``."""
        if self.root is not None:
            return self
        self.sweep_stale()
        self.root = Path(tempfile.mkdtemp(prefix=PREFIX, dir=self.base_dir))
        (self.root / OWNER_FILE).write_text(str(os.getpid()))
        try:
            self.socket_dir.mkdir()
            if self._as_postgres:
                try:
                    user = pwd.getpwnam("postgres")
                except KeyError as exc:
                    raise PostgresUnavailableError("running as root, but there is no 'postgres' user "
                                              "to run the server as") from exc
                for p in (self.root, self.socket_dir):
                    os.chown(p, user.pw_uid, user.pw_gid)
            self._run("initdb", "-D", str(self.data_dir), "-A", "trust", "-U", ROLE, "-E", "UTF8",
                      "--no-sync", "--locale=C")
            self.port = _free_port()
            options = (f"-p {self.port} -k {self.socket_dir} -c listen_addresses='' "
                       "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                       "-c max_connections=200")
            self._run("pg_ctl", "-D", str(self.data_dir), "-o", options, "-l",
                      str(self._root() / "server.log"), "-w", "-t", "60", "start")
        except BaseException:
            self.stop()
            raise
        logger.info("PostgreSQL started on %s port %d", self.socket_dir, self.port)
        return self

    def sweep_stale(self) -> list[Path]:
        """Stop and remove the servers of test sessions that died without stopping theirs (killed
        by a timeout, say): folders named like ours whose owning process is gone. Returns them."""
        base = Path(self.base_dir or tempfile.gettempdir())
        swept = []
        for folder in base.glob(f"{PREFIX}*"):
            try:
                owner = int((folder / OWNER_FILE).read_text())
            except (OSError, ValueError):
                continue  # not one of ours, or still being created
            if pid_alive(owner):
                continue
            self.root = folder
            self.stop()  # pg_ctl stop when a postmaster.pid is left, then removes the folder
            swept.append(folder)
        if swept:
            logger.warning("stopped %d PostgreSQL test servers left by dead sessions", len(swept))
        return swept

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its folder."""
        if self.root is None:
            return
        try:
            if (self.data_dir / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
        except (PostgresUnavailableError, subprocess.TimeoutExpired) as exc:
            logger.warning("stopping the test PostgreSQL failed: %s", exc)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def log_tail(self, chars: int = 2000) -> str:
        """The end of the server's log (for failure messages)."""
        try:
            return (self._root() / "server.log").read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    # ------------------------------------------------------------ databases
    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of ``database`` (psycopg 3 over the unix socket)."""
        return f"postgresql+psycopg://{ROLE}@/{database}?host={self.socket_dir}&port={self.port}"

    def create_database(self, prefix: str = "gallery") -> str:
        """Create a new empty database; returns its SQLAlchemy URL."""
        import psycopg  # test dependency; imported here so the module loads without it

        self._databases += 1
        name = f"{prefix}_{self._databases}"
        with psycopg.connect(host=str(self.socket_dir), port=self.port, user=ROLE,
                             dbname="postgres", autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop the database of ``url`` (closing its other connections first)."""
        import psycopg

        name = url.split("/", 3)[3].split("?", 1)[0]
        with psycopg.connect(host=str(self.socket_dir), port=self.port, user=ROLE,
                             dbname="postgres", autocommit=True) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _quote(arg: str) -> str:
    return "'" + arg.replace("'", "'\\''") + "'"
