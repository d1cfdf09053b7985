"""CaseDesk and Outbox on a real SQLite file: raise, dedupe, decide, deliver, verify — and survive kill -9."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.case_helpers import CAMERAS, Receiver, event_change
from tests.conftest import wait_until
from vision.catalogue import load_catalogue
from wall.cases.desk import CaseDesk
from wall.cases.models import CaseNotice
from wall.cases.outbox import Outbox
from wall.errors import Conflict, NotFound, Unprocessable
from wall.hall_settings import DEFAULT_REJECT_REASONS
from wall.store.cases import Case, CaseEvent, Evidence, Label, OutboxMessage
from wall.store.db import open_database

SECRET = "test-webhook-secret"


@pytest.fixture
def desk(tmp_path: Path) -> CaseDesk:
    db = open_database(tmp_path / "data")
    return CaseDesk(db, CAMERAS, load_catalogue(), tmp_path / "evidence", reject_reasons=list(DEFAULT_REJECT_REASONS))


def test_raise_commits_before_telling_and_inherits_the_camera_place(desk: CaseDesk, tmp_path: Path) -> None:
    seen_in_db: list[bool] = []

    def listener(notice: CaseNotice) -> None:
        with desk.db.session() as s:  # a fresh unit of work: the case must already be committed
            seen_in_db.append(s.get(Case, notice.case.id) is not None)

    desk.listeners.append(listener)
    change = event_change(tmp_path / "evidence")
    case_id = desk.on_event(change)
    assert seen_in_db == [True]
    record = desk.get(case_id)
    assert record.camera == "cam-a"
    assert record.status == "pending_review" and record.source == "ai"
    assert record.grid_code == "34010200100101" and record.street == "解放路街道"
    assert record.address == "解放路 18 号" and record.lon == 117.28
    assert record.code == "0501" and record.catalogue_version == "test-1"
    assert [e.action for e in record.events] == ["raised"]
    assert record.evidence[0].kind == "snapshot"
    assert record.evidence[0].url == "/api/evidence/" + Path(change.evidence["snapshot"]).name


def test_one_case_per_place_and_problem(desk: CaseDesk, tmp_path: Path) -> None:
    first = desk.on_event(event_change(tmp_path / "evidence", place="3-4"))
    again = desk.on_event(event_change(tmp_path / "evidence", place="3-4"))  # new vision event, same place
    other = desk.on_event(event_change(tmp_path / "evidence", place="9-1"))
    assert first == again != other
    record = desk.get(first)
    assert [e.action for e in record.events] == ["raised", "seen_again"]
    assert len(record.evidence) == 2
    total, _ = desk.list(None)
    assert total == 2


def test_a_case_follows_the_newest_event_at_its_place(desk: CaseDesk, tmp_path: Path) -> None:
    """After a restart the analyzer opens a new event where a case is open: its opened, sent again when its clip
    is cut, is one seen_again, not two (the soak counted 163 doubles), and its clear reaches the case."""
    evidence = tmp_path / "evidence"
    case_id = desk.on_event(event_change(evidence, event_id="first"))
    assert desk.on_event(event_change(evidence, event_id="after-restart")) == case_id
    assert desk.on_event(event_change(evidence, event_id="after-restart")) == case_id  # again, with its clip
    assert desk.on_event(event_change(evidence, kind="cleared", event_id="after-restart")) == case_id
    record = desk.get(case_id)
    assert [(e.action, e.detail.get("event_id")) for e in record.events] == [
        ("raised", "first"), ("seen_again", "after-restart"), ("gone_from_video", None)]
    assert record.event_id == "after-restart"


def test_decisions_transitions_labels_and_history(desk: CaseDesk, tmp_path: Path) -> None:
    a = desk.on_event(event_change(tmp_path / "evidence", place="1-1"))
    b = desk.on_event(event_change(tmp_path / "evidence", place="2-2"))
    c = desk.on_event(event_change(tmp_path / "evidence", place="5-5"))
    confirmed = desk.confirm(a, "op1", code="0504", note="店外经营", address="解放路 20 号")
    assert confirmed.status == "confirmed" and confirmed.code == "0504" and confirmed.code_name == "店外经营"
    with pytest.raises(Conflict):
        desk.reject(a, "op1", reason="false_detection")
    with pytest.raises(Unprocessable):
        desk.reject(b, "op1", reason="no such reason")
    assert desk.reject(b, "op1", reason="licensed_stall", text="早餐车").status == "rejected"
    merged = desk.merge(c, a, "op2")
    assert merged.status == "closed" and merged.merged_into == a
    with pytest.raises(NotFound):
        desk.confirm(999, "op1")
    with desk.db.session() as s:
        labels = {(lbl.case_id, lbl.decision, lbl.reason) for lbl in s.scalars(select(Label))}
        assert labels == {(a, "confirmed", None), (b, "rejected", "licensed_stall")}
        outbox = list(s.scalars(select(OutboxMessage)))
        assert [(m.case_id, m.idempotency_key, m.status) for m in outbox] == [(a, f"citywall-case-{a}", "pending")]
        assert outbox[0].payload["major_code"] == "05" and outbox[0].payload["minor_code"] == "04"
    history = desk.get(a)
    assert [(e.action, e.before, e.after, e.actor) for e in history.events] == [
        ("raised", None, "pending_review", "vision"), ("confirm", "pending_review", "confirmed", "op1"),
        ("merged_from", "confirmed", "confirmed", "op2")]
    total, rows = desk.list({"cam-a"}, status="confirmed")
    assert total == 1 and rows[0].id == a
    assert desk.list({"cam-b"})[0] == 0  # another camera's cases are not listed
    assert desk.list(None, text="店外")[0] == 1


def test_case_history_is_append_only(desk: CaseDesk, tmp_path: Path) -> None:
    desk.on_event(event_change(tmp_path / "evidence"))
    path = desk.db.engine.url.database
    conn = sqlite3.connect(path)
    for sql in ("UPDATE case_events SET actor = 'mallory'", "DELETE FROM case_events"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute(sql)
    conn.close()


def test_outbox_signs_retries_and_applies_the_platform_reply(desk: CaseDesk, tmp_path: Path) -> None:
    receiver = Receiver(fail_first=2, reply={"dispatched": True, "department": "城管执法中队", "ref": "SZ-1"})
    outbox = Outbox(desk.db, desk, url=receiver.url, secret=SECRET, evidence_dir=tmp_path / "evidence",
                    public_base_url="https://wall.example", backoff_initial=0.05, backoff_max=0.2)
    try:
        case_id = desk.on_event(event_change(tmp_path / "evidence"))
        desk.confirm(case_id, "op1")
        outbox.start()
        assert wait_until(lambda: desk.get(case_id).status == "dispatched", 20)
    finally:
        outbox.stop()
        receiver.close()
    assert len(receiver.posts) == 3  # two 503s, then delivered
    assert set(receiver.keys()) == {f"citywall-case-{case_id}"}  # the same key on every attempt
    headers, body = receiver.posts[-1]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Citywall-Signature"] == expected
    document = json.loads(body)
    assert document["source"] == "视频智能发现" and document["code"] == "0501" and document["grid_code"]
    assert document["evidence"][0]["url"].startswith("https://wall.example/api/platform/evidence/")  # signed
    record = desk.get(case_id)
    assert record.department == "城管执法中队"
    assert [e.actor for e in record.events][-1] == "platform"


def test_outbox_dead_letters_after_max_attempts_and_admin_retry(desk: CaseDesk, tmp_path: Path) -> None:
    receiver = Receiver(status=500)
    outbox = Outbox(desk.db, desk, url=receiver.url, secret=SECRET, evidence_dir=tmp_path / "evidence",
                    max_attempts=3, backoff_initial=0.01, backoff_max=0.02, evidence_mode="base64")
    try:
        case_id = desk.on_event(event_change(tmp_path / "evidence"))
        desk.confirm(case_id, "op1")
        outbox.start()
        assert wait_until(lambda: outbox.list("dead"), 20)
        dead = outbox.list("dead")[0]
        assert dead.attempts == 3 and "HTTP 500" in (dead.last_error or "")
        assert "data" in json.loads(receiver.posts[0][1])["evidence"][0]  # base64 evidence mode
        receiver.status = 200
        outbox.retry(dead.id)
        assert wait_until(lambda: outbox.list("sent"), 20)
    finally:
        outbox.stop()
        receiver.close()


def test_clearance_on_video_after_dispatch(desk: CaseDesk, tmp_path: Path) -> None:
    change = event_change(tmp_path / "evidence")
    case_id = desk.on_event(change)
    desk.confirm(case_id, "op1", webhook=False)
    desk.dispatched(case_id, "platform", department="中队", ref=None)
    gone = event_change(tmp_path / "evidence", kind="cleared", event_id=change.event_id)
    desk.on_event(gone)
    record = desk.get(case_id)
    assert record.status == "cleared_on_video" and record.verified_at
    assert {e.kind for e in record.evidence} == {"snapshot", "after_snapshot"}
    assert desk.close(case_id, "op1").status == "closed"


# One interpreter imports the desk and the outbox once, then forks a raising process per run on request: each run
# is still a process of its own that SIGKILL ends mid-commit, mid-delivery or mid-evidence-write, without paying
# ~2 s of CPU for imports twenty times over (most of this test's time on the 2-core machine). The parent opens no
# database and starts no thread, so each child starts from a clean process image.
CRASH_SCRIPT = r"""
import os, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from tests.case_helpers import CAMERAS, event_change
from vision.catalogue import load_catalogue
from wall.cases.desk import CaseDesk
from wall.cases.outbox import Outbox
from wall.hall_settings import DEFAULT_REJECT_REASONS
from wall.store.db import open_database
root = Path(sys.argv[1])


