"""The cap on H.264 re-encodes of H.265 recordings (``recording.max_transcodes``): real H.265 segments written by
the real recorder into the site's storage and indexed, the real app on a loopback port with the cap at 1. A
playback chunk as H.264 holds the one slot while its client has not read it (the server waits on the socket);
a second one and an H.264 export are refused with 503, Retry-After and a message naming the setting, while the
H.265 itself still plays as recorded; the first client goes away mid-chunk and the slot comes back; the next
chunk and export are served and give it back when they end."""

from __future__ import annotations

import time
from pathlib import Path

import av
import pytest

from streams.recording_config import RecordingPlan
from tests.browser_helpers import cameras_yaml
from tests.conftest import SiteStarter, wait_until
from tests.hevc_helpers import hevc_clip
from tests.recording_helpers import decoded
from tests.streams_helpers import timed_packets
from tests.test_recording import record
from wall.recording.transcodes import RETRY_AFTER_SECONDS, TranscodesFull, TranscodeSlots
from wall.runtime.models import RecordedSegment

SERVER_YAML = """\
recording:
  max_transcodes: 1
  retention_interval_seconds: 86400
"""


def test_a_slot_is_given_back_once_and_the_cap_names_the_setting() -> None:
    slots = TranscodeSlots(1)
    slot = slots.acquire()
    with pytest.raises(TranscodesFull, match=r"at most 1 .*recording\.max_transcodes"):
        slots.acquire()
    slot.release()
    slot.release()  # twice (the response's end and an error path): still one slot back, not two
    assert slots.in_use == 0
    again = slots.acquire()
    with pytest.raises(TranscodesFull):
        slots.acquire()
    again.release()
    assert (slots.served, slots.refused, slots.in_use) == (2, 2, 0)
    with pytest.raises(TranscodesFull, match=r"recording\.max_transcodes is 0"):
        TranscodeSlots(0).acquire()


@pytest.mark.slow
def test_h264_playback_and_export_past_the_cap_are_refused_and_the_slot_comes_back(
        serve_site: SiteStarter, tmp_path: Path) -> None:
    clip = hevc_clip(tmp_path, seconds=130)  # a 120 s chunk of it re-encodes to ~25 MB: more than sockets buffer
    site = serve_site(cameras_yaml(("cam", "H.265", "rtsp://127.0.0.1:9/none")), SERVER_YAML)
    recordings = site.app.state.services.recordings
    _, segments = record(timed_packets(clip, wall0=time.time() - 600), recordings.root,
                         RecordingPlan(mode="continuous", segment_seconds=60))
    for s in segments:
        recordings.index.add(RecordedSegment(
            camera_id=s.camera_id, path=s.relative, start=s.start, end=s.end, frames=s.frames,
            keyframes=s.keyframes, size=s.size, codec=s.codec, width=s.width, height=s.height, params=s.params,
            reason=s.reason))
    recordings.index.flush()
    assert {s.codec for s in segments} == {"hevc"}
    slots = recordings.transcodes
    admin = site.client()
    start = segments[0].start + 1.5
    short: dict[str, float | str] = {"start": start, "seconds": 2, "codec": "h264"}
    export: dict[str, float | str] = {"start": start, "end": start + 2, "codec": "h264"}

    with admin.stream("GET", "/api/playback/cam/video", params={**short, "seconds": 120}) as first:
        assert first.status_code == 200 and "avc1" in first.headers["x-mime"]
        assert slots.in_use == 1
        time.sleep(1.0)
        assert slots.in_use == 1, "the unread chunk keeps its slot: the server waits for its client"
        for path, params in (("video", short), ("export.mp4", export)):
            refused = admin.get(f"/api/playback/cam/{path}", params=params)
            assert refused.status_code == 503, (path, refused.text)
            assert refused.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
            assert "recording.max_transcodes" in refused.json()["detail"]
        as_recorded = admin.get("/api/playback/cam/video", params={"start": start, "seconds": 2})
        assert as_recorded.status_code == 200 and "hvc1" in as_recorded.headers["x-mime"]  # no re-encode, no slot
        assert slots.refused == 2
    # the client went away mid-chunk (the connection closed unread): the transcode stops and gives its slot back
    assert wait_until(lambda: slots.in_use == 0, 10)

    served = admin.get("/api/playback/cam/video", params=short)
    assert served.status_code == 200 and "avc1" in served.headers["x-mime"]
    assert len(decoded(served.content, tmp_path, "served.mp4")) >= 2 * 25
    assert wait_until(lambda: slots.in_use == 0, 5)  # the response ended: given back
    exported = admin.get("/api/playback/cam/export.mp4", params=export)
    assert exported.status_code == 200
    (tmp_path / "exported.mp4").write_bytes(exported.content)
    with av.open(str(tmp_path / "exported.mp4")) as c:
        assert c.streams.video[0].codec_context.name == "h264"
    assert slots.in_use == 0  # the file was made before the answer: its slot was back before it was sent
    assert (slots.served, slots.refused) == (3, 2)
