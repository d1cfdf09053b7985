"""Case notices across control-plane replicas: PostgreSQL ``LISTEN/NOTIFY`` beside the in-process ``NoticeHub``.

In cluster mode several control planes may serve one hall behind a load balancer: an operator confirms a case on
one replica while the hall's wall is connected to another. Each replica's desk tells its own hub as on one box
(``wall.case_loop``); this bridge also sends every case notice as a ``NOTIFY`` on the one PostgreSQL, and a
thread of every other replica, listening on its own connection, publishes it into *its* hub, where the usual
per-user grant filter applies.

What travels is only (replica, notice type, case id): a ``NOTIFY`` payload is limited to 8000 bytes, and the
receiving replica reads the case from the database, the one source of truth, which was committed before the
notice was sent (commit before tell holds across replicas too). A notice sent while a replica's listening
connection is down is not seen there — the pages reload the queue when their socket reconnects — so the listener
(``wall.cluster.listen``) reconnects within a second. Nothing here imports Ray: the bridge is started only in
cluster mode.
"""

from __future__ import annotations

import logging
import uuid
from typing import Literal

from pydantic import BaseModel, ValidationError

from wall.cases.desk import CaseDesk
from wall.cases.models import CaseNotice
from wall.cluster.listen import PgListener, conninfo, notify
from wall.notices import NoticeHub
from wall.store.cases import Case
from wall.store.db import Database

log = logging.getLogger(__name__)
CHANNEL = "citywall_case_notices"


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
        self.listener = PgListener(conninfo(db.engine.url), CHANNEL, self._relay)
        desk.listeners.append(self.send)

    def start(self) -> None:
        self.listener.start()

    def stop(self) -> None:
        self.listener.stop()

    def wait_listening(self, timeout: float) -> bool:
        """Whether the listener is connected (for a replica that must not miss the first notices)."""
        return self.listener.wait_listening(timeout)

    def send(self, notice: CaseNotice) -> None:
        """A desk listener: after the commit, tell the other replicas (their listeners read the case)."""
        payload = RelayedNotice(origin=self.origin, type=notice.type, case_id=notice.case.id).model_dump_json()
        with self.db.session() as s:
            notify(s, CHANNEL, payload)

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
