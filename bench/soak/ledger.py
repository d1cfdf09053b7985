"""The soak's case check: every event the analytics opened became exactly one case, and every decision stayed.

An event that opens where an open case of the same camera, zone and place already is does not raise a second
case: the desk records it on that case's history (``seen_again`` with the event's id). So each opened event must
be found exactly once, as the event a case was raised for (its ``raised`` entry: the case's ``event_id`` follows
the newest event at its place since 2026-12-03, so it is not the first one's) or as one ``seen_again`` entry —
found nowhere is a lost case, found twice a duplicate. The events come from the app's own log (``event opened
<id>``, one line per event) and from ``/api/events`` polled during the run; the cases from the desk's API with
their histories; the decisions from what the scripted operator was answered, checked against the cases'
statuses and the audit log.

A second ``seen_again`` entry of the same event on one case (the desk wrote one when that event's clip arrived,
until the case began to follow its newest event) is counted apart (``repeated_entries``), as history noise on
the one case, not as a second case.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import httpx
from pydantic import TypeAdapter

from wall.api.audit_routes import AuditPage
from wall.api.events import EventOut
from wall.cases.models import CaseDetail, CasePage

EVENTS = TypeAdapter(list[EventOut])


@dataclass
class CaseAccount:
    events: int = 0  # events the analytics opened
    cases: int = 0  # cases the analytics raised (source ai)
    seen_again: int = 0  # events recorded on an open case at their place
    repeated_entries: int = 0  # seen_again history entries beyond the first of their event on that case
    lost: list[str] = field(default_factory=list)  # events found on no case
    duplicated: list[str] = field(default_factory=list)  # events found more than once, or two cases of one event
    unexplained: list[int] = field(default_factory=list)  # cases whose event the log never showed
    decided: int = 0
    changed: list[str] = field(default_factory=list)  # decisions whose case is in another state now
    audit_mismatch: list[str] = field(default_factory=list)  # decisions without exactly one audit record

    @property
    def ok(self) -> bool:
        return self.events > 0 and not (self.lost or self.duplicated or self.unexplained or self.changed
                                        or self.audit_mismatch)


def polled_events(client: httpx.Client) -> set[str]:
    """Ids of the events ``/api/events`` shows now (the runtime keeps the latest 500 changes)."""
    answer = client.get("/api/events", params={"limit": 500})
    return {e.event_id for e in EVENTS.validate_json(answer.raise_for_status().content)}


def all_cases(client: httpx.Client) -> list[CaseDetail]:
    summaries, offset = [], 0
    while True:
        page = CasePage.model_validate_json(
            client.get("/api/cases", params={"limit": 200, "offset": offset}).raise_for_status().content)
        summaries += page.items
        offset += len(page.items)
        if not page.items or offset >= page.total:
            break
    return [CaseDetail.model_validate_json(client.get(f"/api/cases/{c.id}").raise_for_status().content)
            for c in summaries]


def audited(client: httpx.Client, action: str) -> Counter[str]:
    """How often each target has a successful ``action`` in the audit log."""
    counts: Counter[str] = Counter()
    offset = 0
    while True:
        page = AuditPage.model_validate_json(client.get(
            "/api/audit", params={"action": action, "success": "true", "limit": 1000, "offset": offset},
        ).raise_for_status().content)
        counts.update(item.target or "" for item in page.items)
        offset += len(page.items)
        if not page.items or offset >= page.total:
            return counts


def account(client: httpx.Client, opened: set[str], decisions: dict[int, str]) -> CaseAccount:
    """Check the desk (``client``: an admin's session) against the events opened and the operator's decisions."""
    cases = [c for c in all_cases(client) if c.source == "ai"]
    own: Counter[str] = Counter()  # event id → the cases raised for it
    homes: dict[str, set[int]] = {}  # event id → the cases it is found on (raised for it, or seen again on)
    entries = 0
    for case in cases:
        for step in case.events:
            if step.action in ("raised", "seen_again"):
                event_id = str(step.detail.get("event_id"))
                homes.setdefault(event_id, set()).add(case.id)
                if step.action == "raised":
                    own[event_id] += 1
                else:
                    entries += 1
    pairs = sum(len(ids) for e, ids in homes.items() if own[e] == 0)
    result = CaseAccount(events=len(opened), cases=len(cases), seen_again=pairs, repeated_entries=entries - pairs)
    result.lost = sorted(e for e in opened if e not in homes)
    result.duplicated = sorted(e for e, ids in homes.items() if len(ids) > 1 or own[e] > 1)
    result.unexplained = sorted(c.id for c in cases if not any(
        step.action == "raised" and str(step.detail.get("event_id")) in opened for step in c.events))
    by_id = {c.id: c for c in cases}
    confirms, rejects = audited(client, "case_confirm"), audited(client, "case_reject")
    for case_id, status in sorted(decisions.items()):
        result.decided += 1
        found_case = by_id.get(case_id)
        now = found_case.status if found_case is not None else "missing"
        if now != status:
            result.changed.append(f"case {case_id}: decided {status}, now {now}")
        target = f"case:{case_id}"
        want = (1, 0) if status == "confirmed" else (0, 1)
        if (confirms[target], rejects[target]) != want:
            result.audit_mismatch.append(f"{target}: {confirms[target]} confirm / {rejects[target]} reject audited")
    for target in set(confirms) | set(rejects):
        if target.startswith("case:") and int(target[5:]) not in decisions:
            result.audit_mismatch.append(f"{target}: audited, but the operator never decided it")
    return result
