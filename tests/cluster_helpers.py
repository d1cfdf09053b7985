"""What the cluster tests share (tests/test_cluster.py, tests/test_cluster_failures.py, …): a real Ray cluster on
loopback, the site's cluster-mode server.yaml, live views over real sockets and /metrics scrapes.

The cluster is started once and kept while the worker's next test file uses it too (``ray_module_cluster``): the
files of a Ray scope (tests/scheduling.py) run on one xdist worker one after another, and each start costs about
12 s of a quiet machine's two cores (more under load). Before the worker goes on to a file that does not use it —
one that starts a Ray of its own, or none — it is shut down (``release_unless_needed``, called from
tests/conftest.py after every test), so no idle cluster holds memory or CPU while other files run. Each test leaves
it as it found it (``ray_cluster``): no camera worker running, two worker nodes."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
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


class SharedCluster:
    """The one cluster of this process: a head without CPUs (it runs no camera worker) and two worker nodes of one
    CPU, all on 127.0.0.1, with this process connected as the driver."""

    cluster: Any = None

    @classmethod
    def get(cls) -> Any:
        if cls.cluster is None:
            for key, value in LOOPBACK.items():  # before Ray is imported: it reads them then (conftest sets them too)
                os.environ.setdefault(key, value)
            ray = pytest.importorskip("ray")
            from ray.cluster_utils import Cluster

            cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False,
                                                                    **SMALL_NODE})
            try:
                for _ in range(WORKER_NODES):
                    cluster.add_node(num_cpus=1, **SMALL_NODE)
                cluster.wait_for_nodes()
                ray.init(address=cluster.address, namespace="citywall-test", log_to_driver=False)
            except BaseException:
                cluster.shutdown()
                raise
            cls.cluster = cluster
            atexit.register(cls.stop)  # a run interrupted between two tests leaves no Ray process behind
        return cls.cluster

    @classmethod
    def stop(cls) -> None:
        if cls.cluster is not None:
            import ray

            cluster, cls.cluster = cls.cluster, None
            try:
                ray.shutdown()
            finally:
                cluster.shutdown()


def uses_shared_cluster(item: pytest.Item | None) -> bool:
    """Whether ``item``'s file has a test on the shared cluster (its other tests run between them)."""
    if item is None:
        return False
    module = getattr(item, "module", None)
    return any(FIXTURE in getattr(other, "fixturenames", ()) for other in item.session.items
               if getattr(other, "module", None) is module)


FIXTURE = "ray_module_cluster"


def release_unless_needed(nextitem: pytest.Item | None) -> None:
    """After a test: shut the shared cluster down unless the worker's next test is in a file that uses it."""
    if SharedCluster.cluster is not None and not uses_shared_cluster(nextitem):
        SharedCluster.stop()


@pytest.fixture(scope="module")
def ray_module_cluster() -> Any:
    """The shared cluster (started here if the worker's previous file did not leave it running, ~12 s)."""
    return SharedCluster.get()


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
