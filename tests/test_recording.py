"""Recording and playback without the web side: the recorder on real packets (a generated clip read by the same
PacketReader the cameras use), the segment files it writes (read back by PyAV), playback and export from them,
the events mode's pre-roll from a real PacketRing, a full disk (/dev/full), and retention over a real SQLite
index with real cases."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest

from streams.devserver.clips import synthetic_clip
from streams.playback import NothingRecorded, Playback, SegmentSource, export
from streams.recorder import Recorder
from streams.recording_config import RecordingPlan, RecordingPolicy, RecordingWindow, resolve
from streams.ring import PacketRing
from streams.segments import SegmentInfo, recover, segment_path
from streams.source import TimedPacket
from tests.case_helpers import CAMERAS, event_change
from tests.conftest import wait_until
from tests.streams_helpers import timed_packets
from vision.catalogue import load_catalogue
from wall.cases.desk import CaseDesk
from wall.hall_settings import DEFAULT_REJECT_REASONS
from wall.recording.index import RecordingIndex
from wall.recording.retention import Retention
from wall.recording_settings import RecordingSettings
from wall.runtime.models import RecordedSegment
from wall.store.db import open_database

WALL0 = 1_000_000.0  # tests.streams_helpers.timed_packets: a packet's wall time is WALL0 + its pts seconds
FPS, GOP = 25, 25  # one keyframe a second


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 s of testsrc2 (a moving picture with a frame counter: every frame differs), 1 s GOP, no B-frames."""
    return synthetic_clip(tmp_path_factory.mktemp("rec") / "src.mp4", width=320, height=180, fps=FPS, gop=GOP,
                          seconds=12)


def source_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def record(packets: Iterator[TimedPacket], root: Path, plan: RecordingPlan,
           ring: PacketRing | None = None, each=None) -> tuple[Recorder, list[SegmentInfo]]:
    """Run a recorder over ``packets`` as a camera session would (epoch, packets, drop) and wait for its segments."""
    closed: list[SegmentInfo] = []
    ring = ring or PacketRing(60, 64 << 20)
    recorder = Recorder("cam", root, plan, ring, closed.append)
    recorder.start()
    first = True
    for item in packets:
        if first:
            recorder.on_epoch(item.epoch)
            first = False
        ring.append(item)
        if each is not None:
            each(recorder, item)
        recorder.on_packet(item)
    recorder.on_drop()
    recorder.stop()
    return recorder, closed


def test_continuous_recording_rotates_at_keyframes_and_keeps_every_packet(clip: Path, tmp_path: Path) -> None:
    plan = RecordingPlan(mode="continuous", segment_seconds=3)
    packets = list(timed_packets(clip))
    recorder, segments = record(iter(packets), tmp_path, plan)
    assert len(segments) == 4, [(s.start, s.end, s.reason) for s in segments]
    assert [s.reason for s in segments] == ["rotate", "rotate", "rotate", "dropped"]
    assert sum(s.frames for s in segments) == len(packets)
    for before, after in itertools.pairwise(segments):
        assert after.start == pytest.approx(before.end, abs=1e-6)  # no gap, no overlap
        assert after.keyframes >= 1
    assert segments[0].start == pytest.approx(WALL0)
    assert segments[-1].end == pytest.approx(WALL0 + 12, abs=0.05)
    assert recorder.health().state == "idle" and recorder.health().segments == 4
    # the files are the camera's packets, byte for byte (stream copy), and decode to its pictures
    recorded = []
    for seg in segments:
        path = tmp_path / seg.relative
        assert path.is_file() and not path.with_name(path.name + ".part").exists()
        assert path.stat().st_size == seg.size
        with av.open(str(path)) as c:
            recorded += [bytes(p) for p in c.demux(video=0) if p.size]
    assert recorded == [bytes(p.packet) for p in packets]


