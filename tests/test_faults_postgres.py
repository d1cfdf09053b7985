"""Fault campaign: PostgreSQL restarted under load (issue 16).

A real PostgreSQL (tests/pg.py), the real app on a socket, a real webhook receiver for the city's platform. While
event changes keep arriving (through the desk's entry point for the runtime, as the analytics call it), an
operator's client reads the queue and confirms cases over HTTP and the outbox delivers, the database is stopped
and started again on the same port. What must hold: while it is down the API answers 503 with Retry-After (never
a 500 with a traceback); it answers again by itself after the restart; every event change offered became exactly
one case (none lost, none doubled); the outbox resumes and the platform receives each key exactly once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tests.case_helpers import Receiver, event_change
from tests.conftest import SiteStarter, wait_until
from tests.pg import PostgresServer, database_url, postgres_instance
from wall.store.cases import Case, OutboxMessage

pytestmark = pytest.mark.slow
DOWN_SECONDS = 4.0


@pytest.fixture
def pg() -> Iterator[PostgresServer]:
    with postgres_instance() as server:
        yield server


class Load:
    """An operator confirming cases over HTTP and the analytics raising new ones, until stopped."""

    def __init__(self, client: httpx.Client, offer, evidence_dir: Path) -> None:
        self.client, self.offer, self.evidence_dir = client, offer, evidence_dir
        self.answers: list[tuple[float, str, int, str]] = []  # (when, what, status, body when 5xx)
        self.offered: list[str] = []
        self.errors: list[BaseException] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._operator, daemon=True),
                        threading.Thread(target=self._analytics, daemon=True)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)

    def _answer(self, what: str, res: httpx.Response) -> httpx.Response:
        body = res.text[:300] if res.status_code >= 500 else ""
        self.answers.append((time.monotonic(), what, res.status_code, body))
        if res.status_code == 503:
            assert res.headers.get("Retry-After"), "503 without Retry-After"
        return res

    def _operator(self) -> None:
        try:
            while not self.stop.is_set():
                try:
                    page = self._answer("list", self.client.get("/api/cases", params={"status": "pending_review",
                                                                                      "limit": 3}))
                except httpx.TransportError as exc:  # the server itself must keep answering
                    self.errors.append(exc)
                    continue
                if page.status_code != 200:
                    time.sleep(0.1)
                    continue
                for item in page.json()["items"][:1]:
                    self._answer("confirm", self.client.post(f"/api/cases/{item['id']}/confirm",
                                                             json={"note": "核实"}))
                time.sleep(0.02)
        except BaseException as exc:
            self.errors.append(exc)

    def _analytics(self) -> None:
        i = 0
        try:
            while not self.stop.is_set():
                change = event_change(self.evidence_dir, camera="gate", place=f"{i}-0")
                self.offer(change)  # never raises for an unavailable database: the backlog keeps it
                self.offered.append(change.event_id)
                i += 1
                time.sleep(0.1)
        except BaseException as exc:
            self.errors.append(exc)


def test_postgres_restart_under_load_loses_no_case_and_the_outbox_resumes(
        pg: PostgresServer, serve_site: SiteStarter, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    receiver = Receiver(delay=0.05)
    cameras = "cameras:\n  - {id: gate, name: 大门, url: 'rtsp://127.0.0.1:9/closed'}\n"
    server = f"""
server:
  data_dir: {tmp_path / 'data'}
  database_url: "{database_url(pg.port)}"
platform:
  webhook_url: {receiver.url}
  secret: webhook-secret
  backoff_initial: 0.5
  backoff_max: 2
"""
    caplog.set_level(logging.WARNING)
    try:
        site = serve_site(cameras, server)
        services = site.app.state.services
        site.add_user("op", "operator", grants=("gate",))
        client = site.client("op", headers={"Origin": site.origin}, timeout=30)
        with Load(client, services.cases.backlog.offer, services.cases.desk.evidence_dir) as load:
            assert wait_until(lambda: len(receiver.posts) >= 5, 30, 0.1), "no deliveries before the restart"
            pg.stop("fast")
            down = time.monotonic()  # the server process is gone
            time.sleep(DOWN_SECONDS)
            back = time.monotonic()
            pg.start()
            up = time.monotonic()
            # The API answers by itself again (fresh connections: pool_pre_ping), the load goes on for a while.
            assert wait_until(lambda: any(t > up and s == 200 for t, _, s, _ in load.answers), 20, 0.1)
            time.sleep(3)
        assert load.errors == []

        statuses = Counter(s for _, _, s, _ in load.answers)
        crashes = [(what, s, body) for _, what, s, body in load.answers if s >= 500 and s != 503]
        assert crashes == [], crashes[:3]
        during = [s for t, _, s, _ in load.answers if down + 0.2 < t < back]
        assert during and set(during) == {503}, Counter(during)
        assert statuses[200] > 20, statuses
        assert not [r for r in caplog.records if r.exc_info and r.name.startswith(("wall", "uvicorn"))], \
            [r.getMessage() for r in caplog.records if r.exc_info][:3]

        # No case lost, none doubled: each offered change is exactly one case (the backlog drained).
        assert wait_until(lambda: services.cases.backlog.waiting == 0, 20, 0.2), services.cases.backlog.waiting
        with site.db.session() as s:
            raised = Counter(s.scalars(select(Case.event_id)))
        assert set(raised) == set(load.offered) and set(raised.values()) == {1}, (len(raised), len(load.offered))

        # Confirm the rest; the outbox delivers every key, each exactly once.
        admin = site.client(headers={"Origin": site.origin})
        while items := admin.get("/api/cases", params={"status": "pending_review", "limit": 100}).json()["items"]:
            for item in items:
                assert admin.post(f"/api/cases/{item['id']}/confirm", json={}).status_code == 200
        with site.db.session() as s:
            confirmed = s.scalar(select(func.count()).select_from(OutboxMessage)) or 0
        assert confirmed == len(load.offered)

        def delivered() -> bool:
            with site.db.session() as s:
                return not s.scalar(select(func.count()).select_from(OutboxMessage)
                                    .where(OutboxMessage.status != "sent"))

        assert wait_until(delivered, 60, 0.2)
        keys = Counter(receiver.keys())
        with site.db.session() as s:
            expected = set(s.scalars(select(OutboxMessage.idempotency_key)))
        assert set(keys) == expected
        assert [k for k, n in keys.items() if n > 1] == []
        health = httpx.get(f"{site.url}/healthz", timeout=10).json()
        assert health["status"] == "ok" and health["cases_waiting"] == 0, health
    finally:
        receiver.close()
