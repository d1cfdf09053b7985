"""``/metrics`` scraped from the real app on a real socket: cameras from a real RTSP server, one of them killed;
cases raised and decided through the real desk and API; the outbox against a real (failing) webhook receiver;
the detector pipeline on a live camera; and who may scrape at all."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import connect

from streams.devserver.rtsp import RtspDevServer, free_port
from tests.case_helpers import Receiver, event_change
from tests.conftest import LiveServer, start_site, wait_until
from wall.config import ConfigError, load_config

pytestmark = pytest.mark.slow

PASSWORD = "Scrape-s3cret"
USER = "camuser"
FAST_STREAMS = """
streams:
  open_timeout: 3
  read_timeout: 2
  stall_after: 1
  backoff_initial: 0.2
  backoff_max: 1.0
"""


def scrape(site: LiveServer, **headers: str) -> str:
    res = httpx.get(f"{site.url}/metrics", headers=headers, timeout=20)
    assert res.status_code == 200, res.text
    assert res.headers["content-type"].startswith("text/plain")
    return res.text


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape by (name, sorted labels): what Prometheus itself would store."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, tuple(sorted(labels.items()))))


def state_of(text: str, camera: str) -> str:
    """The one state whose one-hot gauge is 1."""
    states = [dict(labels)["state"] for (name, labels), v in samples(text).items()
              if name == "citywall_camera_state" and dict(labels)["camera"] == camera and v == 1.0]
    assert len(states) == 1, states
    return states[0]


def assert_no_secrets(text: str, *servers: RtspDevServer) -> None:
    assert "rtsp://" not in text and PASSWORD not in text and USER not in text
    for server in servers:
        assert f":{server.port}" not in text and f'"{server.port}"' not in text


def cameras_yaml(*cameras: tuple[str, str]) -> str:
    return "cameras:\n" + "".join(f'  - {{id: {cid}, name: 测试 {cid}, url: "{url}"}}\n' for cid, url in cameras)


def test_camera_state_fps_and_viewers_follow_the_cameras(serve_site, rtsp: RtspDevServer, own_rtsp,
                                                         tmp_path: Path) -> None:
    doomed_server = own_rtsp()
    site = serve_site(
        cameras_yaml(("steady", rtsp.url("car", (USER, PASSWORD))),
                     ("doomed", doomed_server.url("cam", (USER, PASSWORD)))),
        f"server:\n  data_dir: {tmp_path / 'data'}\n{FAST_STREAMS}",
    )

    def both_live_with_fps() -> str | None:
        text = scrape(site)
        ok = all(state_of(text, c) == "live" and (value(text, "citywall_camera_fps", camera=c) or 0) > 1
                 for c in ("steady", "doomed"))
        return text if ok else None

    assert wait_until(both_live_with_fps, 45, 0.5)
    text = both_live_with_fps() or scrape(site)
    assert (value(text, "citywall_camera_bitrate_bits_per_second", camera="steady") or 0) > 10_000
    assert (value(text, "citywall_camera_packets_total", camera="doomed") or 0) > 0
    reconnects_before = value(text, "citywall_camera_reconnects_total", camera="doomed")
    assert reconnects_before is not None
    assert value(text, "citywall_live_viewers", camera="steady") == 0.0
    assert value(text, "citywall_wall_viewers") == 0.0
    assert value(text, "citywall_database_up") == 1.0
    assert_no_secrets(text, rtsp, doomed_server)

    doomed_server.kill()

    def doomed_is_down() -> str | None:
        text = scrape(site)
        down = state_of(text, "doomed") in ("offline", "connecting", "stalled")
        return text if down and value(text, "citywall_camera_fps", camera="doomed") == 0.0 else None

    assert wait_until(doomed_is_down, 30, 0.5)
    assert wait_until(lambda: (value(scrape(site), "citywall_camera_reconnects_total", camera="doomed") or 0)
                      > reconnects_before, 30, 0.5)
    text = scrape(site)
    assert state_of(text, "steady") == "live" and (value(text, "citywall_camera_fps", camera="steady") or 0) > 1
    kinds = [dict(labels)["kind"] for (name, labels), _ in samples(text).items()
             if name == "citywall_camera_last_error_timestamp_seconds" and dict(labels)["camera"] == "doomed"]
    assert kinds and kinds[0] in ("refused", "ended", "timeout", "other")  # a kind, never the message
    assert_no_secrets(text, rtsp, doomed_server)

    # Viewers: a tile on /ws/live/steady and a wall on /ws/wall are counted while open.
    ws_base = site.url.replace("http", "ws")
    headers = {"Cookie": site.cookie(), "Origin": site.origin}
    with connect(f"{ws_base}/ws/live/steady", additional_headers=headers, open_timeout=20, max_size=None,
                 max_queue=None), \
            connect(f"{ws_base}/ws/wall", additional_headers=headers, open_timeout=20) as wall:
        assert json.loads(wall.recv(timeout=10))["type"] == "hello"
        assert wait_until(lambda: value(scrape(site), "citywall_live_viewers", camera="steady") == 1.0
                          and value(scrape(site), "citywall_wall_viewers") == 1.0, 20, 0.25)
    assert wait_until(lambda: value(scrape(site), "citywall_live_viewers", camera="steady") == 0.0
                      and value(scrape(site), "citywall_wall_viewers") == 0.0, 20, 0.25)


CASE_CAMERAS = """
cameras:
  - {id: cam-a, name: 解放路口, url: "rtsp://camuser:Scrape-s3cret@127.0.0.1:9/a"}
  - {id: cam-b, name: 人民路, url: "rtsp://127.0.0.1:9/b"}
