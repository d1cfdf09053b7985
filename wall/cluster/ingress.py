"""Where the workers' event changes enter the control plane: fenced, evidence stored, then told.

A change is accepted only under its camera's current assignment epoch (``wall.cluster.scheduler``): one from a
worker that no longer owns the camera — it was presumed dead and came back, or the camera moved while the
change was on its way — is dropped and counted, never shown, never made a case. An accepted change's evidence
files are written to the site's evidence directory first (content-hash names, checked against the bytes; a file
the disk refuses is named in ``missing_evidence`` instead), and the change then names those files, so the case
desk commits rows about files that exist on *this* disk before anyone is told (commit before tell, as on one
box).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from pathlib import Path

from vision.events import EventChange
from vision.evidence import EvidenceStore, EvidenceUnavailable
from wall.cluster.messages import WorkerEvent
from wall.cluster.scheduler import Scheduler
from wall.runtime.interface import EventListener

log = logging.getLogger(__name__)
RECENT_EVENTS = 500  # as wall.runtime.analytics keeps on one box


class EventIngress:
    def __init__(self, scheduler: Scheduler, evidence_dir: Path) -> None:
        self.scheduler = scheduler
        self.evidence_dir = evidence_dir
        self.evidence_store = EvidenceStore(evidence_dir)
        self.listeners: list[EventListener] = []
        self.accepted = 0
        self.stale = 0
        self._recent: OrderedDict[tuple[str, str, float], EventChange] = OrderedDict()
        self._lock = threading.Lock()

    def accept(self, event: WorkerEvent) -> bool:
        """Take one change from a worker; False when it was fenced off (a stale epoch) or its evidence was
        corrupt."""
        current = self.scheduler.epoch(event.camera_id)
        if current != event.epoch:
            self.stale += 1
            log.warning("event %s of camera %s dropped: epoch %d is not the camera's current %s",
                        event.change.event_id, event.camera_id, event.epoch, current,
                        extra={"camera": event.camera_id})
            return False
        change = event.change
        stored: dict[str, str] = {}
        for file in event.files:
            suffix = Path(file.name).suffix
            if hashlib.sha256(file.data).hexdigest() + suffix != file.name:
                log.error("evidence %s of event %s does not match its name: event dropped", file.name,
                          change.event_id, extra={"camera": event.camera_id})
                return False
            try:
                stored[file.kind] = str(self.evidence_store.put(file.data, suffix))
            except EvidenceUnavailable as exc:  # a full or read-only disk: the case is raised without the file
                change.missing_evidence[file.kind] = exc.reason
                log.error("evidence %s of event %s not written: %s", file.kind, change.event_id, exc.reason,
                          extra={"camera": event.camera_id})
        change.evidence = stored
        self.evidence_store.probe()
        with self._lock:
            self.accepted += 1
            key = (change.event_id, change.kind, change.t)
            self._recent.pop(key, None)  # the same change again, now with its clip: it moves to the end
            self._recent[key] = change
            while len(self._recent) > RECENT_EVENTS:
                self._recent.popitem(last=False)
        log.info("event %s %s camera=%s zone=%s code=%s epoch=%d", change.kind, change.event_id, change.camera_id,
                 change.zone_id, change.code, event.epoch, extra={"camera": change.camera_id})
        for listener in list(self.listeners):
            try:
                listener(change)
            except Exception:
                log.exception("event listener failed")
        return True

    def recent(self) -> list[EventChange]:
        with self._lock:
            return list(self._recent.values())

    def evidence_owner(self, name: str) -> str | None:
        with self._lock:
            for change in reversed(self._recent.values()):
                if any(Path(path).name == name for path in change.evidence.values()):
                    return change.camera_id
        return None
