"""Looking is audited (issue 16, finding 7): opening a case, its evidence files and a camera's ``snapshot.jpg``
leaves an audit row — before, none of them did. One row per user and thing per interval (5 minutes), so the
wall's once-a-second stills fallback does not bury the log; a refused look (no grant) leaves none, since the
404 says nothing happened. The thinning itself is tested on its own clock.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import SiteStarter
from tests.test_access import audit_rows
from tests.test_case_api import CAMERAS, raise_case, server_yaml
from wall.view_audit import ViewAudit


def test_one_row_per_user_and_thing_per_interval() -> None:
    now = [1000.0]
    audit = ViewAudit(interval=300, clock=lambda: now[0], max_keys=3)
    assert audit.due("op", "case.view", "case:1")
    assert not audit.due("op", "case.view", "case:1")
    assert audit.due("op", "case.view", "case:2") and audit.due("lee", "case.view", "case:1")
    now[0] += 299
    assert not audit.due("op", "case.view", "case:1")
    now[0] += 2
    assert audit.due("op", "case.view", "case:1"), "a user who keeps looking leaves a row every interval"
    for n in range(3, 8):  # bounded memory: the oldest entries go first, so a look is audited again, never lost
        audit.due("op", "case.view", f"case:{n}")
    assert audit.due("op", "case.view", "case:1"), "seen 0 s ago, but forgotten: audited again"
    assert not audit.due("op", "case.view", "case:7")


def test_opening_cases_and_evidence_is_audited_once_per_while(serve_site: SiteStarter, tmp_path: Path) -> None:
    site = serve_site(CAMERAS, server_yaml(tmp_path))
    site.add_user("op", "operator", grants=("group:renmin",))
    mine, other = raise_case(site, "cam-b"), raise_case(site, "cam-a")
    op = site.client("op")
    for _ in range(3):  # the desk re-reads the case it shows
        detail = op.get(f"/api/cases/{mine}")
        assert detail.status_code == 200
    evidence = detail.json()["evidence"]
    assert evidence
    for _ in range(3):
        assert op.get(evidence[0]["url"]).status_code == 200
    assert op.get(f"/api/cases/{other}").status_code == 404  # not granted: refused, like a missing case

    views = audit_rows(site, user="op", action="case.view")
    assert [(r["target"], r["detail"]["camera"]) for r in views] == [(f"case:{mine}", "cam-b")]
    opened = audit_rows(site, user="op", action="evidence.view")
    assert len(opened) == 1 and opened[0]["detail"]["camera"] == "cam-b"
    assert opened[0]["target"].startswith("evidence:") and opened[0]["address"] == "127.0.0.1"