def test_playback_seeks_to_the_right_picture(clip: Path, tmp_path: Path) -> None:
    _, segments = record(timed_packets(clip), tmp_path, RecordingPlan(mode="continuous", segment_seconds=3))
    sources = [SegmentSource(tmp_path / s.relative, s.start) for s in segments]
    frames = source_frames(clip)
    target = WALL0 + 4.52  # inside the second segment, mid-GOP
    chunk = Playback(sources, target, seconds=5)
    assert chunk.first_wall == pytest.approx(WALL0 + 4.0, abs=1e-3)  # the keyframe before
    data = b"".join(chunk)
    out = tmp_path / "chunk.mp4"
    out.write_bytes(data)
    with av.open(str(out)) as c:
        decoded = [(float(f.pts * f.time_base), f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
    # the frame shown at the target time is the source's frame of that time, pixel for pixel
    shown = next(img for t, img in decoded if chunk.first_wall + t >= target - 1e-3)
    assert np.array_equal(shown, frames[round((target - WALL0) * FPS)])
    # it ends at the keyframe after start + seconds, across the segment boundary at 6 s
    assert decoded[-1][0] == pytest.approx(4.96, abs=0.02)
    # the next chunk, from there, starts at exactly that keyframe
    after = Playback(sources, chunk.first_wall + 5.0, seconds=5, align="after")
    assert after.first_wall == pytest.approx(WALL0 + 9.0, abs=1e-3)
    with pytest.raises(NothingRecorded):
        Playback(sources, WALL0 + 13, seconds=5, align="after")


def test_export_duration_matches_the_range_within_a_gop(clip: Path, tmp_path: Path) -> None:
    _, segments = record(timed_packets(clip), tmp_path, RecordingPlan(mode="continuous", segment_seconds=3))
    sources = [SegmentSource(tmp_path / s.relative, s.start) for s in segments]
    start, end = WALL0 + 2.3, WALL0 + 8.7
    done = export(sources, start, end, tmp_path / "export.mp4")
    with av.open(str(done.path)) as c:
        stream = c.streams.video[0]
        frames = [f for f in c.decode(stream)]
        duration = float(frames[-1].pts * frames[-1].time_base) + 1 / FPS
    assert abs(duration - (end - start)) <= GOP / FPS
    assert done.first_wall == pytest.approx(WALL0 + 2.0, abs=1e-3)
    assert len(frames) == done.frames == sum(1 for k in range(12 * FPS) if 2.0 + k / FPS < 8.7 - 1e-9)


def test_events_mode_records_from_the_ring_before_the_event(clip: Path, tmp_path: Path) -> None:
    plan = RecordingPlan(mode="events", pre_seconds=2, post_seconds=1, segment_seconds=60)

    def at_six(recorder: Recorder, item: TimedPacket) -> None:
        if abs(item.pts_s - 6.0) < 1e-6:
            recorder.trigger(item.wall + plan.post_seconds)  # what an event of the camera does

    _, segments = record(timed_packets(clip), tmp_path, plan, each=at_six)
    assert len(segments) == 1 and segments[0].reason == "mode"
    assert segments[0].start == pytest.approx(WALL0 + 4.0, abs=1e-3)  # the keyframe 2 s before, from the ring
    assert segments[0].end == pytest.approx(WALL0 + 7.04, abs=0.05)


def test_a_full_disk_is_a_health_signal_not_a_crash(clip: Path, tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    first = segment_path(tmp_path, "cam", WALL0)  # where the first segment will be written
    first.parent.mkdir(parents=True)

    def full_disk(recorder: Recorder, item: TimedPacket) -> None:
        if item.pts_s == 0:  # after the recorder's start (which finishes a crash's .part files)
            os.symlink("/dev/full", first.with_name(first.name + ".part"))  # every write there: ENOSPC

    recorder, segments = record(timed_packets(clip), tmp_path, RecordingPlan(mode="continuous", segment_seconds=3),
                                each=full_disk)
    health = recorder.health()
    assert health.state == "failing" and health.last_error_kind == "disk_full"
    assert "full" in (health.last_error or "")
    assert segments == []  # nothing indexed that was not written; the camera thread never saw an error


def test_recover_finishes_what_a_crash_left(clip: Path, tmp_path: Path) -> None:
    _, segments = record(timed_packets(clip, limit=80), tmp_path, RecordingPlan(mode="continuous"))
    path = tmp_path / segments[0].relative
    part = path.with_name(path.name + ".part")
    path.replace(part)  # as if the process had died before closing it
    found = recover(tmp_path, "cam")
    assert [f.relative for f in found] == [segments[0].relative]
    assert found[0].frames == segments[0].frames and found[0].reason == "recovered"
    assert found[0].start == pytest.approx(segments[0].start, abs=1e-3)
    assert path.is_file() and not part.exists()


def test_schedule_and_inheritance() -> None:
    site = RecordingSettings(default=RecordingPolicy(mode="continuous", retention_days=7),
                             groups={"night": RecordingPolicy(mode="schedule", schedule=[
                                 RecordingWindow(start="22:00", end="06:00")])})
    camera = CAMERAS[0].model_copy(update={"group": "night", "recording": RecordingPolicy(post_seconds=5)})
    plan = site.plan_for(camera)
    assert (plan.mode, plan.post_seconds, plan.retention_days) == ("schedule", 5, 7)
    night = time.mktime((2026, 3, 4, 23, 30, 0, 0, 0, -1))
    day = time.mktime((2026, 3, 4, 12, 0, 0, 0, 0, -1))
    early = time.mktime((2026, 3, 5, 5, 59, 0, 0, 0, -1))
    assert plan.wants(night, None) and plan.wants(early, None) and not plan.wants(day, None)
    assert resolve(None, None).mode == "off"
    assert site.plan_for(CAMERAS[1]).mode == "continuous"


# -- the index and retention ------------------------------------------------------------------------------------

def _segment(root: Path, camera: str, start: float, size: int = 1000) -> RecordedSegment:
    path = segment_path(root, camera, start)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)
    return RecordedSegment(camera_id=camera, path=path.relative_to(root).as_posix(), start=start, end=start + 60,
                           frames=1500, keyframes=60, size=size, codec="h264", width=320, height=180,
                           params="p", reason="rotate")


def test_index_merges_ranges_and_adds_a_repeat_once(tmp_path: Path) -> None:
    db = open_database(tmp_path / "data")
    root = tmp_path / "rec"
    index = RecordingIndex(db, root)
    t0 = 1_800_000_000.0
    first = _segment(root, "cam-a", t0)
    for seg in (first, _segment(root, "cam-a", t0 + 60), _segment(root, "cam-a", t0 + 200), first):
        index.add(seg)
    assert index.added == 3 and not index.pending
    ranges = index.ranges("cam-a", t0 - 10, t0 + 1000)
    assert [(r.start, r.end, r.segments) for r in ranges] == [(t0, t0 + 120, 2), (t0 + 200, t0 + 260, 1)]
    assert index.ranges("cam-b", t0, t0 + 1000) == []
    assert index.total_bytes() == 3000


def test_quota_deletes_the_oldest_but_never_an_open_cases_evidence(tmp_path: Path) -> None:
    db = open_database(tmp_path / "data")
    root = tmp_path / "rec"
    desk = CaseDesk(db, CAMERAS, load_catalogue(), tmp_path / "evidence", reject_reasons=list(DEFAULT_REJECT_REASONS))
    t0 = 1_800_000_000.0
    # an open case of cam-a seen from t0+400 to t0+600; a rejected one of cam-a at t0+100..t0+300
    desk.on_event(event_change(tmp_path / "evidence", camera="cam-a", t=t0 + 600))  # first_seen = t - 200
    rejected = desk.on_event(event_change(tmp_path / "evidence", camera="cam-a", t=t0 + 300, place="9-9"))
    assert rejected is not None
    desk.reject(rejected, "op", reason=next(iter(DEFAULT_REJECT_REASONS)))
    index = RecordingIndex(db, root)
    segments = [_segment(root, "cam-a", t0 + 60 * i) for i in range(12)]  # t0 … t0+720, 1000 bytes each
    for seg in segments:
        index.add(seg)
    settings = RecordingSettings(quota_gb=4000 / 1024**3, evidence_margin_seconds=0)
    result = Retention(db, root, settings, lambda: CAMERAS).run()
    kept = {r.path.relative_to(root).as_posix() for r in index.segments("cam-a", 0, 2e9)}
    protected = {s.path for s in segments if s.start < t0 + 600 and s.end > t0 + 400}  # t0+360 … t0+600
    assert len(protected) == 4
    # oldest first until the quota holds: the six before the open case's window (the rejected case's among
    # them), then the two after it; the open case's four stay although they are older, and the pass says so
    assert kept == protected
    assert set(result.deleted_paths) == {s.path for s in segments[:6] + segments[10:]}
    assert all(not (root / p).exists() for p in result.deleted_paths)
    assert (result.deleted, result.freed_bytes, result.kept_for_cases, result.over_quota_bytes) == (8, 8000, 4, 0)


def test_retention_by_days_keeps_an_open_cases_evidence(tmp_path: Path) -> None:
    db = open_database(tmp_path / "data")
    root = tmp_path / "rec"
    desk = CaseDesk(db, CAMERAS, load_catalogue(), tmp_path / "evidence", reject_reasons=list(DEFAULT_REJECT_REASONS))
    now = time.time()
    old = now - 10 * 86400
    desk.on_event(event_change(tmp_path / "evidence", camera="cam-a", t=old + 130))  # seen old-70 … old+130
    index = RecordingIndex(db, root)
    for start in (old, old + 600, now - 600):
        index.add(_segment(root, "cam-a", start))
        index.add(_segment(root, "cam-b", start))
    settings = RecordingSettings(retention_days=3, evidence_margin_seconds=0)
    Retention(db, root, settings, lambda: CAMERAS).run()
    assert [s.start for s in index.segments("cam-a", 0, 2e9)] == [pytest.approx(old), pytest.approx(now - 600)]
    assert [s.start for s in index.segments("cam-b", 0, 2e9)] == [pytest.approx(now - 600)]


def test_migration_0012_makes_the_index_and_takes_it_back(tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from tests.migration_helpers import table_diff
    from wall.store.db import Database

    db = Database(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    config = db.alembic_config()
    try:
        with db.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0011_grant_rights")
            assert "recording_segments" not in inspect(conn).get_table_names()
            command.upgrade(config, "0012_recordings")
            assert "recording_segments" in inspect(conn).get_table_names()
            command.downgrade(config, "0011_grant_rights")
            assert "recording_segments" not in inspect(conn).get_table_names()
            command.upgrade(config, "head")
        assert table_diff(db, "recording_segments") == []
    finally:
        db.dispose()


def test_recording_blocks_load_from_the_files_and_a_typo_is_named(tmp_path: Path) -> None:
    from wall.config import ConfigError, load_config

    (tmp_path / "cameras.yaml").write_text(
        "cameras:\n"
        "  - {id: a, name: A, url: 'rtsp://10.0.0.1/a', group: 解放路, recording: {retention_days: 7}}\n"
        "  - {id: b, name: B, url: 'rtsp://10.0.0.1/b'}\n", encoding="utf-8")
    (tmp_path / "server.yaml").write_text(
        "recording:\n  storage_dir: rec\n  default: {mode: events, pre_seconds: 5}\n"
        "  groups:\n    解放路: {mode: continuous}\n", encoding="utf-8")
    site = load_config(tmp_path)
    settings = site.server_file.recording
    a, b = (settings.plan_for(cam) for cam in site.cameras)
    assert (a.mode, a.retention_days, b.mode, b.pre_seconds) == ("continuous", 7, "events", 5)
    assert settings.storage_root(site.directory, site.data_dir) == tmp_path / "rec"
    (tmp_path / "server.yaml").write_text("recording:\n  default: {mode: always}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert any("recording.default.mode" in p for p in info.value.problems), info.value.problems


def test_a_cluster_worker_records_to_the_sites_storage_and_reports_its_segments(
        clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without Ray: the worker's own LocalRuntime records into the site's storage root (not the worker's
    temporary data directory), and every report carries the segments closed in the last while. On a node where
    the storage lacks the control plane's marker (the shared mount missing) it records nothing and says why."""
    from tests.test_cluster import run_async
    from vision.rules_config import CameraRules
    from wall.cluster import worker as worker_module
    from wall.config import load_config
    from wall.runtime import recording_storage

    (tmp_path / "cameras.yaml").write_text(f"cameras:\n  - {{id: a, name: A, url: 'file:{clip}'}}\n")
    (tmp_path / "server.yaml").write_text("recording:\n  segment_seconds: 2\n  default: {mode: continuous}\n")
    site = load_config(tmp_path)
    storage = tmp_path / "data" / "recordings"
    unmounted = worker_module.CameraWorker(site, "u", "node")  # no marker yet: as on a node without the mount
    try:
        run_async(unmounted.assign(site.cameras[0], CameraRules(), 1))
        status = run_async(unmounted.status("a"))
        assert status is not None and status.recording is not None
        assert (status.recording.state, status.recording.last_error_kind) == ("failing", "not_shared")
        assert str(storage) in (status.recording.last_error or "") and recording_storage.MARKER in (
            status.recording.last_error or "")
        time.sleep(3)  # a segment's length: none was written
        assert run_async(unmounted.report()).segments == [] and not list(storage.glob("**/*.mp4"))
    finally:
        run_async(unmounted.stop())
    recording_storage.mark(storage)  # what the control plane does when it starts
    recording_storage.mark(storage)  # a second replica keeps the first one's marker
    assert len(list(storage.glob(recording_storage.MARKER))) == 1
    worker = worker_module.CameraWorker(site, "w", "node")
    try:
        run_async(worker.assign(site.cameras[0], CameraRules(), 1))
        assert wait_until(lambda: run_async(worker.report()).segments, 20)
        segment = run_async(worker.report()).segments[0]
        assert segment.camera_id == "a" and segment.frames > 0
        assert (tmp_path / "data" / "recordings" / segment.path).is_file()
        assert run_async(worker.report()).segments[0] == segment  # repeated: a lost report loses nothing
        monkeypatch.setattr(worker_module, "SEGMENT_RESEND_SECONDS", 0.0)
        assert segment not in run_async(worker.report()).segments
    finally:
        run_async(worker.stop())


def test_the_runtimes_recorders_follow_events_and_camera_changes(clip: Path, tmp_path: Path) -> None:
    """LocalRuntime's helper on a real session (a file camera paced at real time): an event of the camera arms
    the events mode (pre-roll from the ring, post after), a cleared one does not; a camera whose block turns
    recording off loses its recorder, its open segment indexed."""
    from streams.config import CameraConfig, StreamSettings
    from streams.hub import CameraHub
    from wall.runtime.recorders import Recorders

    camera = CameraConfig(id="cam-a", name="A", url=f"file:{clip}")
    hub = CameraHub([camera], StreamSettings())
    settings = RecordingSettings(default=RecordingPolicy(mode="events", pre_seconds=1, post_seconds=1))
    recorders = Recorders(settings, tmp_path / "rec", hub)
    closed: list[RecordedSegment] = []
    recorders.listeners.append(closed.append)
    hub.start()
    try:
        recorders.start()
        session = hub.get("cam-a")
        assert session is not None and wait_until(lambda: session.ring.span_seconds() > 2.5, 20)
        recorders.on_event(event_change(tmp_path / "ev", camera="cam-a", kind="cleared"))
        time.sleep(1.5)
        assert closed == [] and recorders.status("cam-a").state == "idle"
        armed = time.time()
        recorders.on_event(event_change(tmp_path / "ev", camera="cam-a", kind="opened"))
        assert wait_until(lambda: closed, 10)
        segment = closed[0]
        assert segment.reason == "mode" and segment.start <= armed - 1 + 0.05  # from the keyframe ≥ 1 s before
        assert segment.end == pytest.approx(armed + 1, abs=0.5)
        assert (tmp_path / "rec" / segment.path).is_file()
        recorders.put("cam-a")  # nothing changed: the same recorder goes on
        assert recorders.status("cam-a") is not None
        hub.put(camera.model_copy(update={"recording": RecordingPolicy(mode="off")}))
        recorders.put("cam-a")
        assert recorders.status("cam-a") is None
    finally:
        recorders.stop()
        hub.stop()


def test_stream_main_records_the_cameras_main_stream_held_open_while_it_records(clip: Path, tmp_path: Path) -> None:
    """A camera with a main stream and ``stream: main`` records the main stream (its resolution in the index),
    which stays open for the recorder and is let go when recording stops; a camera without main_url records its
    one stream."""
    from streams.config import CameraConfig, StreamSettings
    from streams.hub import CameraHub, MainStreams
    from wall.runtime.recorders import Recorders

    main = synthetic_clip(tmp_path / "main.mp4", width=640, height=360, fps=FPS, gop=GOP, seconds=12)
    both = CameraConfig(id="cam-a", name="A", url=f"file:{clip}", main_url=f"file:{main}")
    single = CameraConfig(id="cam-b", name="B", url=f"file:{clip}")
    hub = CameraHub([both, single], StreamSettings())
    mains = MainStreams(hub, linger=0.0)
    settings = RecordingSettings(segment_seconds=2, default=RecordingPolicy(mode="continuous", stream="main"))
    assert settings.plan_for(both).stream == "main"
    recorders = Recorders(settings, tmp_path / "rec", hub, main_streams=mains)
    closed: list[RecordedSegment] = []
    recorders.listeners.append(closed.append)
    hub.start()
    try:
        recorders.start()
        assert wait_until(lambda: {s.camera_id for s in closed} == {"cam-a", "cam-b"}, 20)
        sizes = {s.camera_id: (s.width, s.height) for s in closed}
        assert sizes == {"cam-a": (640, 360), "cam-b": (320, 180)}
        assert mains.open_streams() == ["cam-a"]  # held for the recorder (a maximised tile would share it)
        hub.put(both.model_copy(update={"recording": RecordingPolicy(stream="sub")}))
        recorders.put("cam-a")  # back to the sub stream: the main one is let go
        assert mains.open_streams() == []
        closed.clear()
        assert wait_until(lambda: any(s.camera_id == "cam-a" for s in closed), 20)
        assert {(s.width, s.height) for s in closed if s.camera_id == "cam-a"} == {(320, 180)}
    finally:
        recorders.stop()
        mains.stop()
        hub.stop()
