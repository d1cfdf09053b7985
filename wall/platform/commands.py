"""``citywall platform token create|rotate|revoke|list``: the platform's service accounts from the shell.

A token is printed once, on stdout alone (so ``citywall platform token rotate city > token`` captures it),
and stored only as its SHA-256. Every change is audited as ``cli:<login name>`` from ``local`` like the account
commands (wall/auth/commands.py). Exit status: 0 done, 1 refused, 2 the configuration or database unusable.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from wall.auth import audit
from wall.auth.commands import LOCAL, _actor, _refused, _with_db
from wall.config import SiteConfig
from wall.errors import DomainError
from wall.platform import accounts
from wall.platform.models import Scope
from wall.store.db import Database


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("platform", help="the city case platform's service accounts (tokens of the platform API)")
    platform_sub = p.add_subparsers(dest="platform_command", required=True)
    t = platform_sub.add_parser("token", help="create, rotate, revoke or list service accounts")
    token_sub = t.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser("create", help="a new service account; prints its token once")
    create.add_argument("name")
    create.add_argument("--scope", action="append", choices=list(Scope), default=[],
                        help="what it may call (repeat; default: all): cases = dispatched/handled/closed/"
                             "reopened, verify = video checks")
    rotate = token_sub.add_parser("rotate", help="a new token for the account (the old one stops at once)")
    rotate.add_argument("name")
    revoke = token_sub.add_parser("revoke", help="disable the account (rotate enables it with a new token)")
    revoke.add_argument("name")
    lst = token_sub.add_parser("list", help="the service accounts (never their tokens)")
    lst.add_argument("--json", action="store_true")
    for q in (create, rotate, revoke, lst):
        q.add_argument("--config", type=Path, required=True, help="the site's config directory")


def run(args: argparse.Namespace) -> int | None:
    """Run a platform command; None when ``args`` is not one."""
    if args.command != "platform":
        return None
    actor, verb = _actor(), args.token_command

    def work(site: SiteConfig, db: Database) -> int:
        if verb == "list":
            with db.session() as s:
                rows = accounts.listed(s)
            if args.json:
                print(json.dumps([r.model_dump(mode="json") for r in rows]))
            for r in [] if args.json else rows:
                print(f"{r.name:<24} {','.join(r.scopes):<14} {'revoked' if r.disabled else 'active':<8} "
                      f"rotated {r.rotated_at:%Y-%m-%d %H:%M} UTC, last used "
                      f"{r.last_used_at.strftime('%Y-%m-%d %H:%M') + ' UTC' if r.last_used_at else 'never'}")
            return 0
        target, action = f"service:{args.name}", f"platform.token.{verb}"
        try:
            with db.session() as s:
                token = None
                if verb == "create":
                    token = accounts.create(s, args.name, accounts.parse_scopes(args.scope))
                elif verb == "rotate":
                    token = accounts.rotate(s, args.name)
                else:
                    accounts.revoke(s, args.name)
                audit.record(s, user=actor, action=action, target=target, success=True, address=LOCAL,
                             detail={"scopes": args.scope} if verb == "create" else None)
        except DomainError as exc:
            _refused(db, actor, action, target, exc)
            raise
        if token is not None:
            print(token)
            print(f"citywall: the token of '{args.name}' is shown once; give it to the platform "
                  "(Authorization: Bearer …)", file=sys.stderr)
        else:
            print(f"citywall: service account '{args.name}' revoked", file=sys.stderr)
        return 0

    return _with_db(args.config, work)
