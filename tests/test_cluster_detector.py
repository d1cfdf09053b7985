"""Detector actors (wall/cluster/detector.py): on a node with a GPU, one actor runs the site's model for the node's
camera worker; looks it does not answer are detected by the worker itself.

This machine has no GPU. The cluster test's node *declares* one (``num_gpus=1``): Ray books it like a real one,
so placement, the actor's resource and the worker's use of it are exercised for real, while ONNX Runtime, which
finds no CUDA here, runs the model on the CPU provider (the last of the configured providers) — the test checks
the provider list it reports rather than assuming CUDA. The batching is tested on the real model in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from streams.devserver.rtsp import RtspDevServer
from tests.cluster_helpers import (
    ANALYTICS,
    LOOPBACK,
    SMALL_NODE,
    camera_states,
    cluster_server_yaml,
    metric_samples,
    sample,
)
from tests.conftest import SiteStarter, run_async, wait_until
from vision.card import DEFAULT_CARD
from vision.detector import Detector
from wall.cluster_settings import DetectorActorSettings

pytestmark = pytest.mark.slow


def frames(media_dir: Path, count: int, stride: int = 75) -> list[np.ndarray]:
    """``count`` real frames of the person clip, ``stride`` frames apart (3 s: people come and go in it)."""
    capture = cv2.VideoCapture(str(media_dir / "person.mp4"))
    out: list[np.ndarray] = []
    index = 0
    while len(out) < count:
        ok, image = capture.read()
        assert ok, "the clip is long enough"
        if index % stride == 0:
            out.append(image)
        index += 1
    capture.release()
    return out


def same(a: Any, b: Any) -> bool:
    return bool(np.allclose(a.xyxy, b.xyxy, atol=0.5) and np.array_equal(a.class_id, b.class_id))


def test_batcher_joins_concurrent_looks_and_answers_each_its_own(media_dir: Path) -> None:
    from wall.cluster.batching import DetectorBatcher

    detector = Detector(DEFAULT_CARD)
    images = frames(media_dir, 6)
    alone = [detector.detect([image])[0] for image in images]
    assert sum(len(d) for d in alone) > 0, "the frames show people"

    async def run(settings: DetectorActorSettings, split: list[int]) -> tuple[list[list[Any]], Any]:
        batcher = DetectorBatcher(DEFAULT_CARD, settings, name="t", detector=detector)
        parts, at = [], 0
        for n in split:
            parts.append(images[at:at + n])
            at += n
        answers = await asyncio.gather(*(batcher.detect(part) for part in parts))
        return answers, batcher.stats()

    # Three workers' looks within the window: one run of all six frames, each answer its own frames in order.
    answers, stats = run_async(run(DetectorActorSettings(window_ms=50, max_batch=32), [2, 3, 1]))
    assert (stats.requests, stats.runs, stats.frames, stats.max_batch_seen) == (3, 1, 6, 6)
    flat = [d for answer in answers for d in answer]
    assert [len(a) for a in answers] == [2, 3, 1] and all(same(d, e) for d, e in zip(flat, alone, strict=True))
    # A run never exceeds max_batch and never splits a request: 3 + 3 frames with max_batch 4 are two runs.
    answers, stats = run_async(run(DetectorActorSettings(window_ms=50, max_batch=4), [3, 3]))
    assert (stats.runs, stats.max_batch_seen) == (2, 3)
    assert all(same(d, e) for d, e in zip([d for a in answers for d in a], alone, strict=True))
    assert stats.queued_frames == 0 and stats.busy_seconds > 0


def test_a_failed_run_fails_only_its_own_looks(media_dir: Path) -> None:
    from wall.cluster.batching import DetectorBatcher

    class Broken(Detector):
        def detect(self, images: Any, score_threshold: float | None = None) -> Any:
            raise RuntimeError("the GPU fell off the bus")

    async def run() -> Any:
        batcher = DetectorBatcher(DEFAULT_CARD, DetectorActorSettings(window_ms=0), detector=Broken(DEFAULT_CARD))
        with pytest.raises(RuntimeError, match="fell off"):
            await batcher.detect(frames(media_dir, 1))
        return batcher.stats()

    assert run_async(run()).runs == 0


@pytest.fixture(scope="module")
def gpu_cluster() -> Iterator[Any]:
    """A head without CPUs and one worker node of one CPU that declares one GPU (a stand-in: none here)."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in LOOPBACK.items():
            patch.setenv(key, value)
        ray = pytest.importorskip("ray")
        from ray.cluster_utils import Cluster

        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False,
                                                                **SMALL_NODE})
        try:
            cluster.add_node(num_cpus=1, num_gpus=1, **SMALL_NODE)
            cluster.wait_for_nodes()
            ray.init(address=cluster.address, namespace="citywall-gpu", log_to_driver=False)
            yield cluster
        finally:
            ray.shutdown()
            cluster.shutdown()


