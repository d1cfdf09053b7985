"""A throwaway PostgreSQL server for tests: the real database the deployment and cluster mode run on (and that a
fault test may restart under load: ``PostgresServer.restart``).

Kept out of any test module so every test that needs PostgreSQL gets it through ``tests/conftest.py`` (the
``postgres_server`` fixture) instead of importing a fixture from another test module.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.devserver.rtsp import free_port
from tests.conftest import wait_until

PG_PASSWORD = "DbPass1234567890"  # the user ``citywall``'s (deploy/compose.yaml's DB_PASSWORD in the tests)


def pg_binaries() -> tuple[str, str] | None:
    initdb = shutil.which("initdb") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))), None)
    if initdb is None:
        return None
    postgres = Path(initdb).resolve().with_name("postgres")
    return (initdb, str(postgres)) if postgres.is_file() else None


def database_url(port: int) -> str:
    """The SQLAlchemy URL of the ``citywall`` database on the server at ``port``."""
    return f"postgresql+psycopg://citywall:{PG_PASSWORD}@127.0.0.1:{port}/citywall"


class PostgresServer:
    """A throwaway PostgreSQL (scram-sha-256, user and database ``citywall``) on a free loopback port that a test
    may stop and start again on the same port with the same data (``restart``): what a database restart under
    load looks like to the service."""

    def __init__(self) -> None:
        binaries = pg_binaries()
        if binaries is None:
            pytest.skip("PostgreSQL server binaries are not installed (apt-get install postgresql)")
        self.psycopg = pytest.importorskip("psycopg")
        self.initdb, self.postgres = binaries
        self.base = Path(tempfile.mkdtemp(prefix="citywall-pg-"))
        self.as_user: list[str] = []
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            if shutil.which("runuser") is None or subprocess.run(["id", "postgres"], capture_output=True).returncode:
                pytest.skip("running as root without a 'postgres' user to run PostgreSQL as")
            self.as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.base, "postgres")

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=citywall password={PG_PASSWORD} dbname=postgres"

    def init(self) -> PostgresServer:
        (self.base / "pw").write_text(PG_PASSWORD + "\n")
        if self.as_user:
            shutil.chown(self.base / "pw", "postgres")
        subprocess.run([*self.as_user, self.initdb, "-D", str(self.base / "data"), "-U", "citywall", "--pwfile",
                        str(self.base / "pw"), "--auth=scram-sha-256", "-E", "UTF8", "--locale=C"], check=True,
                       capture_output=True, timeout=120)
        self.start()
        with self.psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute("CREATE DATABASE citywall")
        return self

    def ready(self) -> bool:
        try:
            with self.psycopg.connect(self.dsn, connect_timeout=2):
                return True
        except self.psycopg.OperationalError:
            return False

    def start(self, timeout: float = 60) -> None:
        """Start the server (again) on its port and wait until it takes connections."""
        assert self.process is None, "already running"
        self.process = subprocess.Popen([*self.as_user, self.postgres, "-D", str(self.base / "data"), "-p",
                                         str(self.port), "-k", str(self.base), "-c", "listen_addresses=127.0.0.1",
                                         "-c", "fsync=off"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_until(self.ready, timeout, 0.2), "PostgreSQL did not start"

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` (SIGINT: open transactions rolled back, clients disconnected, what a restart
        by the service manager does) or ``immediate`` (SIGQUIT: as after a crash, recovery at the next start)."""
        if self.process is None:
            return
        pid_file = self.base / "data" / "postmaster.pid"
        signum = {"fast": signal.SIGINT, "immediate": signal.SIGQUIT}[mode]
        try:  # the postmaster itself (runuser in front of it need not pass signals on)
            os.kill(int(pid_file.read_text().split()[0]), signum)
        except (OSError, ValueError, IndexError):
            self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None

    def restart(self, down_seconds: float = 0.0, mode: str = "fast") -> None:
        self.stop(mode)
        time.sleep(down_seconds)
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


@contextlib.contextmanager
def running_postgres() -> Iterator[int]:
    """Start PostgreSQL (scram-sha-256, user and database ``citywall``) on a free loopback port; its port."""
    with postgres_instance() as server:
        yield server.port


@contextlib.contextmanager
def postgres_instance() -> Iterator[PostgresServer]:
    """A started PostgresServer, stopped and removed afterwards."""
    server = PostgresServer()
    try:
        yield server.init()
    finally:
        server.close()
