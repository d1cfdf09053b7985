"""The recorders' part of ``/metrics``: whether each recording camera is writing, and what it wrote; and the
box's H.264 transcode caps (live renditions, re-encoded playback and exports) with what is in use of each.

A full disk or a lost mount must page someone before the first inquiry finds a hole in the recordings, so the
state is a gauge per camera and state (alert on ``citywall_recording_state{state="failing"} == 1``) and the
last error's time carries its kind (disk_full, write_failed). Read from the camera statuses the collector
already has (``wall.metrics.SiteCollector``), so nothing is asked of the cameras twice.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from wall.recording.transcodes import TranscodeSlots
from wall.runtime.models import CameraStatus

STATES = ("idle", "recording", "failing")


def recording_metrics(statuses: list[CameraStatus], prefix: str = "citywall") -> Iterator[Metric]:
    state = GaugeMetricFamily(f"{prefix}_recording_state", "1 for the recorder's current state, 0 for the others "
                              "(idle: nothing to record now, recording, failing: writes fail)",
                              labels=["camera", "state"])
    written = CounterMetricFamily(f"{prefix}_recording_written_bytes", "Bytes of closed segment files",
                                  labels=["camera"])
    segments = CounterMetricFamily(f"{prefix}_recording_segments", "Segment files closed", labels=["camera"])
    dropped = CounterMetricFamily(f"{prefix}_recording_dropped_packets", "Packets not recorded because the "
                                  "disk could not keep up", labels=["camera"])
    cpu = CounterMetricFamily(f"{prefix}_recording_cpu_seconds", "CPU time of the camera's recorder thread",
                              labels=["camera"])
    error = GaugeMetricFamily(f"{prefix}_recording_last_error_timestamp_seconds", "When the recorder's last "
                              "write failed, by kind (disk_full, write_failed)", labels=["camera", "kind"])
    for status in statuses:
        rec = status.recording
        if rec is None:
            continue
        for value in STATES:
            state.add_metric([status.id, value], 1.0 if rec.state == value else 0.0)
        written.add_metric([status.id], float(rec.bytes_written))
        segments.add_metric([status.id], float(rec.segments))
        dropped.add_metric([status.id], float(rec.dropped))
        cpu.add_metric([status.id], rec.write_seconds)
        if rec.last_error_at is not None:
            error.add_metric([status.id, rec.last_error_kind or "other"], rec.last_error_at)
    yield from (state, written, segments, dropped, cpu, error)


def transcode_metrics(statuses: list[CameraStatus], rendition_cap: int | None, slots: TranscodeSlots | None,
                      prefix: str = "citywall") -> Iterator[Metric]:
    """The box's two H.264 caps (``wall.recording.transcodes`` says why two): the live renditions counted per
    box that runs cameras (``box``: a cluster worker, or ``local``; one at ``server.live.renditions`` sends new
    H.265 tiles to stills), and the re-encodes of H.265 recordings here (``recording.max_transcodes``; a full
    cap refuses playback to seats without H.265). Alert on in use == cap for long, and on refusals rising."""
    in_use = GaugeMetricFamily(f"{prefix}_live_renditions_in_use", "H.264 renditions the box makes now, counted "
                               "against server.live.renditions", labels=["box"])
    boxes = {"local": 0} if not any(s.placement for s in statuses) else {}
    for status in statuses:
        box = status.placement.worker if status.placement is not None else "local"
        boxes[box] = boxes.get(box, 0) + status.renditions
    for box, count in sorted(boxes.items()):
        in_use.add_metric([box], float(count))
    yield in_use
    if rendition_cap is not None:
        yield GaugeMetricFamily(f"{prefix}_live_renditions_cap", "H.264 renditions one box may make at once "
                                "(server.live.renditions)", value=float(rendition_cap))
    if slots is None:
        return
    yield GaugeMetricFamily(f"{prefix}_recording_transcodes_in_use", "H.264 re-encodes of H.265 recordings "
                            "(playback chunks and exports) running now", value=float(slots.in_use))
    yield GaugeMetricFamily(f"{prefix}_recording_transcodes_cap", "How many may run at once "
                            "(recording.max_transcodes)", value=float(slots.cap))
    yield CounterMetricFamily(f"{prefix}_recording_transcodes_refused", "Re-encodes refused because the cap was "
                              "full (503 with Retry-After)", value=float(slots.refused))
    yield CounterMetricFamily(f"{prefix}_recording_transcodes_stopped", "Exports whose re-encode was stopped "
                              "because their client went away", value=float(slots.stopped))
