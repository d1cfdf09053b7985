"""``citywall user|grant|revoke|audit`` as an admin runs them: processes of their own on a real SQLite file.

The first admin is made this way (there is no default account); every change lands in the audit log as
``cli:<login name>``; mistakes are one clear line and a non-zero exit, with nothing changed.

Each test's first command, one prompted password and the command without ``--config`` run as real
``python -m wall.cli`` processes: the entry point, its exit status, stdin as a pipe. The rest go to one interpreter
(tests/cli_shell.py) with each command's own stdin, stdout and stderr: 40 interpreter starts were most of this
file's 110 s.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from streams.devserver.rtsp import free_port
from tests.cli_shell import CliShell, citywall_env
from tests.conftest import REPO

pytestmark = pytest.mark.slow

GOOD = "Harbour-light-42"


@pytest.fixture
def site_dir(tmp_path: Path) -> Path:
    port = free_port()
    (tmp_path / "cameras.yaml").write_text(
        "cameras:\n"
        f'  - {{id: car, name: 车, url: "rtsp://127.0.0.1:{port}/car", group: 解放路}}\n'
        f'  - {{id: gate, name: 门, url: "rtsp://127.0.0.1:{port}/gate"}}\n', encoding="utf-8")
    return tmp_path


def citywall(site: Path | None, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m wall.cli ARGS --config SITE`` as a process of its own, detached from any terminal (so
    getpass reads stdin)."""
    command = [sys.executable, "-m", "wall.cli", *args, *(["--config", str(site)] if site else [])]
    return subprocess.run(command, input=stdin, capture_output=True, text=True, cwd=REPO, timeout=120,
                          start_new_session=True, env=citywall_env())


Shell = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shell]:
    """``shell(site, *args, stdin=...)``: ``citywall ARGS --config SITE`` in the module's one interpreter."""
    cli = CliShell(tmp_path_factory.mktemp("cli") / "shell.log")
    yield lambda site, *args, stdin=None: cli(*args, "--config", str(site), stdin=stdin)
    cli.close()


def rows(site: Path, sql: str, *params: object) -> list[tuple]:
    with sqlite3.connect(site / "data" / "citywall.sqlite3") as db:
        return db.execute(sql, params).fetchall()


def test_user_commands(site_dir: Path, shell: Shell) -> None:
    empty = citywall(site_dir, "user", "list")
    assert empty.returncode == 0 and "no users yet" in empty.stdout
    assert "citywall user add NAME --role admin" in empty.stdout

    weak = shell(site_dir, "user", "add", "admin", "--role", "admin", "--password-stdin", stdin="admin\n")
    assert weak.returncode == 1
    assert "citywall: the password must have at least 10 characters" in weak.stderr
    assert rows(site_dir, "SELECT count(*) FROM users") == [(0,)]

    made = shell(site_dir, "user", "add", "admin", "--role", "admin", "--password-stdin", stdin=GOOD + "\n")
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == "citywall: user admin (admin) created"
    again = shell(site_dir, "user", "add", "admin", "--role", "viewer", "--password-stdin", stdin=GOOD + "\n")
    assert again.returncode == 1 and "user 'admin' exists" in again.stderr
    assert shell(site_dir, "user", "add", "x", "--role", "boss", "--password-stdin", stdin=GOOD).returncode == 2
    bad_name = shell(site_dir, "user", "add", "Bad Name", "--role", "viewer", "--password-stdin", stdin=GOOD)
    assert bad_name.returncode == 1 and "is not a user name" in bad_name.stderr

    # prompted twice (no terminal here: getpass reads stdin); two different answers change nothing
    differ = shell(site_dir, "user", "add", "op", "--role", "operator", stdin=f"{GOOD}\nOther-light-42\n")
    assert differ.returncode == 1 and "the two passwords differ" in differ.stderr
    prompted = citywall(site_dir, "user", "add", "op", "--role", "operator", stdin=f"{GOOD}\n{GOOD}\n")
    assert prompted.returncode == 0, prompted.stderr
    assert GOOD not in prompted.stdout + prompted.stderr

    last_admin = shell(site_dir, "user", "lock", "admin")
    assert last_admin.returncode == 1 and "last active admin" in last_admin.stderr
    assert shell(site_dir, "user", "lock", "op").returncode == 0
    listed = {u["name"]: u for u in json.loads(shell(site_dir, "user", "list", "--json").stdout)}
    assert (listed["admin"]["role"], listed["admin"]["state"]) == ("admin", "active")
    assert (listed["op"]["role"], listed["op"]["state"]) == ("operator", "locked")
    assert shell(site_dir, "user", "unlock", "op").returncode == 0
    table = shell(site_dir, "user", "list").stdout
    assert any(line.split()[:3] == ["op", "operator", "active"] for line in table.splitlines())
    assert shell(site_dir, "user", "unlock", "nobody").returncode == 1

    reused = shell(site_dir, "user", "passwd", "op", "--password-stdin", stdin=GOOD + "\n")
    assert reused.returncode == 1 and "last 5 passwords" in reused.stderr
    changed = shell(site_dir, "user", "passwd", "op", "--password-stdin", stdin="Lantern-night-7\n")
    assert changed.returncode == 0 and "op has a new password" in changed.stdout

    from wall.auth.passwords import verify_password

    ((stored,),) = rows(site_dir, "SELECT password_hash FROM users WHERE name = 'op'")
    assert verify_password(stored, "Lantern-night-7") and not verify_password(stored, GOOD)
    audit = rows(site_dir, "SELECT username, action, target, success, address FROM audit_log "
                 "WHERE action != 'group.seed' ORDER BY id")
    actor = audit[0][0]
    assert actor.startswith("cli")
    assert [(a, t, ok) for _, a, t, ok, _ in audit] == [  # refused changes are audited too
        ("user.create", "user:admin", 0), ("user.create", "user:admin", 1), ("user.create", "user:admin", 0),
        ("user.create", "user:Bad Name", 0), ("user.create", "user:op", 1), ("user.lock", "user:admin", 0),
        ("user.lock", "user:op", 1), ("user.unlock", "user:op", 1), ("user.unlock", "user:nobody", 0),
        ("user.password", "user:op", 0), ("user.password", "user:op", 1),
    ]
    assert {u for u, *_ in audit} == {actor} and {addr for *_, addr in audit} == {"local"}
    dump = json.dumps(rows(site_dir, "SELECT * FROM audit_log"), ensure_ascii=False)
    assert GOOD not in dump and "Lantern-night-7" not in dump


