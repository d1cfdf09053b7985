"""An H.265 camera's evidence clip as H.264 for a browser without an HEVC decoder (issue 14 item 1, clips).

The real app on a loopback port and a case raised through the real CaseDesk with a real H.265 clip (libx265,
made at test time) as its evidence; ``/api/evidence/NAME?codec=h264`` answers an H.264 copy that PyAV decodes to
as many frames as the original, made once and kept (the second ask is served from the cache), while the evidence
file itself is untouched and an H.264 clip is sent as it is. The right to the camera still decides (404).
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import av
import pytest

from tests.browser_helpers import cameras_yaml
from tests.case_helpers import event_change
from vision.replay import store_evidence

if TYPE_CHECKING:
    from tests.conftest import SiteStarter

pytestmark = pytest.mark.slow


def clip(path: Path, codec: str) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=10", "-t", "3",
                    "-c:v", codec, "-preset", "ultrafast", "-g", "10", "-pix_fmt", "yuv420p",
                    *(["-x265-params", "log-level=none"] if codec == "libx265" else []), str(path)], check=True)
    return path


def frames_of(data: bytes) -> tuple[str, int, tuple[int, int]]:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        return stream.codec_context.name, len(frames), (frames[0].width, frames[0].height)


def test_an_h265_clip_is_served_as_h264_when_asked(serve_site: SiteStarter, tmp_path: Path) -> None:
    hevc = clip(tmp_path / "hevc.mp4", "libx265")
    avc = clip(tmp_path / "avc.mp4", "libx264")
    site = serve_site(cameras_yaml(("cam-a", "南门", f"file:{hevc}"), ("cam-b", "北门", f"file:{avc}")),
                      f"server:\n  data_dir: {tmp_path / 'data'}\n")
    desk = site.app.state.services.cases.desk
    names = {}
    for camera, source in (("cam-a", hevc), ("cam-b", avc)):
        change = event_change(desk.evidence_dir, camera=camera)
        change.evidence["clip"] = str(store_evidence(desk.evidence_dir, source.read_bytes(), ".mp4"))
        assert desk.on_event(change) is not None
        names[camera] = Path(change.evidence["clip"]).name
    admin = site.client()

    own = admin.get(f"/api/evidence/{names['cam-a']}")
    assert own.status_code == 200 and frames_of(own.content)[0] == "hevc"  # as recorded, by default
    copy = admin.get(f"/api/evidence/{names['cam-a']}", params={"codec": "h264"})
    assert copy.status_code == 200 and copy.headers["content-type"] == "video/mp4"
    assert frames_of(copy.content) == ("h264", 30, (640, 360))
    cached = sorted((tmp_path / "data" / "clip-h264").glob("*.mp4"))
    assert [p.name for p in cached] == [names["cam-a"].replace(".mp4", ".h264.mp4")]
    made = cached[0].stat().st_mtime_ns
    again = admin.get(f"/api/evidence/{names['cam-a']}", params={"codec": "h264"})
    assert again.content == copy.content and cached[0].stat().st_mtime_ns == made  # made once
    assert (desk.evidence_dir / names["cam-a"]).read_bytes() == hevc.read_bytes()  # the evidence is untouched

    plain = admin.get(f"/api/evidence/{names['cam-b']}", params={"codec": "h264"})
    assert plain.content == avc.read_bytes()  # H.264 already: sent as it is

    site.add_user("bob", "operator", grants=("cam-b",))
    assert site.client("bob").get(f"/api/evidence/{names['cam-a']}", params={"codec": "h264"}).status_code == 404
    assert admin.get("/api/evidence/x.mp4", params={"codec": "vp9"}).status_code == 422
