"""One supervisor per namespace: a PostgreSQL advisory lock decides which control-plane replica leads.

Several control planes may serve one hall (behind a load balancer, all on the one PostgreSQL). Each runs a
``RayRuntime``, but only one may run the supervisor — spawn and kill workers, place cameras, issue epochs, tell
workers what to run and collect their events: two supervisors would each place the cameras and fight. So the
replica that holds ``pg_try_advisory_lock(key of the namespace)`` on a connection of its own leads; the others
follow (they read the workers' reports to answer the API, serve live views from the owners, and collect nothing),
and try for the lock every ``RETRY_SECONDS``.

The lock is a session lock: PostgreSQL releases it the moment the leader's connection ends — the replica
stopped, crashed, or lost its connection — and a follower holds it within ``RETRY_SECONDS``. The leader checks its
connection every ``CHECK_SECONDS`` and counts as leader only while a check succeeded within ``LEASE_SECONDS``;
once deposed it waits ``DEPOSED_SECONDS`` before trying again, so a follower takes over rather than a flapping
leader grabbing the lock back:
a leader whose connection hangs (a network partition) stops supervising by itself, and the server, told to probe
the session with TCP keepalives, ends it (and frees the lock) ``KEEPALIVE`` seconds later. A short overlap is
still possible (the old leader's last pass after the server freed the lock); the epochs fence its events.

Nothing here imports Ray; the lock is tested on its own against a real PostgreSQL.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time

import psycopg

log = logging.getLogger(__name__)
RETRY_SECONDS = 1.0  # a follower tries for the lock this often
CHECK_SECONDS = 1.0  # the leader checks its connection this often
LEASE_SECONDS = 3.0  # without a successful check for this long the leader stops leading
DEPOSED_SECONDS = 3.0  # a leader that lost its connection tries again only after this: a follower goes first
# The server probes the leader's session: idle 5 s, then every 2 s, dead after 2 missed (~9 s in all).
KEEPALIVE = "SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; SET tcp_keepalives_count = 2"
APPLICATION = "citywall-leader"  # the lock connections' application_name starts so (``citywall cluster status``)
DUTIES = {"supervisor": "supervises the workers", "walls": "steps the walls' tours and alarm timeouts"}


def replica_name() -> str:
    """This control plane as ``cluster status`` shows it: host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def application_name(namespace: str, purpose: str, replica: str) -> str:
    """``citywall-leader supervisor NAMESPACE HOST:PID``. PostgreSQL keeps 63 bytes of it: a long name is cut
    to the same replica text for every purpose (the longest one's room), keeping its end — the pid and the
    distinct tail of a pod's name — so status pairs a replica's locks."""
    room = max(63 - len(f"{APPLICATION} {max(DUTIES, key=len)} {namespace} ".encode()), 2)
    shown = replica if len(replica.encode()) <= room else "~" + replica.encode()[-(room - 1):].decode(errors="ignore")
    return f"{APPLICATION} {purpose} {namespace} {shown}"


def lock_key(namespace: str, purpose: str = "supervisor") -> int:
    """The advisory lock's 64-bit key for a namespace (a signed bigint, as PostgreSQL takes it). ``purpose``:
    what the holder does alone — ``supervisor`` (the workers) or ``walls`` (tours and alarm timeouts)."""
    digest = hashlib.sha256(f"citywall-{purpose}:{namespace}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class LeaderLock:
    """Holds, or keeps trying for, the namespace's advisory lock on a dedicated connection (its own thread)."""

    def __init__(self, conninfo: str, namespace: str, purpose: str = "supervisor", replica: str | None = None) -> None:
        """``replica``: how ``cluster status`` names this control plane (default host:pid)."""
        self.conninfo, self.namespace, self.key = conninfo, namespace, lock_key(namespace, purpose)
        self.purpose, self.replica = purpose, replica or replica_name()
        self.elections = 0  # times this replica became leader
        self._held = False
        self._confirmed = 0.0  # when the connection last proved alive while holding the lock (monotonic)
        self._decided = threading.Event()  # the first attempt is over (held or not)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cluster-leader", daemon=True)

    @property
    def leading(self) -> bool:
        return self._held and time.monotonic() - self._confirmed < LEASE_SECONDS

    def start(self) -> None:
        self._thread.start()

    def wait_decided(self, timeout: float) -> bool:
        return self._decided.wait(timeout)

    def stop(self) -> None:
        """Give the lock up (its connection closes): a follower leads within ``RETRY_SECONDS``."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(CHECK_SECONDS + 10)
        self._held = False

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                name = application_name(self.namespace, self.purpose, self.replica)
                with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5, application_name=name) as conn:
                    conn.execute(KEEPALIVE)
                    while not self._stop.is_set():
                        self._attempt(conn)
                        self._decided.set()
                        self._stop.wait(CHECK_SECONDS if self._held else RETRY_SECONDS)
            except psycopg.Error as exc:
                deposed = self._held
                if deposed:
                    why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    log.warning("cluster namespace %r: lost the %s lock (%s): following", self.namespace,
                                self.purpose, why)
                self._held = False
                self._decided.set()
                self._stop.wait(DEPOSED_SECONDS if deposed else RETRY_SECONDS)
        self._held = False

    def _attempt(self, conn: psycopg.Connection[tuple[object, ...]]) -> None:
        if self._held:
            conn.execute("SELECT 1")  # the session, and so the lock, is still there
            self._confirmed = time.monotonic()
            return
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        if row is not None and row[0] is True:
            self._held, self._confirmed = True, time.monotonic()
            self.elections += 1
            log.info("cluster namespace %r: this control plane %s now", self.namespace, DUTIES[self.purpose])