def test_a_gpu_node_detects_in_its_detector_actor_and_survives_losing_it(
        gpu_cluster: Any, rtsp: RtspDevServer, serve_site: SiteStarter, postgres_server: int,
        tmp_path: Path) -> None:
    import ray

    from wall.cluster.detector import DETECTOR_PREFIX
    from wall.cluster.status import print_status

    cameras = f"""
cameras:
  - {{id: lobby, name: 大厅, url: "{rtsp.url('person')}", analysis_interval: 1}}
"""
    server = cluster_server_yaml(tmp_path, postgres_server, gpu_cluster.address, "citywall-gpu")
    site = serve_site(cameras, server, ANALYTICS)
    runtime = site.app.state.services.runtime
    client: httpx.Client = site.client(timeout=20)
    assert wait_until(lambda: camera_states(client) == {"lobby": "live"}, 90, 0.5), camera_states(client)

    def use() -> Any:
        reports = [slot.report for slot in runtime.pool.slots() if slot.report is not None]
        return reports[0].detector_actor if reports else None

    assert wait_until(lambda: use() is not None and use().looks >= 3, 60, 0.5), use()
    name = use().actor
    assert name.startswith(DETECTOR_PREFIX) and use().fallbacks == 0
    actors = [a for a in ray.util.list_named_actors(all_namespaces=True) if a["name"] == name]
    assert len(actors) == 1
    handle = ray.get_actor(name, namespace=actors[0]["namespace"])
    stats = ray.get(handle.stats.remote(), timeout=10)
    gpu_node = next(n for n in ray.nodes() if n.get("Resources", {}).get("GPU"))
    assert stats.node_id == gpu_node["NodeID"], "placed on the node that has the GPU"
    assert stats.providers[-1] == "CPUExecutionProvider" and stats.requests >= 3 and stats.frames >= 3
    assert ray.available_resources().get("GPU", 0) == 0, "the actor holds the node's GPU"

    scraped = metric_samples(site)
    slot = runtime.pool.slots()[0]
    labels = {"worker": slot.key, "node": slot.report.node_id[:8]}
    assert (sample(scraped, "citywall_worker_detector_actor_looks_total", **labels) or 0) >= 3
    shown = io.StringIO()
    assert print_status(runtime.settings, shown) == 0
    assert f"detects with {name}" in shown.getvalue() and f"detector {name} node" in shown.getvalue()

    # The actor's process dies: the worker detects its looks itself until Ray has restarted the actor, then
    # uses it again; the camera's analytics never stop.
    def analysed() -> int:
        counters = runtime.analytics_counters()
        return counters.pipeline.frames_analysed if counters is not None else 0

    before = analysed()
    ray.kill(handle, no_restart=False)
    assert wait_until(lambda: use().fallbacks >= 1, 60, 0.5), use()
    assert wait_until(lambda: analysed() >= before + 3, 60, 0.5)
    after = use().looks
    assert wait_until(lambda: use().looks > after, 90, 0.5), "back on the restarted actor"
    assert camera_states(client) == {"lobby": "live"}
    for entry in ray.util.list_named_actors(all_namespaces=True):  # detached: they outlive the control plane
        if entry["name"].startswith(("citywall-worker-", DETECTOR_PREFIX)):
            with contextlib.suppress(ValueError):
                ray.kill(ray.get_actor(entry["name"], namespace=entry["namespace"]))


