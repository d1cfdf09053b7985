"""``/metrics`` for Prometheus: how every camera, the analytics and the case loop are doing, read at scrape time.

Why a custom collector rather than counters sprinkled through the code: the truth already lives somewhere —
camera health in ``streams.health``, decoding in the samplers, the detector's and pipeline's counters in
``vision``, cases and the outbox in the database, viewers in the remuxes and the ``/ws/wall`` broadcaster. The
collector reads those when Prometheus asks, so nothing can drift and ``streams``/``vision`` never import
Prometheus. The only observations made here are the two histograms (detector time per batch, batch size): a
histogram needs every value, so the pipeline tells its ``batch_observers`` and this module records them.

Every app gets its own ``CollectorRegistry`` (tests start many apps in one process). Labels are camera ids,
event codes and states — never a camera URL. Who may scrape is ``server.metrics`` in server.yaml.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR, CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from streams.health import CameraState
from wall.recording.metrics import recording_metrics, transcode_metrics
from wall.recording.transcodes import TranscodeSlots
from wall.runtime.interface import CameraRuntime
from wall.runtime.models import AnalyticsCounters, CameraStatus, ClusterView
from wall.store.cases import Case, CaseEvent, OutboxMessage, Suppression

if TYPE_CHECKING:
    from wall.case_loop import CaseService
    from wall.config import MetricsSettings
    from wall.store.db import Database

log = logging.getLogger(__name__)

PREFIX = "citywall"
REQUEST_THREAD = "AnyIO worker thread"  # the name anyio gives the threads of its pool
BATCH_SECONDS_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
BATCH_SIZE_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)
# Headers a reverse proxy adds: such a request comes from outside, whatever address the proxy connects from.
PROXY_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


class SiteCollector(Collector):
    """Reads the running site's state at scrape time: cameras, decoding, analytics, cases, outbox, viewers."""

    def __init__(self, runtime: CameraRuntime, db: Database, cases: CaseService, *,
                 transcodes: TranscodeSlots | None = None, rendition_cap: int | None = None) -> None:
        self.runtime = runtime
        self.db = db
        self.cases = cases
        self.transcodes, self.rendition_cap = transcodes, rendition_cap  # the two transcode caps' counts

    def describe(self) -> Iterable[Metric]:
        return []  # nothing to check at registration; the names are fixed below and collect() is not cheap

    def collect(self) -> Iterator[Metric]:
        statuses = self.runtime.camera_statuses_now()
        yield from self._cameras(statuses)
        yield from self._viewers(statuses)
        yield from recording_metrics(statuses, PREFIX)  # a full disk or failing writes, per camera
        yield from transcode_metrics(statuses, self.rendition_cap, self.transcodes, PREFIX)  # the two H.264 caps
        counters = self.runtime.analytics_counters()
        if counters is not None:
            yield from self._analytics(counters, statuses)
        yield from self._evidence()
        view = self.runtime.cluster_view()
        if view is not None:
            yield from _cluster(view, statuses)
        yield from self._database()

    # -- cameras ------------------------------------------------------------------------------------------------
    def _cameras(self, statuses: list[CameraStatus]) -> Iterator[Metric]:
        state = GaugeMetricFamily(f"{PREFIX}_camera_state", "1 for the camera's current state, 0 for the others "
                                  "(connecting, live, stalled, offline, stopped)", labels=["camera", "state"])
        since = GaugeMetricFamily(f"{PREFIX}_camera_state_since_timestamp_seconds",
                                  "When the camera entered its current state (Unix time)", labels=["camera"])
        fps = GaugeMetricFamily(f"{PREFIX}_camera_fps", "Frames per second received over the last 10 s "
                                "(0 unless live)", labels=["camera"])
        bitrate = GaugeMetricFamily(f"{PREFIX}_camera_bitrate_bits_per_second", "Bits per second received over "
                                    "the last 10 s (0 unless live)", labels=["camera"])
        gop = GaugeMetricFamily(f"{PREFIX}_camera_gop_seconds", "Measured keyframe interval", labels=["camera"])
        reconnects = CounterMetricFamily(f"{PREFIX}_camera_reconnects", "Connection attempts after the first",
                                         labels=["camera"])
        packets = CounterMetricFamily(f"{PREFIX}_camera_packets", "Video packets received", labels=["camera"])
        received = CounterMetricFamily(f"{PREFIX}_camera_received_bytes", "Video bytes received",
                                       labels=["camera"])
        error = GaugeMetricFamily(f"{PREFIX}_camera_last_error_timestamp_seconds", "When the camera's last error "
                                  "happened, by its kind (refused, timeout, unauthorized, …)",
                                  labels=["camera", "kind"])
        decode = CounterMetricFamily(f"{PREFIX}_camera_decode_seconds", "Time spent decoding this camera's "
                                     "video for analytics", labels=["camera"])
        decoded = CounterMetricFamily(f"{PREFIX}_camera_decoded_frames", "Frames decoded for analytics",
                                      labels=["camera"])
        skipped = CounterMetricFamily(f"{PREFIX}_camera_skipped_packets", "Packets analytics never had to decode",
                                      labels=["camera"])
        sampled = CounterMetricFamily(f"{PREFIX}_camera_sampled_frames", "Frames handed to the detector pipeline",
                                      labels=["camera"])
        for status in statuses:
            cam, h = status.id, status.health
            for value in CameraState:
                state.add_metric([cam, value.value], 1.0 if value.value == h.state else 0.0)
            since.add_metric([cam], h.since)
            fps.add_metric([cam], h.fps or 0.0)
            bitrate.add_metric([cam], (h.bitrate_kbps or 0.0) * 1000)
            if h.gop_seconds:
                gop.add_metric([cam], h.gop_seconds)
            reconnects.add_metric([cam], float(h.reconnects))
            packets.add_metric([cam], float(h.packets))
            received.add_metric([cam], float(h.bytes))
            if h.last_error_at is not None:
                error.add_metric([cam, h.last_error_kind or "other"], h.last_error_at)
            if status.sampler is not None:
                decode.add_metric([cam], status.sampler.decode_seconds)
                decoded.add_metric([cam], float(status.sampler.decoded))
                skipped.add_metric([cam], float(status.sampler.skipped))
                sampled.add_metric([cam], float(status.sampler.emitted))
        yield from (state, since, fps, bitrate, gop, reconnects, packets, received, error,
                    decode, decoded, skipped, sampled)

    def _viewers(self, statuses: list[CameraStatus]) -> Iterator[Metric]:
        live = GaugeMetricFamily(f"{PREFIX}_live_viewers", "Open /ws/live sockets (browser tiles) per camera",
                                 labels=["camera"])
        for status in statuses:
            live.add_metric([status.id], float(status.viewers))
        yield live
        renditions = GaugeMetricFamily(f"{PREFIX}_live_renditions",
                                       "H.264 renditions being made per camera (browsers without its codec)",
                                       labels=["camera"])
        watching = GaugeMetricFamily(f"{PREFIX}_live_rendition_viewers",
                                     "Live views watching a camera's H.264 rendition", labels=["camera"])
        for status in statuses:
            renditions.add_metric([status.id], float(status.renditions))
            watching.add_metric([status.id], float(status.rendition_viewers))
        yield renditions
        yield watching
        yield GaugeMetricFamily(f"{PREFIX}_wall_viewers", "Open /ws/wall sockets (walls and review desks)",
                                value=float(len(self.cases.notices.clients)))
        # elastic by design (anyio: a thread per concurrent synchronous request up to its limit, ended after 10 s
        # idle): what the process' thread count swells by while requests queue, told apart from a leak
        yield GaugeMetricFamily(f"{PREFIX}_request_threads", "Threads of the server's pool for synchronous routes",
                                value=float(sum(t.name == REQUEST_THREAD for t in threading.enumerate())))

    # -- analytics ------------------------------------------------------------------------------------------------
    def _analytics(self, counters: AnalyticsCounters, statuses: list[CameraStatus]) -> Iterator[Metric]:
        stats = counters.pipeline
        for name, value, text in (
            ("analysis_frames_submitted", stats.frames_in, "Sampled frames offered to the detector pipeline"),
            ("analysis_frames_analysed", stats.frames_analysed, "Frames that went through detector and rules"),
            ("analysis_frames_reused", stats.frames_reused, "Analysed frames that reused their camera's last "
             "detections because nothing changed in its zones (analytics.yaml detector_gate)"),
            ("analysis_frames_dropped", stats.frames_dropped, "Frames replaced by a newer one of the same camera "
             "before the detector got to them (the detector is behind)"),
            ("analysis_events", stats.events, "Event changes (opened, updated, cleared, …) from the rules"),
            ("analysis_rules_seconds", stats.analyse_seconds, "Time in tracking, zones and rules after detection"),
        ):
            yield CounterMetricFamily(f"{PREFIX}_{name}", text, value=float(value))
        d = counters.detector
        for name, value, text in (
            ("detector_frames", d.frames, "Frames through the detector"),
            ("detector_runs", d.runs, "ONNX Runtime session runs (one per frame for a fixed-batch-1 model)"),
            ("detector_inference_seconds", d.inference_seconds, "Time inside ONNX Runtime"),
            ("detector_preprocess_seconds", d.preprocess_seconds, "Letterbox and input conversion time"),
            ("detector_postprocess_seconds", d.postprocess_seconds, "Box decoding and NMS time"),
        ):
            yield CounterMetricFamily(f"{PREFIX}_{name}", text, value=float(value))
        info = GaugeMetricFamily(f"{PREFIX}_detector_info", "The loaded detector (always 1)",
                                 labels=["model", "providers", "batch"])
        info.add_metric([d.model, ",".join(d.providers), "dynamic" if d.dynamic_batch else "fixed-1"], 1.0)
        yield info
        moved = GaugeMetricFamily(f"{PREFIX}_camera_scene_moved", "1 while the PTZ guard sees the view away "
                                     "from its preset (rules paused)", labels=["camera"])
        for status in statuses:
            if status.analysed:
                moved.add_metric([status.id], 1.0 if status.scene_moved else 0.0)
        yield moved

    def _evidence(self) -> Iterator[Metric]:
        health = self.runtime.evidence_health()
        if health is None:
            return
        ok = GaugeMetricFamily(f"{PREFIX}_evidence_store_up", "1 while the evidence directory takes files, 0 from "
                               "a failed write (disk full, read-only) until one succeeds again")
        ok.add_metric([], 1.0 if health.state == "ok" else 0.0)
        yield ok
        yield CounterMetricFamily(f"{PREFIX}_evidence_written", "Evidence files written", value=float(health.written))
        yield CounterMetricFamily(f"{PREFIX}_evidence_write_failures", "Evidence writes the disk refused (the "
                                  "case was raised without the file)", value=float(health.failures))

    # -- the case loop, from the database -------------------------------------------------------------------------
    def _database(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(f"{PREFIX}_database_up", "1 when the last scrape could read the database")
        try:
            families = self._cases_and_outbox()
        except SQLAlchemyError as exc:
            log.warning("metrics: the database could not be read: %s", type(exc).__name__)
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        yield from families

    def _cases_and_outbox(self) -> list[Metric]:
        raised = CounterMetricFamily(f"{PREFIX}_cases_raised", "Cases raised by the analytics",
                                     labels=["camera", "code"])
        confirmed = CounterMetricFamily(f"{PREFIX}_cases_confirmed", "Cases an operator confirmed",
                                        labels=["camera", "code"])
        rejected = CounterMetricFamily(f"{PREFIX}_cases_rejected", "Cases an operator rejected",
                                       labels=["camera", "code"])
        by_status = GaugeMetricFamily(f"{PREFIX}_cases", "Cases now in each state (pending_review is the desk's "
                                      "backlog)", labels=["camera", "status"])
        outbox = GaugeMetricFamily(f"{PREFIX}_outbox_messages", "Outbox messages to the case platform by status "
                                   "(pending: not yet delivered; dead: gave up, needs an admin)", labels=["status"])
        oldest = GaugeMetricFamily(f"{PREFIX}_outbox_oldest_pending_age_seconds",
                                   "Age of the oldest undelivered message (0 when none)")
        suppressed = CounterMetricFamily(f"{PREFIX}_candidates_suppressed", "Candidates a false-alarm suppression "
                                         "(误报抑制) kept from raising a case", labels=["camera", "code"])
        with self.db.session() as s:
            for cam, code, n in s.execute(select(Case.camera_id, Case.code, func.count())
                                          .group_by(Case.camera_id, Case.code)):
                raised.add_metric([cam, code], float(n))
            for family, action in ((confirmed, "confirm"), (rejected, "reject")):
                rows = s.execute(select(Case.camera_id, Case.code, func.count())
                                 .join(CaseEvent, CaseEvent.case_id == Case.id).where(CaseEvent.action == action)
                                 .group_by(Case.camera_id, Case.code))
                for cam, code, n in rows:
                    family.add_metric([cam, code], float(n))
            for cam, status, n in s.execute(select(Case.camera_id, Case.status, func.count())
                                            .group_by(Case.camera_id, Case.status)):
                by_status.add_metric([cam, status], float(n))
            for cam, code, n in s.execute(select(Suppression.camera_id, Suppression.code, func.sum(Suppression.hits))
                                          .group_by(Suppression.camera_id, Suppression.code)):
                suppressed.add_metric([cam, code], float(n or 0))
            counts = dict(s.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all())
            first = s.scalar(select(func.min(OutboxMessage.created_at)).where(OutboxMessage.status == "pending"))
        for status in ("pending", "sent", "dead"):
            outbox.add_metric([status], float(counts.get(status, 0)))
        oldest.add_metric([], _age(first))
        return [raised, confirmed, rejected, by_status, outbox, oldest, suppressed]


def _cluster(view: ClusterView, statuses: list[CameraStatus]) -> Iterator[Metric]:
    """Cluster mode: one series per worker (labels worker, node: the Ray node id's first 8 characters) and per
    node, from the workers' last reports. A worker's CPU seconds and restarts are counters of *its* process:
    they restart from 0 with a new incarnation (the info series says which), as Prometheus expects of a
    counter whose process restarted; the site's analytics totals above stay monotone (wall.cluster.ledger)."""
    labels = ["worker", "node"]
    cameras = GaugeMetricFamily(f"{PREFIX}_worker_cameras", "Cameras the worker runs", labels=labels)
    cpu = CounterMetricFamily(f"{PREFIX}_worker_cpu_seconds", "CPU time of the worker's process (user + system)",
                              labels=labels)
    rss = GaugeMetricFamily(f"{PREFIX}_worker_resident_memory_bytes", "Resident memory of the worker's process",
                            labels=labels)
    waiting = GaugeMetricFamily(f"{PREFIX}_worker_detector_waiting_frames", "Frames waiting for the worker's "
                                "detector (its queue: one per camera at most)", labels=labels)
    pending = GaugeMetricFamily(f"{PREFIX}_worker_pending_events", "Event changes the worker holds until the "
                                "control plane acknowledges them (the control plane's lag)", labels=labels)
    age = GaugeMetricFamily(f"{PREFIX}_worker_report_age_seconds", "Since the worker's last report (about 1 s; "
                            "a hung worker's grows until it is taken out at 5 s)", labels=labels)
    available = GaugeMetricFamily(f"{PREFIX}_worker_available", "0 while Ray restarts the worker's process",
                                  labels=labels)
    restarts = CounterMetricFamily(f"{PREFIX}_worker_restarts", "In-place restarts of the worker's process seen "
                                   "by this control plane", labels=labels)
    info = GaugeMetricFamily(f"{PREFIX}_worker_info", "The worker's node address, process, incarnation and "
                             "detector actor (always 1)", labels=[*labels, "node_ip", "pid", "incarnation",
                                                                  "detector_actor"])
    remote = CounterMetricFamily(f"{PREFIX}_worker_detector_actor_looks", "Looks the node's detector actor "
                                 "answered for the worker", labels=labels)
    fallbacks = CounterMetricFamily(f"{PREFIX}_worker_detector_fallbacks", "Looks the worker detected itself "
                                    "because its node's detector actor did not answer in time", labels=labels)
    per_node: dict[str, int] = {}
    for w in view.workers:
        key = [w.worker, w.node_id[:8]]
        cameras.add_metric(key, float(w.cameras))
        cpu.add_metric(key, w.cpu_seconds)
        rss.add_metric(key, float(w.rss_bytes))
        waiting.add_metric(key, float(w.detector_waiting))
        pending.add_metric(key, float(w.pending_events))
        age.add_metric(key, w.report_age_seconds)
        available.add_metric(key, 1.0 if w.available else 0.0)
        restarts.add_metric(key, float(w.restarts))
        info.add_metric([*key, w.node_ip or "", str(w.pid), w.incarnation, w.detector_actor or ""], 1.0)
        remote.add_metric(key, float(w.detector_actor_looks))
        fallbacks.add_metric(key, float(w.detector_fallbacks))
        per_node[w.node_id] = per_node.get(w.node_id, 0) + w.cameras
    yield from (cameras, cpu, rss, waiting, pending, age, available, restarts, info, remote, fallbacks)
    node_labels = ["node", "node_ip"]
    up = GaugeMetricFamily(f"{PREFIX}_node_up", "1 while Ray counts the node alive", labels=node_labels)
    cpus = GaugeMetricFamily(f"{PREFIX}_node_cpus", "CPUs the node offers Ray", labels=node_labels)
    node_cameras = GaugeMetricFamily(f"{PREFIX}_node_cameras", "Cameras run by the node's workers",
                                     labels=node_labels)
    for n in view.nodes:
        key = [n.node_id[:8], n.node_ip or ""]
        up.add_metric(key, 1.0 if n.alive else 0.0)
        cpus.add_metric(key, n.cpus)
        if n.alive:
            node_cameras.add_metric(key, float(per_node.get(n.node_id, 0)))
    placed = GaugeMetricFamily(f"{PREFIX}_camera_worker", "The worker and node running the camera (always 1)",
                               labels=["camera", "worker", "node"])
    for status in statuses:
        if status.placement is not None:
            placed.add_metric([status.id, status.placement.worker, status.placement.node_id[:8]], 1.0)
    yield from (up, cpus, node_cameras, placed)
    yield GaugeMetricFamily(f"{PREFIX}_cluster_supervising", "1 on the control-plane replica that supervises the "
                            "workers (holds the namespace's lock), 0 on a follower",
                            value=1.0 if view.supervising else 0.0)


def _age(created: datetime | None) -> float:
    if created is None:
        return 0.0
    if created.tzinfo is None:  # SQLite hands back naive datetimes for timezone-aware columns
        created = created.replace(tzinfo=UTC)
    return max(0.0, time.time() - created.timestamp())


def build_registry(runtime: CameraRuntime, db: Database, cases: CaseService, *,
                   transcodes: TranscodeSlots | None = None, rendition_cap: int | None = None) -> CollectorRegistry:
    """This app's registry: the site collector, the pipeline's histograms and the process' own numbers."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SiteCollector(runtime, db, cases, transcodes=transcodes, rendition_cap=rendition_cap))
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(collector)  # stateless readers of this process: safe to share between registries
    if runtime.analytics_enabled:
        seconds = Histogram(f"{PREFIX}_detect_batch_seconds", "Time of one detector call on a batch of frames "
                            "(letterbox, inference, decoding, NMS)", buckets=BATCH_SECONDS_BUCKETS,
                            registry=registry)
        sizes = Histogram(f"{PREFIX}_detect_batch_size", "Frames per detector call (cameras whose frames waited "
                          "together)", buckets=BATCH_SIZE_BUCKETS, registry=registry)

        def observe(size: int, elapsed: float) -> None:
            seconds.observe(elapsed)
            sizes.observe(size)

        runtime.subscribe_batches(observe)
    return registry


class ScrapeGuard:
    """Who may read ``/metrics``: a bearer token from anywhere, or an allowed address not relayed by a proxy."""

    def __init__(self, settings: MetricsSettings) -> None:
        self.networks = [ipaddress.ip_network(item, strict=False) for item in settings.allow]
        self.token = settings.token

    def allows(self, request: Request) -> bool:
        if self.token is not None:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.token.encode()):
                return True
        if any(h in request.headers for h in PROXY_HEADERS):
            return False
        host = request.client.host if request.client else None
        try:
            address = ipaddress.ip_address(host or "")
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in net for net in self.networks)


def install_metrics(app: FastAPI, settings: MetricsSettings, runtime: CameraRuntime, db: Database,
                    cases: CaseService, *, transcodes: TranscodeSlots | None = None,
                    rendition_cap: int | None = None) -> CollectorRegistry | None:
    """Add ``GET /metrics`` (unless disabled); returns the app's own registry (None when disabled)."""
    if not settings.enabled:
        return None
    registry = build_registry(runtime, db, cases, transcodes=transcodes, rendition_cap=rendition_cap)
    guard = ScrapeGuard(settings)

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        """Prometheus text format; a sync endpoint on purpose, since the scrape reads the database."""
        if not guard.allows(request):
            return PlainTextResponse("forbidden\n", status_code=403)
        encode, content_type = choose_encoder(request.headers.get("accept", ""))  # text, or OpenMetrics if asked
        return Response(encode(registry), headers={"Content-Type": content_type, "Cache-Control": "no-store"})

    return registry
