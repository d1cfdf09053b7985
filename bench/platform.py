"""Platform benchmark: how many messages citywall exchanges with the city's case platform per second, on SQLite
and PostgreSQL — its outbox's posts (case_confirmed, signed, to a platform that answers at once) and the
platform's calls into the platform API (dispatched, then closed, over HTTP with a service token).

Why this exists: a hall's busiest minutes are a burst of confirmations followed by the platform dispatching
them. Each outbox post is claimed, signed, sent and recorded in its own transaction (and on PostgreSQL claimed
with ``FOR UPDATE SKIP LOCKED`` so replicas never send a key twice); each platform call is idempotent on its
request id, audited, and moves the case through the desk in one durable transaction, which also starts (or
stops) a video check. Neither should be what keeps a city's platform waiting.

The real app runs under uvicorn in this process (bench.wall.Site), its cameras offline (no video is needed: a
video check of an offline camera waits for its own time); the platform is a bare HTTP receiver on loopback
answering ``{"ok": true}``. PostgreSQL is a throwaway server of this run's own with ``fsync=on``.

Run from the repository root:  ``python -m bench.platform [--cases 200] [--clients 4] [--no-postgres]
[--json PATH]``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from bench.case_load import offline_cameras, p50_p99_ms, raised_changes
from bench.machine import describe, format_load, load_average, machine_label, rss_mb
from bench.wall import Site

SECRET = "bench-platform-secret"


@dataclass
class Rate:
    database: str
    kind: str  # outbox (confirm → posted) | dispatched | closed (platform API calls)
    messages: int
    per_s: float
    p50_ms: float | None  # per call (the API); None for the outbox (a stream, not calls)
    p99_ms: float | None


@dataclass
class Report:
    machine: dict[str, object]
    load_before: list[float]
    clients: int
    rates: list[Rate] = field(default_factory=list)
    load_after: list[float] = field(default_factory=list)
    rss_mb: float = 0.0


class Platform:
    """The city's platform as far as the outbox can tell: it records each post's arrival and answers at once."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.arrivals.append(time.perf_counter())
                body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def _calls(site: Site, token: str, refs: list[str], call: str, clients: int, body: dict[str, str]) -> list[float]:
    """``call`` for every case, spread over ``clients`` connections; each call's latency."""

    def worker(part: list[str]) -> list[float]:
        out = []
        with httpx.Client(base_url=site.url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
            for ref in part:
                t0 = time.perf_counter()
                res = client.post(f"/api/platform/cases/{ref}/{call}",
                                  json={"request_id": f"bench-{ref}-{call}", **body})
                out.append(time.perf_counter() - t0)
                if res.status_code != 200:
                    raise RuntimeError(f"{call} {ref}: {res.status_code} {res.text[:200]}")
        return out

    with ThreadPoolExecutor(clients) as pool:
        return [t for part in pool.map(worker, [refs[i::clients] for i in range(clients)]) for t in part]


def _rate(database: str, kind: str, latencies: list[float], wall: float) -> Rate:
    return Rate(database, kind, len(latencies), len(latencies) / wall, *p50_p99_ms(latencies))


def run_site(database: str, url: str | None, cases: int, clients: int) -> list[Rate]:
    from wall.platform import accounts
    from wall.platform.models import Scope

    platform = Platform()
    with tempfile.TemporaryDirectory(prefix="citywall-bench-platform-", dir=Path.cwd()) as tmp:
        server = (f"  database_url: '{url}'\n" if url else "") + (
            f"platform:\n  webhook_url: {platform.url}\n  secret: {SECRET}\n  backoff_initial: 0.05\n")
        site = Site(Path(tmp), offline_cameras(), server)
        try:
            services = site.app.state.services
            with services.db.session() as s:
                token = accounts.create(s, "bench", [Scope.CASES, Scope.VERIFY])
            desk = services.cases.desk
            ids = [desk.on_event(change) for change in raised_changes(desk.evidence_dir, cases)]
            refs = [f"citywall-{i}" for i in ids if i is not None]
            t0 = time.perf_counter()
            for case_id in ids:
                assert case_id is not None
                desk.confirm(case_id, "bench")
                services.cases.outbox.kick()
            deadline = time.monotonic() + 300
            while len(platform.arrivals) < len(refs) and time.monotonic() < deadline:
                time.sleep(0.01)
            if len(platform.arrivals) < len(refs):
                raise RuntimeError(f"only {len(platform.arrivals)} of {len(refs)} confirmations reached the platform")
            posted = platform.arrivals[len(refs) - 1] - t0
            out = [Rate(database, "outbox", len(refs), len(refs) / posted, None, None)]
            for call, body in (("dispatched", {"department": "城管执法一中队"}), ("closed", {})):
                t1 = time.perf_counter()
                latencies = _calls(site, token, refs, call, clients, body)
                out.append(_rate(database, call, latencies, time.perf_counter() - t1))
            return out
        finally:
            site.close()
            platform.close()


def run(cases: int, clients: int, postgres: bool) -> Report:
    report = Report(machine=machine_label(), load_before=load_average(), clients=clients)
    report.rates.extend(run_site("sqlite", None, cases, clients))
    if postgres:
        from bench.cluster.infra import Postgres

        pg = Postgres(fsync=True).start()
        try:
            report.rates.extend(run_site("postgresql", pg.database(f"platform_{uuid.uuid4().hex[:6]}"), cases,
                                         clients))
        finally:
            pg.stop()
    report.rss_mb = rss_mb()
    report.load_after = load_average()
    return report


def format_report(r: Report) -> str:
    m = r.machine
    lines = [f"{describe(m)}; load average at the start {format_load(r.load_before)}",
             f"platform messages (outbox: confirm → posted, one sender; API calls: {r.clients} clients over HTTP):"]
    for rate in r.rates:
        times = (f"p50 {rate.p50_ms:7.2f} ms   p99 {rate.p99_ms:7.2f} ms" if rate.p50_ms is not None
                 and rate.p99_ms is not None else "")
        lines.append(f"  {rate.database:<10} {rate.kind:<10} {rate.per_s:8.1f} messages/s   {times}   "
                     f"({rate.messages})")
    lines.append(f"RSS {r.rss_mb:.0f} MiB; load average at the end {format_load(r.load_after)}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.platform", description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200, help="cases confirmed, then dispatched and closed")
    parser.add_argument("--clients", type=int, default=4, help="the platform's concurrent connections")
    parser.add_argument("--no-postgres", dest="postgres", action="store_false")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    report = run(args.cases, args.clients, args.postgres)
    print(format_report(report))
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