def test_a_promoted_model_reaches_the_running_workers_and_their_detector_actor(
        gpu_cluster: Any, rtsp: RtspDevServer, serve_site: SiteStarter, postgres_server: int,
        tmp_path: Path) -> None:
    """A promotion in cluster mode (the registry's model change, as the admin console's promote and rollback
    make it) switches the worker's analytics and its node's detector actor without a restart; a worker process
    Ray restarts in place comes back with the site's first card and is switched again."""
    import os
    import shutil
    import signal

    import ray

    from wall.services import Services

    cameras = f"""
cameras:
  - {{id: lobby, name: 大厅, url: "{rtsp.url('person')}", analysis_interval: 1}}
"""
    server = cluster_server_yaml(tmp_path, postgres_server, gpu_cluster.address, "citywall-gpu")
    site = serve_site(cameras, server, ANALYTICS)
    parts = Services.of(site.app)
    runtime = parts.runtime
    client: httpx.Client = site.client(timeout=20)
    assert wait_until(lambda: camera_states(client) == {"lobby": "live"}, 90, 0.5), camera_states(client)
    first = DEFAULT_CARD.resolve()
    assert wait_until(lambda: runtime.model_in_service() == first, 60, 0.5), runtime.model_in_service()

    candidate = parts.site.directory / "models" / "candidate"  # a site's trained card: another file, same weights
    candidate.mkdir(parents=True)
    for name in (DEFAULT_CARD.name, "yolox_nano_coco_416.onnx"):
        shutil.copy(DEFAULT_CARD.parent / name, candidate / name)
    card = (candidate / DEFAULT_CARD.name).resolve()

    def report() -> Any:
        reports = [slot.report for slot in runtime.pool.slots() if slot.report is not None]
        return reports[0] if len(reports) == 1 else None

    def actor_model() -> str:
        use = report().detector_actor
        entry = next(a for a in ray.util.list_named_actors(all_namespaces=True) if a["name"] == use.actor)
        return ray.get(ray.get_actor(use.actor, namespace=entry["namespace"]).stats.remote(), timeout=10).model

    assert wait_until(lambda: report() is not None and report().detector_actor is not None, 60, 0.5)
    assert Path(actor_model()).resolve() == first
    parts.registry.put_model(card)
    assert wait_until(lambda: runtime.model_in_service() == card, 60, 0.5), report().model
    assert Path(actor_model()).resolve() == card, "the node's detector actor switched with the worker"
    looks = report().detector_actor.looks
    assert wait_until(lambda: report().detector_actor.looks >= looks + 3, 60, 0.5), "looks go on, on the actor"
    assert report().detector_actor.fallbacks == 0

    # The worker's process dies: Ray starts it again with the card of the site's start, the supervisor sees
    # that in its first report and switches it back to the promoted one.
    pid, incarnation = report().pid, report().incarnation
    os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: report() is not None and report().incarnation != incarnation, 90, 0.5)
    assert wait_until(lambda: runtime.model_in_service() == card, 60, 0.5), report().model
    assert wait_until(lambda: camera_states(client) == {"lobby": "live"}, 60, 0.5), camera_states(client)
    for entry in ray.util.list_named_actors(all_namespaces=True):
        if entry["name"].startswith(("citywall-worker-", "citywall-detector-")):
            with contextlib.suppress(ValueError):
                ray.kill(ray.get_actor(entry["name"], namespace=entry["namespace"]))
