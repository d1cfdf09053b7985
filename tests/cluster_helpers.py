"""What the cluster tests share (tests/test_cluster.py, tests/test_cluster_failures.py): a real Ray cluster on
loopback started once per module, the site's cluster-mode server.yaml, live views over real sockets and /metrics
scrapes."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from streams.devserver.rtsp import RtspDevServer
from tests.conftest import ADMIN, LiveServer, wait_until
from tests.pg import database_url

LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # every Ray process stays on 127.0.0.1
WORKER_NODES = 2  # the module cluster's nodes with a CPU; the head has none
SMALL_NODE: dict[str, Any] = {"object_store_memory": 80 * 1024**2, "node_ip_address": "127.0.0.1"}

ANALYTICS = """
cameras:
  lobby:
    zones:
      - id: table
        family: street_stall
        code: "0501"
        require_object: false
        polygon: [[0.40, 0.70], [0.80, 0.70], [0.80, 1.0], [0.40, 1.0]]
        dwell_seconds: 4
        grace_seconds: 4
        clear_after_seconds: 6
        alarm_interval_seconds: 5
        confirm: {hits: 2, looks: 3}
"""


def metric_samples(site: LiveServer) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """One scrape of /metrics, every sample by (name, labels)."""
    res = httpx.get(f"{site.url}/metrics", timeout=20)
    assert res.status_code == 200, res.text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(res.text) for s in family.samples}


def sample(scraped: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float | None:
    return scraped.get((name, frozenset(labels.items())))


def named(scraped: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str) -> list[dict[str, str]]:
    """The label sets of every sample called ``name``."""
    return [dict(labels) for n, labels in scraped if n == name]


@pytest.fixture(scope="module")
def ray_module_cluster() -> Iterator[Any]:
    """A head without CPUs (it runs no camera worker) and two worker nodes of one CPU, all on 127.0.0.1: started
    once for the module (~12 s); each test leaves it with no camera worker running (``ray_cluster``)."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in LOOPBACK.items():  # before Ray is imported: it reads them then
            patch.setenv(key, value)
        ray = pytest.importorskip("ray")
        from ray.cluster_utils import Cluster

        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False,
                                                                **SMALL_NODE})
        try:
            for _ in range(WORKER_NODES):
                cluster.add_node(num_cpus=1, **SMALL_NODE)
            cluster.wait_for_nodes()
            ray.init(address=cluster.address, namespace="citywall-test", log_to_driver=False)
            yield cluster
        finally:
            ray.shutdown()
            cluster.shutdown()


@pytest.fixture
def ray_cluster(ray_module_cluster: Any) -> Iterator[Any]:
    """The module's cluster; afterwards the test's camera workers (detached: they outlive their control plane)
    are killed and their CPUs free again, so the next test's workers find room on every node."""
    import ray

    from wall.cluster.worker_table import WORKER_PREFIX

    yield ray_module_cluster
    for entry in ray.util.list_named_actors(all_namespaces=True):
        if entry["name"].startswith(WORKER_PREFIX):
            with contextlib.suppress(ValueError):
                ray.kill(ray.get_actor(entry["name"], namespace=entry["namespace"]))
    nodes = sum(1 for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) >= 1)
    # A test that removed a node and failed before adding one back leaves the next test its two worker nodes.
    missing = max(0, WORKER_NODES - nodes)
    for _ in range(missing):
        ray_module_cluster.add_node(num_cpus=1, **SMALL_NODE)
    if missing:
        ray_module_cluster.wait_for_nodes()
        nodes = WORKER_NODES
    assert wait_until(lambda: ray.available_resources().get("CPU", 0) >= nodes, 30, 0.2)


def open_live(site: LiveServer, cam_id: str, user: str = ADMIN) -> ClientConnection:
    return connect(f"ws://127.0.0.1:{site.port}/ws/live/{cam_id}", open_timeout=20, close_timeout=10,
                   max_size=None, max_queue=None, additional_headers={"Cookie": site.cookie(user)})


def plays(ws: ClientConnection, timeout: float = 40.0) -> None:
    """The view sends the JSON init, the init segment and then at least two fragments (moof)."""
    deadline = time.monotonic() + timeout
    init, fragments = False, 0
    while fragments < 2:
        msg = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
        if isinstance(msg, str):
            init = init or json.loads(msg)["type"] == "init"
        elif init and msg[4:8] == b"moof":
            fragments += 1


def plays_again(site: LiveServer, cam_id: str, user: str = ADMIN, timeout: float = 60.0,
                most_reconnects: int = 3) -> int:
    """What the page does after its camera moved: connect, and on 1012 (the camera restarted or moved again
    while the new owner started it) connect again, until the view plays. Returns how many reconnects it took;
    more than ``most_reconnects`` fails (a camera bouncing between workers would)."""
    deadline = time.monotonic() + timeout
    reconnects = 0
    while True:
        try:
            with open_live(site, cam_id, user) as ws:
                plays(ws, timeout=max(1.0, deadline - time.monotonic()))
            return reconnects
        except ConnectionClosed as closed:
            if closed.rcvd is None or closed.rcvd.code != 1012 or time.monotonic() >= deadline:
                raise
            reconnects += 1
            assert reconnects <= most_reconnects, f"{cam_id}: {reconnects} restarts in a row"
            time.sleep(0.5)


def three_cameras(rtsp: RtspDevServer) -> str:
    """cameras.yaml of the cluster tests' site: the lobby analysed (ANALYTICS' rules), a lot and a shop."""
    return f"""
cameras:
  - {{id: lobby, name: 大厅, url: "{rtsp.url('person')}", analysis_interval: 1}}
  - {{id: lot, name: 停车场, url: "{rtsp.url('car')}"}}
  - {{id: shop, name: 商店, url: "{rtsp.url('bottle')}"}}
"""


def camera_states(client: httpx.Client) -> dict[str, str]:
    """Each camera's state as /api/cameras reports it."""
    return {c["id"]: c["state"] for c in client.get("/api/cameras").json()}


def cluster_server_yaml(tmp_path: Path, postgres_port: int, address: str, namespace: str) -> str:
    """server.yaml of a cluster-mode site: its data under ``tmp_path``, the store on the test PostgreSQL."""
    return f"""
server:
  data_dir: {tmp_path / 'data'}
  database_url: "{database_url(postgres_port)}"
cluster: {{address: "{address}", namespace: {namespace}}}
"""


def ends_with_restart(ws: ClientConnection, timeout: float = 30.0) -> int | None:
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ws.recv(timeout=max(0.1, deadline - time.monotonic()))
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    return None
