"""The soak's figures: the 10 s samples (CSV and a PNG plot), the faults, and a verdict per criterion.

The plot is drawn with OpenCV (a dependency of citywall) rather than matplotlib, which citywall does not declare:
four stacked panels over the run's minutes (RSS, threads, file descriptors, API p95), faults shaded.
"""

from __future__ import annotations

import csv
import statistics
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import cv2
import numpy as np

from bench.soak.ledger import CaseAccount
from bench.soak.site import ProcStats

RSS_GROWTH_LIMIT = 0.05
# A fault is judged on the medians of the samples in the minute before it and in the minute from ``settle`` after
# the camera is back, counting the threads that are not the request pool's: the server's pool for synchronous
# routes (anyio starts a thread per concurrent request and ends it after 10 s idle) swells for as long as requests
# queue on a loaded machine — the median of a minute did, by 11 threads, in the run of 2026-12-03 — and the server
# names its size on /metrics (citywall_request_threads), read beside /proc at each sample. The floor (lowest
# reading) of each minute is written next to the medians; it is no verdict, because /proc and /metrics are read a
# moment apart and one pool thread started in between dips a single reading (by 16, once, in the run of
# 2026-12-06). A leak of one thread or a few descriptors per fault also shows as a drift from the first fault's
# baseline to the last one's after, which is checked too.
THREAD_SLACK, FD_SLACK = 2, 6


@dataclass
class Sample:
    t_s: float
    rss_mb: float
    threads: int
    fds: int
    api_p50_ms: float
    api_p95_ms: float
    api_n: int
    api_failed: int
    cameras_live: int
    live_viewers: int
    cases: int
    decided: int
    fault: str
    request_threads: int = 0  # the server's pool for synchronous routes (its /metrics), part of ``threads``

    @property
    def own_threads(self) -> int:
        """Threads that are not the request pool's: those a fault could leave behind."""
        return self.threads - max(0, self.request_threads)


@dataclass
class Fault:
    camera: str
    kind: str  # kill (SIGKILL), stop (SIGTERM) or freeze (SIGSTOP: connected, silent)
    start_s: float
    back_s: float = 0.0
    live_again_s: float | None = None  # when the app showed the camera live again
    before: ProcStats | None = None  # medians of the judged minutes (see THREAD_SLACK)
    after: ProcStats | None = None
    before_floor: ProcStats | None = None
    after_floor: ProcStats | None = None

    def deltas(self) -> tuple[int, int]:
        assert self.before is not None and self.after is not None
        return self.after.threads - self.before.threads, self.after.fds - self.before.fds


@dataclass
class Verdict:
    name: str
    passed: bool
    detail: str


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def rss_verdict(samples: list[Sample], warm_s: float) -> Verdict:
    after = [s for s in samples if s.t_s >= warm_s]
    if len(after) < 12:
        return Verdict("RSS growth", False, f"not judged: fewer than 2 minutes of samples after the first "
                                           f"{warm_s / 60:g} minutes")
    base = statistics.median(s.rss_mb for s in after[:6])
    end = statistics.median(s.rss_mb for s in after[-6:])
    growth = (end - base) / base
    peak = max(s.rss_mb for s in after)
    return Verdict("RSS growth", growth < RSS_GROWTH_LIMIT,
                   f"{base:.0f} MiB at {after[0].t_s / 60:.1f} min -> {end:.0f} MiB at the end: {growth * 100:+.1f} % "
                   f"(limit {RSS_GROWTH_LIMIT * 100:.0f} %; peak {peak:.0f} MiB)")


def window(samples: list[Sample], start: float, end: float) -> ProcStats | None:
    """Median RSS, threads and fds of the samples taken in [start, end)."""
    inside = [s for s in samples if start <= s.t_s < end]
    if not inside:
        return None
    return ProcStats(statistics.median(s.rss_mb for s in inside),
                     round(statistics.median(s.own_threads for s in inside)),
                     round(statistics.median(s.fds for s in inside)))


def floor(samples: list[Sample], start: float, end: float) -> ProcStats | None:
    """Lowest RSS, threads and fds of the samples taken in [start, end): what stays, whatever the load adds."""
    inside = [s for s in samples if start <= s.t_s < end]
    if not inside:
        return None
    return ProcStats(min(s.rss_mb for s in inside), min(s.own_threads for s in inside), min(s.fds for s in inside))


def judge_faults(faults: list[Fault], samples: list[Sample], settle_s: float, judged_s: float) -> None:
    for f in faults:
        before = (f.start_s - judged_s, f.start_s)
        after = (f.back_s + settle_s, f.back_s + settle_s + judged_s)
        f.before, f.after = window(samples, *before), window(samples, *after)
        f.before_floor, f.after_floor = floor(samples, *before), floor(samples, *after)


