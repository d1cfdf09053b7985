"""The recorders' part of ``/metrics``: whether each recording camera is writing, and what it wrote.

A full disk or a lost mount must page someone before the first inquiry finds a hole in the recordings, so the
state is a gauge per camera and state (alert on ``citywall_recording_state{state="failing"} == 1``) and the
last error's time carries its kind (disk_full, write_failed). Read from the camera statuses the collector
already has (``wall.metrics.SiteCollector``), so nothing is asked of the cameras twice.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

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
