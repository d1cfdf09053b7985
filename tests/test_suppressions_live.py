"""False-alarm memory on the lobby clip (issue 15 item 6): real RTSP camera, the shipped model, the real app.

The lobby's visitors all stand at one spot of the table zone (the tracker's places 7-6 and its neighbour 6-7, a
visit every 20–40 s of the 139 s clip), so "another place" is a second zone, ``counter``, drawn over the same
part of the picture with the same rules (built from test_live_analytics' zone). Both zones raise a case at the
first visit. The operator rejects the table's with "licensed stall" and *remember*, the counter's with the same
reason and without: from then on the visits raise new cases at the counter only, while at the table they are
counted on the suppression (its hits and the metric grow) and raise nothing.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from streams.devserver.rtsp import RtspDevServer
from tests.conftest import SiteStarter, wait_until
from tests.test_live_analytics import ANALYTICS
from tests.test_metrics import scrape, value

pytestmark = pytest.mark.slow

TABLE = ANALYTICS.split("      - id: table\n", 1)[1]
TWO_ZONES = ANALYTICS + "      - id: counter\n" + TABLE  # the same rules and polygon under another zone id


def test_a_remembered_rejection_keeps_the_place_quiet_and_another_place_raises(
        rtsp: RtspDevServer, serve_site: SiteStarter, tmp_path: Path) -> None:
    cameras = f'cameras:\n  - {{id: lobby, name: 大厅, url: "{rtsp.url("person")}", analysis_interval: 2}}\n'
    site = serve_site(cameras, f"server:\n  data_dir: {tmp_path / 'data'}\n", TWO_ZONES)
    site.add_user("op", "operator", grants=("lobby",))
    op, admin = site.client("op", timeout=20), site.client(timeout=20)
    origin = {"Origin": site.origin}

    def cases(zone: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = op.get("/api/cases", params={"camera": "lobby", "limit": 200}).json()["items"]
        return sorted((c for c in items if c["zone"] == zone), key=lambda c: c["id"])

    assert wait_until(lambda: cases("table") and cases("counter"), 120, 1.0), "the first visit raised no cases"
    [table] = cases("table")
    [counter] = cases("counter")
    res = op.post(f"/api/cases/{table['id']}/reject", json={"reason": "licensed_stall", "remember": True},
                  headers=origin)
    assert res.status_code == 200, res.text
    res = op.post(f"/api/cases/{counter['id']}/reject", json={"reason": "licensed_stall"}, headers=origin)
    assert res.status_code == 200, res.text
    [made] = op.get(f"/api/cases/{table['id']}").json()["suppressions"]
    assert (made["zone"], made["place"], made["hits"]) == ("table", table["place"], 0)
    rejected_at = datetime.fromisoformat(res.json()["decided_at"])

    def suppression() -> dict[str, Any]:
        [row] = admin.get("/api/suppressions").json()
        return dict(row)

    def later_at_counter() -> list[dict[str, Any]]:
        return [c for c in cases("counter") if datetime.fromisoformat(c["raised_at"]) > rejected_at]

    # two more visits (~40–70 s of the clip): counted at the table, raised at the counter
    assert wait_until(lambda: suppression()["hits"] >= 2 and later_at_counter(), 150, 1.0), \
        (suppression(), cases("counter"))
    assert [c["id"] for c in cases("table")] == [table["id"]], "a visit at the remembered place raised a case"
    raised = later_at_counter()
    row = suppression()
    assert row["state"] == "active" and row["last_hit_at"] is not None
    assert (value(scrape(site), "citywall_candidates_suppressed_total", camera="lobby", code="0501") or 0) >= 2
    # the same place of the counter's new case shows no suppression: it is another zone's
    assert op.get(f"/api/cases/{raised[0]['id']}").json()["suppressions"] == []