"""


def test_case_counters_and_outbox_backlog_move_with_the_case_loop(serve_site, tmp_path: Path) -> None:
    receiver = Receiver(status=500)  # the city's platform refuses everything: the message ends as a dead letter
    try:
        site = serve_site(CASE_CAMERAS, f"server:\n  data_dir: {tmp_path / 'data'}\n"
                          f"platform:\n  webhook_url: {receiver.url}\n  secret: webhook-secret\n"
                          "  max_attempts: 2\n  backoff_initial: 0.05\n  backoff_max: 0.1\n")
        text = scrape(site)
        assert value(text, "citywall_cases_raised_total", camera="cam-a", code="0501") is None
        assert value(text, "citywall_outbox_messages", status="dead") == 0.0
        desk = site.app.state.services.cases.desk
        first = desk.on_event(event_change(desk.evidence_dir, camera="cam-a", place="1-1"))
        second = desk.on_event(event_change(desk.evidence_dir, camera="cam-a", place="5-5"))
        desk.on_event(event_change(desk.evidence_dir, camera="cam-b", place="2-2"))
        text = scrape(site)
        assert value(text, "citywall_cases_raised_total", camera="cam-a", code="0501") == 2.0
        assert value(text, "citywall_cases_raised_total", camera="cam-b", code="0501") == 1.0
        assert value(text, "citywall_cases", camera="cam-a", status="pending_review") == 2.0
        assert value(text, "citywall_cases_confirmed_total", camera="cam-a", code="0501") is None

        admin = site.client()
        origin = {"Origin": site.origin}
        assert admin.post(f"/api/cases/{first}/confirm", json={"note": "核实"}, headers=origin).status_code == 200
        rejected = admin.post(f"/api/cases/{second}/reject", json={"reason": "vendor_walking"}, headers=origin)
        assert rejected.status_code == 200
        text = scrape(site)
        assert value(text, "citywall_cases_confirmed_total", camera="cam-a", code="0501") == 1.0
        assert value(text, "citywall_cases_rejected_total", camera="cam-a", code="0501") == 1.0
        assert value(text, "citywall_cases_raised_total", camera="cam-a", code="0501") == 2.0
        assert value(text, "citywall_cases", camera="cam-a", status="pending_review") is None

        # The confirmation went to the outbox; the refusing platform turns it into a dead letter.
        assert wait_until(lambda: value(scrape(site), "citywall_outbox_messages", status="dead") == 1.0, 30, 0.25)
        text = scrape(site)
        assert value(text, "citywall_outbox_messages", status="pending") == 0.0
        assert value(text, "citywall_outbox_oldest_pending_age_seconds") == 0.0
        assert len(receiver.posts) == 2
        assert PASSWORD not in text and "rtsp://" not in text and "webhook-secret" not in text
    finally:
        receiver.close()


ANALYTICS = """
cameras:
  lobby:
    zones:
      - id: table
        family: street_stall
        code: "0501"
        polygon: [[0.40, 0.70], [0.80, 0.70], [0.80, 1.0], [0.40, 1.0]]
