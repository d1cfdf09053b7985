"""``citywall user …``, ``citywall grant|revoke …`` and ``citywall audit purge``: accounts from the command line.

Every command takes ``--config DIR`` (the site's config directory: it names the data directory or the database
URL and the security settings). Changes are audited as ``cli:<login name>`` from ``local``. Exit status: 0 done,
1 refused (no such user, exists, policy…), 2 the configuration or the database cannot be used.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from wall.auth import audit, grants, sessions, throttle, users
from wall.auth.principal import GrantRight, Role
from wall.config import SiteConfig, load_config_or_report
from wall.errors import Conflict, DomainError
from wall.store.accounts import User
from wall.store.db import Database, DatabaseError, open_database

LOCAL = "local"


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"[:80]
    except Exception:  # no login name (a container without a passwd entry)
        return "cli"


def _fail(message: str, code: int = 1) -> int:
    print(f"citywall: {message}", file=sys.stderr)
    return code


def _open(config_dir: Path) -> tuple[SiteConfig, Database] | int:
    site = load_config_or_report(config_dir)
    if site is None:
        return 2
    try:
        db = open_database(site.data_dir, site.server_file.server.database_url)
    except DatabaseError as exc:
        return _fail(str(exc), 2)
    with db.session() as s:  # the groups of cameras.yaml, as `serve` makes them: grantable before the first start
        grants.seed_groups(s, [(c.id, c.group) for c in site.cameras])
    return site, db


def _refused(db: Database, actor: str, action: str, target: str, exc: DomainError, **detail: str) -> None:
    """Every refused change is audited too, with the reason (in its own transaction)."""
    with db.session() as s:
        audit.record(s, user=actor, action=action, target=target[:200], success=False, address=LOCAL,
                     detail={**detail, "reason": exc.message})


def read_password(args: argparse.Namespace, name: str) -> str | None:
    """From stdin (one line) with --password-stdin, else asked twice without echo. None: they differ."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"New password for {name}: ")
    second = getpass.getpass("Again: ")
    return first if first == second else None


def _with_db(config_dir: Path, work: Callable[[SiteConfig, Database], int]) -> int:
    opened = _open(config_dir)
    if isinstance(opened, int):
        return opened
    site, db = opened
    try:
        return work(site, db)
    except DomainError as exc:
        for problem in exc.problems:
            print(f"citywall: {problem}", file=sys.stderr)
        return 1
    finally:
        db.dispose()


def user_command(args: argparse.Namespace) -> int:
    actor = _actor()

    def add(site: SiteConfig, db: Database) -> int:
        target = f"user:{args.name}"
        try:
            grants.check_user_name(args.name)
            with db.session() as s:  # before asking for a password that would not be used
                if s.scalar(select(User.id).where(User.name == args.name)) is not None:
                    raise Conflict(f"user '{args.name}' exists")
            password = read_password(args, args.name)
            if password is None:
                return _fail("the two passwords differ; nothing was changed")
            with db.session() as s:
                users.create_user(s, args.name, args.role, password, site.server_file.security)
                audit.record(s, user=actor, action="user.create", target=target, success=True, address=LOCAL,
                             detail={"role": args.role})
        except DomainError as exc:
            _refused(db, actor, "user.create", target, exc)
            raise
        print(f"citywall: user {args.name} ({args.role}) created")
        return 0

    def list_(site: SiteConfig, db: Database) -> int:
        with db.session() as s:
            rows = []
            for user in s.scalars(select(User).order_by(User.name)):
                locked_out = throttle.account_locked_until(s, user.name)
                rows.append({"name": user.name, "role": user.role, "state": users.user_state(user),
                             "locked_out_until": locked_out.isoformat() if locked_out else None,
                             "sessions": len(sessions.active(s, user.id, site.server_file.security)),
                             "password_changed_at": user.password_changed_at.isoformat()})
        if args.json:
            print(json.dumps(rows, ensure_ascii=False))
            return 0
        if not rows:
            print("citywall: no users yet; make the first admin with: citywall user add NAME --role admin "
                  f"--config {args.config}")
            return 0
        print(f"{'NAME':<24} {'ROLE':<9} {'STATE':<9} {'SESSIONS':>8}  LOCKED OUT UNTIL")
        for r in rows:
            print(f"{r['name']:<24} {r['role']:<9} {r['state']:<9} {r['sessions']:>8}  {r['locked_out_until'] or '-'}")
        return 0

    def change(action: str) -> Callable[[SiteConfig, Database], int]:
        def run(site: SiteConfig, db: Database) -> int:
            password = None
            target = f"user:{args.name}"
            try:
                if action == "user.password":
                    with db.session() as s:
                        users.find_user(s, args.name)
                    password = read_password(args, args.name)
                    if password is None:
                        return _fail("the two passwords differ; nothing was changed")
                with db.session() as s:
                    user = users.find_user(s, args.name)
                    detail: dict[str, object] = {}
                    if action == "user.lock":
                        detail["sessions_ended"] = users.lock(s, user)
                    elif action == "user.unlock":
                        users.unlock(s, user)
                    else:
                        assert password is not None
                        detail["sessions_ended"] = users.set_password(s, user, password, site.server_file.security)
                    audit.record(s, user=actor, action=action, target=target, success=True, address=LOCAL,
                                 detail=detail or None)
            except DomainError as exc:
                _refused(db, actor, action, target, exc)
                raise
            done = {"user.lock": "locked", "user.unlock": "unlocked", "user.password": "has a new password"}[action]
            print(f"citywall: user {args.name} {done}")
            return 0

        return run

    work = {"add": add, "list": list_, "lock": change("user.lock"), "unlock": change("user.unlock"),
            "passwd": change("user.password")}[args.user_command]
    return _with_db(args.config, work)