def fault_verdict(faults: list[Fault]) -> Verdict:
    judged = [f for f in faults if f.before is not None and f.after is not None]
    if not judged:
        return Verdict("threads and fds after faults", False, "no fault was injected and measured")
    bad = [f for f in judged if f.deltas()[0] > THREAD_SLACK or f.deltas()[1] > FD_SLACK]
    first, last = judged[0].before, judged[-1].after
    assert first is not None and last is not None
    drift = (last.threads - first.threads, last.fds - first.fds)
    drifted = drift[0] > THREAD_SLACK or drift[1] > FD_SLACK
    worst = (max(f.deltas()[0] for f in judged), max(f.deltas()[1] for f in judged))
    not_back = sum(1 for f in faults if f.live_again_s is None)
    return Verdict("threads and fds after faults", not bad and not drifted and not not_back,
                   f"{len(judged)} faults; median of the minute after - the minute before: at most {worst[0]:+d} "
                   f"threads, {worst[1]:+d} fds (slack {THREAD_SLACK}, {FD_SLACK}); drift first fault -> last: "
                   f"{drift[0]:+d} threads, {drift[1]:+d} fds; {len(bad)} faults over the slack, {not_back} "
                   f"cameras not live again")


def case_verdict(acct: CaseAccount) -> Verdict:
    detail = (f"{acct.events} events opened -> {acct.cases} cases + {acct.seen_again} seen again on an open case "
              f"({acct.repeated_entries} seen-again history entries repeated for one event); "
              f"lost {len(acct.lost)}, duplicated {len(acct.duplicated)}, cases without a logged event "
              f"{len(acct.unexplained)}; {acct.decided} decided by the operator, {len(acct.changed)} changed "
              f"since, {len(acct.audit_mismatch)} audit mismatches")
    if acct.events == 0:
        detail = "not judged: the analytics opened no event. " + detail
    return Verdict("cases: none lost or duplicated", acct.ok, detail)


def write_csv(path: Path, samples: list[Sample]) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=[f.name for f in fields(Sample)])
        writer.writeheader()
        for sample in samples:
            writer.writerow({k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(sample).items()})


def write_faults_csv(path: Path, faults: list[Fault]) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["camera", "kind", "start_s", "back_s", "live_again_s", "threads_before", "threads_after",
                         "fds_before", "fds_after", "threads_floor_before", "threads_floor_after",
                         "fds_floor_before", "fds_floor_after", "rss_before_mb", "rss_after_mb"])
        for f in faults:
            b, a, fb, fa = f.before, f.after, f.before_floor, f.after_floor
            writer.writerow([f.camera, f.kind, round(f.start_s), round(f.back_s),
                             "" if f.live_again_s is None else round(f.live_again_s),
                             b.threads if b else "", a.threads if a else "", b.fds if b else "", a.fds if a else "",
                             fb.threads if fb else "", fa.threads if fa else "", fb.fds if fb else "",
                             fa.fds if fa else "", round(b.rss_mb) if b else "", round(a.rss_mb) if a else ""])


PANELS = (("rss_mb", "RSS (MiB)"), ("threads", "threads"), ("fds", "file descriptors"), ("api_p95_ms", "API p95 (ms)"))
WIDTH, PANEL_H, LEFT, RIGHT, TOP, GAP = 1200, 200, 90, 30, 40, 50


def write_png(path: Path, samples: list[Sample], faults: list[Fault], title: str) -> None:
    height = TOP + len(PANELS) * (PANEL_H + GAP) + 20
    image = np.full((height, WIDTH, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(image, title[:140], (LEFT, 26), font, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    span = max((samples[-1].t_s if samples else 1.0), 1.0)

    def x_of(t: float) -> int:
        return int(LEFT + (WIDTH - LEFT - RIGHT) * t / span)

    for n, (key, label) in enumerate(PANELS):
        y0 = TOP + n * (PANEL_H + GAP) + 20
        y1 = y0 + PANEL_H
        for f in faults:  # the camera's outage
            cv2.rectangle(image, (x_of(f.start_s), y0), (x_of(f.back_s or span), y1), (210, 210, 255), -1)
        cv2.rectangle(image, (LEFT, y0), (WIDTH - RIGHT, y1), (0, 0, 0), 1)
        values = [float(getattr(s, key)) for s in samples]
        finite = [v for v in values if v == v]
        if finite:
            low, high = min(finite), max(finite)
            pad = max(high - low, 1.0) * 0.1
            lo, hi = low - pad, high + pad
            pts = [(x_of(s.t_s), int(y1 - (v - lo) / (hi - lo) * PANEL_H)) for s, v in zip(samples, values,
                                                                                             strict=True) if v == v]
            cv2.polylines(image, [np.array(pts, np.int32)], False, (160, 60, 0), 2, cv2.LINE_AA)
            for v in (low, high):  # the measured extremes, at their height
                cv2.putText(image, f"{v:.0f}", (8, int(y1 - (v - lo) / (hi - lo) * PANEL_H) + 5), font, 0.45,
                            (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(image, label, (LEFT + 6, y0 - 6), font, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
        for minute in range(int(span // 60) + 1):
            step = 1 if span <= 600 else 5
            if minute % step == 0:
                x = x_of(minute * 60)
                cv2.line(image, (x, y1), (x, y1 + 4), (0, 0, 0), 1)
                cv2.putText(image, f"{minute}", (x - 5, y1 + 18), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(image, "minutes; shaded: a camera down (fault injected)", (LEFT, height - 8), font, 0.45,
                (0, 0, 0), 1, cv2.LINE_AA)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"could not write {path}")
