"""A throwaway PostgreSQL server for tests: the real database the deployment and cluster mode run on.

Kept out of any test module so every test that needs PostgreSQL gets it through ``tests/conftest.py`` (the
``postgres_server`` fixture) instead of importing a fixture from another test module.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
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


@contextlib.contextmanager
def running_postgres() -> Iterator[int]:
    """Start PostgreSQL (scram-sha-256, user and database ``citywall``) on a free loopback port; its port."""
    binaries = pg_binaries()
    if binaries is None:
        pytest.skip("PostgreSQL server binaries are not installed (apt-get install postgresql)")
    psycopg = pytest.importorskip("psycopg")
    initdb, postgres = binaries
    base = Path(tempfile.mkdtemp(prefix="citywall-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        if shutil.which("runuser") is None or subprocess.run(["id", "postgres"], capture_output=True).returncode:
            pytest.skip("running as root without a 'postgres' user to run PostgreSQL as")
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(base, "postgres")
    (base / "pw").write_text(PG_PASSWORD + "\n")
    if as_user:
        shutil.chown(base / "pw", "postgres")
    subprocess.run([*as_user, initdb, "-D", str(base / "data"), "-U", "citywall", "--pwfile", str(base / "pw"),
                    "--auth=scram-sha-256", "-E", "UTF8", "--locale=C"], check=True, capture_output=True, timeout=120)
    port = free_port()
    server = subprocess.Popen([*as_user, postgres, "-D", str(base / "data"), "-p", str(port), "-k", str(base),
                               "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dsn = f"host=127.0.0.1 port={port} user=citywall password={PG_PASSWORD} dbname=postgres"

    def ready() -> bool:
        try:
            with psycopg.connect(dsn, connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    try:
        assert wait_until(ready, 60, 0.3), "PostgreSQL did not start"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE DATABASE citywall")
        yield port
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
        shutil.rmtree(base, ignore_errors=True)