def raise_loop():
    db = open_database(root / "data")
    desk = CaseDesk(db, CAMERAS, load_catalogue(), root / "evidence", reject_reasons=list(DEFAULT_REJECT_REASONS))
    outbox = Outbox(db, desk, url=sys.argv[2], secret="s", evidence_dir=root / "evidence", backoff_initial=0.05,
                    backoff_max=0.1)
    outbox.start()
    n = 0
    while True:
        n += 1
        change = event_change(root / "evidence", place=f"{time.time_ns()}")
        case_id = desk.on_event(change)
        print(f"RAISED {case_id} {change.event_id} {Path(change.evidence['snapshot']).name}", flush=True)
        if n % 3 == 0:
            desk.confirm(case_id, "op")
            outbox.kick()


for line in sys.stdin:  # "run LOG": fork a raising process writing to LOG, answer its pid; "wait PID": reap it
    command, _, arg = line.strip().partition(" ")
    if command == "run":
        pid = os.fork()
        if pid == 0:
            os.dup2(os.open(arg, os.O_WRONLY | os.O_APPEND), 1)
            try:
                raise_loop()
            finally:
                os._exit(1)
        print(pid, flush=True)
    elif command == "wait":
        os.waitpid(int(arg), 0)
        print("reaped", flush=True)