def test_grant_and_revoke(site_dir: Path, shell: Shell) -> None:
    assert citywall(site_dir, "user", "add", "vw", "--role", "viewer", "--password-stdin",
                    stdin=GOOD).returncode == 0
    ok = shell(site_dir, "grant", "vw", "car")
    assert ok.returncode == 0 and ok.stdout.strip() == "citywall: car granted to vw"
    assert shell(site_dir, "grant", "role:operator", "group:解放路").returncode == 0  # seeded from cameras.yaml
    for args, message in ((("vw", "car"), "car is already granted to vw"),
                          (("nobody", "car"), "no user 'nobody'"),
                          (("vw", "ghost"), "no camera 'ghost' in cameras.yaml"),
                          (("role:boss", "car"), "'boss' is not a role"),
                          (("vw", "group:nowhere"), "no group 'nowhere'"),
                          (("vw", "Not/A/Camera"), "is not a camera id or group:NAME")):
        res = shell(site_dir, "grant", *args)
        assert res.returncode == 1 and message in res.stderr, (args, res.stderr)
    assert rows(site_dir, "SELECT subject_kind, subject, target_kind, target FROM grants ORDER BY id") == [
        ("user", "vw", "camera", "car"), ("role", "operator", "group", "解放路")]
    playback = shell(site_dir, "grant", "vw", "car", "--right", "playback")
    assert playback.returncode == 0 and playback.stdout.strip() == "citywall: car (playback) granted to vw"
    wrong = shell(site_dir, "grant", "vw", "car", "--right", "all")
    assert wrong.returncode == 1 and "'all' is not a right (view, playback, ptz)" in wrong.stderr
    assert shell(site_dir, "revoke", "vw", "car", "--right", "playback").returncode == 0
    assert rows(site_dir, "SELECT grant_right FROM grants ORDER BY id") == [("view",), ("view",)]

    assert shell(site_dir, "revoke", "vw", "car").returncode == 0
    gone = shell(site_dir, "revoke", "vw", "car")
    assert gone.returncode == 1 and "car is not granted to vw" in gone.stderr
    assert rows(site_dir, "SELECT subject, target FROM grants") == [("operator", "解放路")]
    audit = rows(site_dir, "SELECT action, target, success FROM audit_log WHERE action LIKE 'grant.%' ORDER BY id")
    assert audit[:2] == [("grant.create", "car", 1), ("grant.create", "group:解放路", 1)]
    assert audit[-2:] == [("grant.delete", "car", 1), ("grant.delete", "car", 0)]
    assert sum(1 for a in audit if a[2] == 0) == 6 + 1 + 1

    missing = citywall(None, "grant", "vw", "car")
    assert missing.returncode == 2 and "--config" in missing.stderr
    (site_dir / "server.yaml").write_text("security:\n  lockout_failures: 0\n", encoding="utf-8")
    broken = shell(site_dir, "grant", "vw", "car")
    assert broken.returncode == 2
    assert f"{site_dir / 'server.yaml'}: security.lockout_failures: Input should be greater than or equal to 1" \
        in broken.stderr


def test_audit_purge_keeps_180_days(site_dir: Path, shell: Shell) -> None:
    assert citywall(site_dir, "user", "list").returncode == 0  # creates the database
    now = datetime.now(UTC).replace(tzinfo=None)
    with sqlite3.connect(site_dir / "data" / "citywall.sqlite3") as db:
        for days in (365, 200, 100):
            db.execute("INSERT INTO audit_log (at, username, action, success) VALUES (?, 'old', 'login', 1)",
                       ((now - timedelta(days=days)).strftime("%Y-%m-%d %H:%M:%S.%f"),))
    refused = shell(site_dir, "audit", "purge", "--days", "30")
    assert refused.returncode == 1 and "at least 180 days" in refused.stderr
    assert len(rows(site_dir, "SELECT id FROM audit_log WHERE username = 'old'")) == 3
    done = shell(site_dir, "audit", "purge")
    assert done.returncode == 0 and "2 audit rows older than 180 days deleted" in done.stdout
    assert len(rows(site_dir, "SELECT id FROM audit_log WHERE username = 'old'")) == 1
    ((detail,),) = rows(site_dir, "SELECT detail FROM audit_log WHERE action = 'audit.purge'")
    assert json.loads(detail)["deleted"] == 2
    with sqlite3.connect(site_dir / "data" / "citywall.sqlite3") as db, \
            pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM audit_log WHERE username = 'old'")