"""


def test_decode_and_detector_histograms_fill_from_a_live_camera(serve_site, rtsp: RtspDevServer,
                                                               tmp_path: Path) -> None:
    cameras = f'cameras:\n  - {{id: lobby, name: 大厅, url: "{rtsp.url("person")}", analysis_interval: 1}}\n'
    site = serve_site(cameras, f"server:\n  data_dir: {tmp_path / 'data'}\n", ANALYTICS)

    def analysed_three_batches() -> str | None:
        text = scrape(site)
        return text if (value(text, "citywall_detect_batch_seconds_count") or 0) >= 3 else None

    assert wait_until(analysed_three_batches, 90, 1.0)
    text = analysed_three_batches() or scrape(site)
    count = value(text, "citywall_detect_batch_seconds_count") or 0
    assert (value(text, "citywall_detect_batch_seconds_sum") or 0) > 0
    assert value(text, "citywall_detect_batch_seconds_bucket", le="+Inf") == count
    assert value(text, "citywall_detect_batch_size_bucket", le="1.0") == value(
        text, "citywall_detect_batch_size_count")  # one camera: every batch holds one frame
    assert (value(text, "citywall_detector_frames_total") or 0) >= count
    assert (value(text, "citywall_detector_inference_seconds_total") or 0) > 0
    assert (value(text, "citywall_camera_decode_seconds_total", camera="lobby") or 0) > 0
    assert (value(text, "citywall_camera_decoded_frames_total", camera="lobby") or 0) >= count
    assert (value(text, "citywall_camera_sampled_frames_total", camera="lobby") or 0) >= count
    assert (value(text, "citywall_analysis_frames_analysed_total") or 0) >= count
    assert value(text, "citywall_camera_scene_moved", camera="lobby") == 0.0
    info = [dict(labels) for (name, labels), _ in samples(text).items() if name == "citywall_detector_info"]
    assert info and "CPUExecutionProvider" in info[0]["providers"]


def test_who_may_scrape(serve_site, tmp_path: Path) -> None:
    cameras = 'cameras:\n  - {id: cam-a, name: A, url: "rtsp://127.0.0.1:9/a"}\n'
    data = f"server:\n  data_dir: {tmp_path / 'data'}\n"
    default = serve_site(cameras, data)
    assert "citywall_camera_state" in scrape(default)  # loopback is allowed by default
    assert re.search(r"^citywall_request_threads \d+\.0$", scrape(default), re.M), "the request pool's threads"
    # Relayed by a proxy: from outside, whatever address the proxy connects from.
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        relayed = httpx.get(f"{default.url}/metrics", headers={header: "203.0.113.9"}, timeout=20)
        assert relayed.status_code == 403 and "citywall" not in relayed.text, header

    (tmp_path / "other").mkdir()
    token = "tok-" + "x" * 28
    guarded = start_site(tmp_path / "other", cameras,
                         f"server:\n  data_dir: {tmp_path / 'data2'}\n  metrics:\n    allow: [10.0.0.0/8]\n"
                         f"    token: {token}\n")
    serve_site.servers.append(guarded)  # stopped with the others
    assert httpx.get(f"{guarded.url}/metrics", timeout=20).status_code == 403  # loopback is not 10/8
    wrong = httpx.get(f"{guarded.url}/metrics", headers={"Authorization": "Bearer " + "y" * 32}, timeout=20)
    assert wrong.status_code == 403
    assert "citywall_camera_state" in scrape(guarded, Authorization=f"Bearer {token}")
    # The token works through a proxy too (that is what it is for).
    relayed = {"Authorization": f"Bearer {token}", "X-Forwarded-For": "1.2.3.4"}
    assert "citywall_camera_state" in scrape(guarded, **relayed)
    # /metrics is not part of the documented API and never needs a session.
    assert "/metrics" not in httpx.get(f"{guarded.url}/openapi.json", timeout=20).text

    (tmp_path / "off").mkdir()
    off = start_site(tmp_path / "off", cameras,
                     f"server:\n  data_dir: {tmp_path / 'data3'}\n  metrics: {{enabled: false}}\n")
    serve_site.servers.append(off)
    assert httpx.get(f"{off.url}/metrics", timeout=20).status_code == 404


def test_bad_metrics_settings_are_refused_with_their_place(tmp_path: Path) -> None:
    (tmp_path / "cameras.yaml").write_text('cameras:\n  - {id: a, name: A, url: "rtsp://127.0.0.1:9/a"}\n')
    (tmp_path / "server.yaml").write_text("server:\n  metrics:\n    allow: [127.0.0.1, intranet]\n    token: short\n"
                                          "    scrape: yes\n")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path)
    text = "\n".join(err.value.problems)
    assert "server.metrics.allow" in text and "'intranet' is not an IP address" in text
    assert "server.metrics.token" in text and "server.metrics.scrape" in text


def test_a_closed_port_camera_is_offline_with_its_error_kind(serve_site, tmp_path: Path) -> None:
    """The refused camera's kind is reported, and the URL's port never appears as a label or value."""
    closed = free_port()
    site = serve_site(cameras_yaml(("gone", f"rtsp://{USER}:{PASSWORD}@127.0.0.1:{closed}/x")),
                      f"server:\n  data_dir: {tmp_path / 'data'}\n{FAST_STREAMS}")

    def refused() -> str | None:
        text = scrape(site)
        return text if value_with_kind(text, "gone") == "refused" else None

    assert wait_until(refused, 30, 0.5)
    text = refused() or scrape(site)
    assert state_of(text, "gone") in ("offline", "connecting")
    assert f":{closed}" not in text and f'"{closed}"' not in text
    assert PASSWORD not in text and USER not in text and "rtsp://" not in text


def value_with_kind(text: str, camera: str) -> str | None:
    for (name, labels), _ in samples(text).items():
        if name == "citywall_camera_last_error_timestamp_seconds" and dict(labels)["camera"] == camera:
            return dict(labels)["kind"]
    return None