"""


@pytest.mark.slow
def test_kill_9_never_loses_a_raised_case_nor_double_delivers(tmp_path: Path) -> None:
    receiver = Receiver()
    script = tmp_path / "raise_loop.py"
    script.write_text(CRASH_SCRIPT)
    repo = str(Path(__file__).resolve().parents[1])
    raised: list[tuple[int, str, str]] = []
    rng = random.Random(7)
    forks = subprocess.Popen([sys.executable, str(script), str(tmp_path), receiver.url, repo], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert forks.stdin is not None and forks.stdout is not None

    def ask(line: str) -> str:
        assert forks.stdin is not None and forks.stdout is not None
        forks.stdin.write(line + "\n")
        forks.stdin.flush()
        answer = forks.stdout.readline().strip()
        assert answer, f"the forking interpreter ended (status {forks.poll()})"
        return answer

    try:
        for run in range(20):
            log = tmp_path / f"run-{run}.log"
            log.touch()
            pid = int(ask(f"run {log}"))
            # Kill at a random moment once it is raising (mid-commit, mid-delivery, mid-evidence-write …).
            assert wait_until(lambda log=log: "RAISED" in log.read_text(), 60, 0.02)
            time.sleep(rng.uniform(0.0, 0.8))
            os.kill(pid, signal.SIGKILL)
            assert ask(f"wait {pid}") == "reaped"
            for line in log.read_text().splitlines():
                if line.startswith("RAISED ") and len(line.split()) == 4:
                    _, cid, eid, name = line.split()
                    raised.append((int(cid), eid, name))
        # One last clean run lets the outbox finish what the kills interrupted.
        db = open_database(tmp_path / "data")
        desk = CaseDesk(db, CAMERAS, load_catalogue(), tmp_path / "evidence", reject_reasons=["other"])
        outbox = Outbox(db, desk, url=receiver.url, secret="s", evidence_dir=tmp_path / "evidence")
        outbox.deliver_due()
        outbox.stop()
    finally:
        forks.stdin.close()  # its end: the forking interpreter leaves its loop and exits
        try:
            forks.wait(30)
        finally:
            forks.kill()
            receiver.close()
    assert len(raised) >= 20
    with db.session() as s:
        for case_id, event_id, name in raised:
            case = s.get(Case, case_id)
            assert case is not None and case.event_id == event_id, f"case {case_id} lost"
            ev = s.scalar(select(Evidence).where(Evidence.case_id == case_id))
            assert ev is not None and ev.name == name and (tmp_path / "evidence" / name).is_file()
        confirmed = {m.case_id for m in s.scalars(select(OutboxMessage))}
        assert all(s.scalar(select(CaseEvent).where(CaseEvent.case_id == cid, CaseEvent.action == "confirm"))
                   for cid in confirmed)
    # Every delivery of a case carries that case's one key; no case was delivered under two keys.
    by_case: dict[str, set[str]] = {}
    for headers, body in receiver.posts:
        by_case.setdefault(json.loads(body)["id"], set()).add(headers["Idempotency-Key"])
    assert all(len(keys) == 1 for keys in by_case.values())
    assert len(by_case) == len(confirmed)  # every confirmed case reached the platform in the end
