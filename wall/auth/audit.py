"""The audit log (等保 2.0: who did what, when, from where, to what, and whether it worked).

``record`` is the one way to write it, for every module (logins, live views, grants, the case desk). The table is
append-only: triggers made by the migration refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL). The only
delete is ``purge``, the retention clean-up run by ``citywall audit purge``: inside one transaction it records
itself, lifts the delete trigger, deletes rows older than the retention (never less than 180 days) and puts the
trigger back, so no other statement ever sees the table unprotected.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, func, select, text
from sqlalchemy.orm import Session

from wall.store.accounts import AuditEntry, utcnow

MIN_RETENTION_DAYS = 180
_SECRET_KEYS = ("password", "token", "secret", "cookie")
CSV_FIELDS = ("id", "time", "user", "action", "target", "success", "address", "detail")


def record(session: Session, *, user: str | None, action: str, target: str | None, success: bool,
           address: str | None, detail: dict[str, Any] | None = None) -> None:
    """Add one audit row to ``session``'s unit of work: it commits with the change it records (or rolls back
    with it). ``action`` is a dotted verb (``login``, ``grant.create``, ``case.confirm``); ``target`` what it
    was done to (``camera:car``, ``user:alice``, ``case:42``); ``detail`` small JSON, never a secret."""
    if detail:
        bad = [k for k in detail if any(word in k.lower() for word in _SECRET_KEYS)]
        if bad:
            raise ValueError(f"audit detail must not carry secrets: {bad}")
    session.add(AuditEntry(
        at=utcnow(), username=_storable(user), action=action, target=_storable(target[:200] if target else target),
        success=success, address=address,
        detail=_storable(json.dumps(detail, ensure_ascii=False, sort_keys=True)) if detail else None,
    ))


def _storable(text: str | None) -> str | None:
    """``text`` as UTF-8 can carry it: a refusal may quote what a hostile client sent (a JSON key that is a lone
    surrogate, ``"\\ud800"``), which neither SQLite nor PostgreSQL would take — the row, and with it the answer,
    would fail. Such code points are written as their escape instead."""
    if text is None:
        return None
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass(frozen=True)
class AuditFilter:
    user: str | None = None
    action: str | None = None  # exact, or a prefix ending in '.' / '*': "user." matches user.create, user.lock…
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    success: bool | None = None  # only refused (False) or only successful (True) actions

    def apply(self, query: Select[Any]) -> Select[Any]:
        if self.user is not None:
            query = query.where(AuditEntry.username == self.user)
        if self.action is not None:
            if self.action.endswith(("*", ".")):
                prefix = self.action.rstrip("*")
                query = query.where(func.substr(AuditEntry.action, 1, len(prefix)) == prefix)
            else:
                query = query.where(AuditEntry.action == self.action)
        if self.target is not None:
            query = query.where(AuditEntry.target == self.target)
        if self.since is not None:
            query = query.where(AuditEntry.at >= self.since)
        if self.until is not None:
            query = query.where(AuditEntry.at < self.until)
        if self.success is not None:
            query = query.where(AuditEntry.success.is_(self.success))
        return query


def as_dict(entry: AuditEntry) -> dict[str, Any]:
    return {"id": entry.id, "time": entry.at.isoformat(), "user": entry.username, "action": entry.action,
            "target": entry.target, "success": entry.success, "address": entry.address,
            "detail": json.loads(entry.detail) if entry.detail else None}


def query(session: Session, where: AuditFilter, limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
    """(rows matching, one page of them newest first)."""
    total = session.scalar(where.apply(select(func.count()).select_from(AuditEntry))) or 0
    rows = session.scalars(where.apply(select(AuditEntry)).order_by(AuditEntry.id.desc()).limit(limit)
                           .offset(offset))
    return total, [as_dict(r) for r in rows]


def _csv_cell(value: object) -> str:
    text_value = "" if value is None else str(value)
    # A cell starting with = + - @ is a formula to Excel/WPS: an audited user name must not become one.
    return "'" + text_value if text_value[:1] in ("=", "+", "-", "@", "\t", "\r") else text_value


def csv_lines(session: Session, where: AuditFilter) -> Iterator[str]:
    """The matching rows oldest first as CSV (UTF-8 with BOM, so that Excel opens the Chinese right)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_FIELDS)
    yield "\ufeff" + out.getvalue()
    for entry in session.scalars(where.apply(select(AuditEntry)).order_by(AuditEntry.id).execution_options(
            yield_per=500)):
        out.seek(0)
        out.truncate()
        row = as_dict(entry)
        row["detail"] = entry.detail
        writer.writerow([_csv_cell(row[k]) for k in CSV_FIELDS])
        yield out.getvalue()


def purge(session: Session, retention_days: int, *, user: str | None, address: str | None,
          now: datetime | None = None) -> int:
    """Delete audit rows older than ``retention_days`` (at least 180) in the caller's transaction; returns the
    number deleted. The purge is itself audited, in the same transaction."""
    days = max(MIN_RETENTION_DAYS, retention_days)
    cutoff = (now or utcnow()) - timedelta(days=days)
    old = delete(AuditEntry).where(AuditEntry.at < cutoff).execution_options(synchronize_session=False)
    count = session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.at < cutoff)) or 0
    # The audit row first: with Python's sqlite3 a DML statement is what opens the transaction, and the trigger
    # DDL below must run inside it.
    record(session, user=user, action="audit.purge", target="audit_log", success=True, address=address,
           detail={"retention_days": days, "before": cutoff.isoformat(), "deleted": count})
    session.flush()
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        trigger_sql = session.scalar(text(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'audit_log_no_delete'"))
        if trigger_sql is None:
            raise RuntimeError("audit_log has no delete trigger: the database was not made by citywall's migrations")
        session.execute(text("DROP TRIGGER audit_log_no_delete"))
        session.execute(old)
        session.execute(text(trigger_sql))
    elif dialect == "postgresql":
        session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_delete"))
        session.execute(old)
        session.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_delete"))
    else:
        session.execute(old)
    return count
