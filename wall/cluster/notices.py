"""Case notices across control-plane replicas: PostgreSQL ``LISTEN/NOTIFY`` beside the in-process ``NoticeHub``.

In cluster mode several control planes may serve one hall behind a load balancer: an operator confirms a case on
one replica while the hall's wall is connected to another. Each replica's desk tells its own hub as on one box
(``wall.cases.service``); this bridge also sends every case notice as a ``NOTIFY`` on the one PostgreSQL, and a
thread of every other replica, listening on its own connection, publishes it into *its* hub, where the usual
per-user grant filter applies.

What travels is only (replica, notice type, case id): a ``NOTIFY`` payload is limited to 8000 bytes, and the
receiving replica reads the case from the database, the one source of truth, which was committed before the
notice was sent (commit before tell holds across replicas too). A notice sent while a replica's listening
connection is down is not seen there — the pages reload the queue when their socket reconnects — so the listener
reconnects within ``RECONNECT_SECONDS``. Nothing here imports Ray: the bridge is started only in cluster mode.
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Literal

import psycopg
from pydantic import BaseModel, ValidationError
from sqlalchemy import text

from wall.cases.desk import CaseDesk
from wall.cases.models import CaseNotice
from wall.notices import NoticeHub
from wall.store.cases import Case
from wall.store.db import Database

log = logging.getLogger(__name__)
CHANNEL = "citywall_case_notices"
RECONNECT_SECONDS = 1.0
WAIT_SECONDS = 0.5  # how often the listener looks up from its connection (to stop)


class RelayedNotice(BaseModel):
    """The payload of one ``NOTIFY``."""

    origin: str
    type: Literal["case_raised", "case_updated", "case_decided"]
    case_id: int


class CaseNoticeBridge:
    def __init__(self, db: Database, desk: CaseDesk, hub: NoticeHub) -> None:
        if db.engine.dialect.name != "postgresql":
            raise ValueError("the notice bridge needs PostgreSQL (LISTEN/NOTIFY)")
        self.db, self.desk, self.hub = db, desk, hub
        self.origin = uuid.uuid4().hex[:12]  # this replica: its own notices are in its hub already
        self.relayed = 0
        self._conninfo = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="case-notices", daemon=True)
        desk.listeners.append(self.send)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(WAIT_SECONDS + 5)

    def wait_listening(self, timeout: float) -> bool:
        """Whether the listener is connected (for a replica that must not miss the first notices)."""
        return self._listening.wait(timeout)

    def send(self, notice: CaseNotice) -> None:
        """A desk listener: after the commit, tell the other replicas (their listeners read the case)."""
        payload = RelayedNotice(origin=self.origin, type=notice.type, case_id=notice.case.id).model_dump_json()
        with self.db.session() as s:
            s.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload})

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    while not self._stop.is_set():
                        for notify in conn.notifies(timeout=WAIT_SECONDS):
                            self._relay(notify.payload)
            except psycopg.Error as exc:
                self._listening.clear()
                log.warning("case notices from other replicas: %s; listening again in %.0f s",
                            str(exc).splitlines()[0] if str(exc) else type(exc).__name__, RECONNECT_SECONDS)
                self._stop.wait(RECONNECT_SECONDS)

    def _relay(self, payload: str) -> None:
        try:
            relayed = RelayedNotice.model_validate_json(payload)
        except ValidationError:
            log.warning("a case notice that is not one of ours on %s: ignored", CHANNEL)
            return
        if relayed.origin == self.origin:
            return
        with self.db.session() as s:
            case = s.get(Case, relayed.case_id)
            summary = self.desk.summary(case) if case is not None else None
        if summary is None:
            return
        self.relayed += 1
        self.hub.publish(CaseNotice(type=relayed.type, case=summary))