def grant_command(args: argparse.Namespace, revoke: bool) -> int:
    actor = _actor()
    action = "grant.delete" if revoke else "grant.create"

    def run(site: SiteConfig, db: Database) -> int:
        configured = [c.id for c in site.cameras]
        try:
            subject, target = grants.Subject.parse(args.subject), grants.Target.parse(args.target)
            right = grants.parse_right(args.right)
            with db.session() as s:
                if revoke:
                    grant = grants.find_grant(s, subject, target, right)
                    grant_id = grant.id if grant else None
                    grants.remove_grant(s, grant, subject, target, right)
                else:
                    grant_id = grants.add_grant(s, subject, target, configured, by=actor, right=right).id
                audit.record(s, user=actor, action=action, target=str(target), success=True, address=LOCAL,
                             detail={"subject": str(subject), "grant": grant_id, "right": right.value})
        except DomainError as exc:
            _refused(db, actor, action, args.target, exc, subject=args.subject)
            raise
        shown = "" if right is GrantRight.VIEW else f" ({right.value})"
        print(f"citywall: {target}{shown} {'revoked from' if revoke else 'granted to'} {subject}")
        return 0

    return _with_db(args.config, run)


def audit_command(args: argparse.Namespace) -> int:
    def purge(site: SiteConfig, db: Database) -> int:
        days = args.days if args.days is not None else site.server_file.security.audit_retention_days
        if days < audit.MIN_RETENTION_DAYS:
            return _fail(f"audit rows are kept at least {audit.MIN_RETENTION_DAYS} days; nothing was deleted")
        with db.session() as s:
            deleted = audit.purge(s, days, user=_actor(), address=LOCAL)
        print(f"citywall: {deleted} audit rows older than {days} days deleted")
        return 0

    return _with_db(args.config, purge)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The account commands, for ``wall.cli.main``."""
    config_help = "the site's config directory (finds the data directory and the security settings)"

    u = sub.add_parser("user", help="add, list, lock, unlock users and set passwords")
    user_sub = u.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="create a user (the first admin: --role admin)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=list(Role))
    passwd = user_sub.add_parser("passwd", help="set a user's password (their sessions end)")
    passwd.add_argument("name")
    for p in (add, passwd):
        p.add_argument("--password-stdin", action="store_true", help="read the password from stdin (one line)")
    lst = user_sub.add_parser("list", help="list users")
    lst.add_argument("--json", action="store_true")
    for verb, text in (("lock", "lock an account (its sessions end)"),
                       ("unlock", "unlock an account (also after failed logins)")):
        user_sub.add_parser(verb, help=text).add_argument("name")
    for p in (add, passwd, lst, *(user_sub.choices[v] for v in ("lock", "unlock"))):
        p.add_argument("--config", type=Path, required=True, help=config_help)

    for verb, text in (("grant", "let a user or a role view (play back, steer) a camera or a group"),
                       ("revoke", "take a grant back (open live views close within a second)")):
        g = sub.add_parser(verb, help=text)
        g.add_argument("subject", help="a user name, or role:NAME")
        g.add_argument("target", help="a camera id, or group:NAME")
        g.add_argument("--right", default="view", help="view (the default), playback or ptz")
        g.add_argument("--config", type=Path, required=True, help=config_help)

    a = sub.add_parser("audit", help="audit log maintenance")
    audit_sub = a.add_subparsers(dest="audit_command", required=True)
    purge = audit_sub.add_parser("purge", help="delete audit rows older than the retention (at least 180 days)")
    purge.add_argument("--days", type=int, help="retention in days (default: security.audit_retention_days)")
    purge.add_argument("--config", type=Path, required=True, help=config_help)


def run(args: argparse.Namespace) -> int | None:
    """Run an account command; None when ``args`` is not one."""
    if not getattr(args, "verbose", False):
        logging.getLogger("alembic").setLevel(logging.WARNING)  # "Context impl SQLiteImpl." is not for admins
    if args.command == "user":
        return user_command(args)
    if args.command in ("grant", "revoke"):
        return grant_command(args, revoke=args.command == "revoke")
    if args.command == "audit":
        return audit_command(args)
    return None
