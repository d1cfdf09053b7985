"""The cluster-mode deployment examples are true: deploy/cluster/ (compose + config) and deploy/kuberay/.

CI here has no Docker and no Kubernetes, so what can be checked without them is checked against the real
parts: the compose file and the manifest are read as YAML and every address, port, CPU count, image and secret
in them is compared with what the others name (the head's port is what server.yaml's cluster.address names, the
workers join that address, the control plane's database host is the PostgreSQL service, each ${NAME} is in
deploy/env.example, one image everywhere, built with Ray); every ``ray start`` flag they use is an option of the
installed Ray's ``ray start``; the config directory goes through the real loader; the Dockerfile's requirements
step is run with the cluster build's EXTRAS. And the slow test runs the example for real on loopback: the
compose file's own ``ray start`` commands (a head and a worker node, on 127.0.0.1), the control plane from
deploy/cluster/config on a real PostgreSQL, ``citywall cluster status`` as a separate process.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from streams.devserver.rtsp import free_port
from tests.conftest import ADMIN, REPO, LiveServer, wait_until
from tests.pg import PG_PASSWORD
from tests.test_dockerfile import DOCKERFILE, SECRET_NAME, parse_dockerfile
from tests.test_docs import anchors
from tests.test_readme_commands import helps_of, shell_blocks
from wall.config import SiteConfig, load_config

CLUSTER = REPO / "deploy" / "cluster"
COMPOSE = CLUSTER / "compose.yaml"
CONFIG = CLUSTER / "config"
KUBERAY = REPO / "deploy" / "kuberay" / "raycluster.yaml"
ENV_EXAMPLE = REPO / "deploy" / "env.example"
GUIDE = REPO / "docs" / "deployment.md"
ENV = {"DB_PASSWORD": PG_PASSWORD, "METRICS_TOKEN": "metrics-token-0123456789",
       "CITYWALL_CAM_PASSWORD": "CamPass-0987", "PLATFORM_SECRET": ""}
REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[?-][^}]*)?\}")


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def manifest() -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(KUBERAY.read_text(encoding="utf-8"))}


def flags(words: list[str]) -> dict[str, str]:
    """The options of a command line: ``--name=value``, ``--name value``, and a bare ``--name`` as ""."""
    found: dict[str, str] = {}
    for i, word in enumerate(words):
        if word.startswith("--"):
            name, eq, value = word[2:].partition("=")
            following = words[i + 1] if i + 1 < len(words) else "--"
            found[name] = value if eq else ("" if following.startswith("-") else following)
    return found


def env_example_names() -> set[str]:
    return {line.split("=", 1)[0] for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
            if "=" in line and not line.startswith("#")}


def control_plane_steps(line: str) -> tuple[list[str], list[str]]:
    """The control plane's ``sh -c`` line: ``ray start …`` (joining as a node) ``&& exec citywall serve …``."""
    join, _, serve = line.partition("&&")
    words = shlex.split(serve)
    assert words[0] == "exec", line  # citywall replaces the shell: SIGTERM reaches it
    return shlex.split(join), words[1:]


def load_site(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, directory: Path = CONFIG, *,
              cluster: str | None = None, **extra: str) -> SiteConfig:
    """The config directory through the real loader, with the environment the control plane gets."""
    for key, value in {**ENV, **extra}.items():
        monkeypatch.setenv(key, value)
    if "DB_HOST" not in extra:
        monkeypatch.delenv("DB_HOST", raising=False)
    monkeypatch.setenv("CITYWALL_DATA_DIR", str(tmp_path / "data"))
    return load_config(directory, cluster_address=cluster)


@pytest.fixture(scope="module")
def ray_start_options() -> set[str]:
    """The options of the installed Ray's ``ray start`` (its --help, in a process of its own)."""
    out = subprocess.run([str(Path(sys.executable).with_name("ray")), "start", "--help"], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    return set(re.findall(r"^\s+--([a-z][a-z0-9-]*)", out, re.M))


# -- docker compose ------------------------------------------------------------------------------------------------


def test_the_compose_nodes_join_the_address_server_yaml_names(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                              ray_start_options: set[str]) -> None:
    services = compose()["services"]
    assert set(services) == {"db", "ray-head", "ray-worker", "citywall"}
    cluster = load_site(monkeypatch, tmp_path).server_file.cluster
    assert cluster is not None
    host, _, port = cluster.address.partition(":")
    head, worker, app = services["ray-head"], services["ray-worker"], services["citywall"]
    head_flags, worker_flags = flags(head["command"]), flags(worker["command"])
    assert head["entrypoint"] == ["ray"] and head["command"][0] == "start" and "head" in head_flags
    assert (host, port) == ("ray-head", head_flags["port"])  # cluster.address is the head service's GCS port
    assert "block" in head_flags and "block" in worker_flags  # ray start is the container's foreground process
    assert worker["entrypoint"] == ["ray"] and worker_flags["address"] == cluster.address
    assert worker["depends_on"]["ray-head"]["condition"] == "service_healthy"
    assert worker["deploy"]["replicas"] == 2  # two worker nodes (--scale ray-worker=N for more)
    join, serve = control_plane_steps(app["command"][0])
    assert app["entrypoint"] == ["/bin/sh", "-c"] and join[:2] == ["ray", "start"]
    assert flags(join)["address"] == cluster.address  # the driver's own Ray node joins the same cluster
    # One camera worker per node that offers worker_cpus: the worker nodes do, the head and the control plane not.
    assert float(worker_flags["num-cpus"]) >= cluster.worker_cpus
    assert float(head_flags["num-cpus"]) < cluster.worker_cpus and float(flags(join)["num-cpus"]) < cluster.worker_cpus
    assert serve[:4] == ["citywall", "serve", "--config", "/config"]
    assert "./config:/config:ro" in app["volumes"] and (COMPOSE.parent / "config" / "server.yaml").is_file()
    for name, node_flags in (("ray-head", head_flags), ("ray-worker", worker_flags), ("citywall", flags(join))):
        unknown = set(node_flags) - ray_start_options
        assert not unknown, f"{name}: not options of ray start {importlib.metadata.version('ray')}: {unknown}"
    # Each Ray node's health check asks a port that its command opens (the image's own asks citywall's /healthz).
    for service, checked in ((head, head_flags["port"]), (worker, worker_flags["node-manager-port"])):
        assert f"('127.0.0.1', {checked})" in service["healthcheck"]["test"][-1]


def test_the_compose_file_builds_one_image_with_ray_and_keeps_secrets_out() -> None:
    data = compose()
    services = data["services"]
    images = {name: s["image"] for name, s in services.items() if name != "db"}
    assert len(set(images.values())) == 1, images  # every node runs the same Python, Ray and citywall
    image = next(iter(images.values()))
    assert ":" in image and not image.endswith(":latest")
    for name, service in services.items():
        if name != "db":
            build = service["build"]
            assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
            assert set(build["args"]["EXTRAS"].split()) == {"postgres", "scale"}
        assert name == "citywall" or "ports" not in service, f"{name} publishes a port"
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key):
                assert re.fullmatch(r"\$\{[A-Z_]+(:[?-][^}]*)?\}", str(value)), f"{name}: {key} is not ${{...}}"
    db, app = services["db"], services["citywall"]
    assert db["image"].startswith("postgres:") and db["environment"]["POSTGRES_PASSWORD"].startswith("${DB_PASSWORD:?")
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert all(str(p).startswith("127.0.0.1:") for p in app["ports"])
    # Every ${NAME} of the compose file is in the env file it is run with; nothing else is asked of it.
    used = {m.group(1) for m in REF.finditer(json.dumps(data))}  # in values, not in comments
    assert used and used <= env_example_names(), used - env_example_names()
    # Every ${NAME} the config uses without a default is handed to the control plane (the workers need none).
    values = json.dumps([yaml.safe_load(p.read_text(encoding="utf-8")) for p in CONFIG.glob("*.yaml")])
    needed = {m.group(1) for m in REF.finditer(values) if not (m.group(2) or "").startswith(":-")}
    assert needed and needed <= set(app["environment"]), needed - set(app["environment"])
    for node in ("ray-head", "ray-worker"):
        assert not any(SECRET_NAME.search(key) for key in services[node].get("environment", {})), node


def test_the_cluster_config_loads_on_postgresql_with_its_environment(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    site = load_site(monkeypatch, tmp_path)
    server, cluster = site.server_file.server, site.server_file.cluster
    db = compose()["services"]["db"]["environment"]
    assert server.database_url == (f"postgresql+psycopg://{db['POSTGRES_USER']}:{ENV['DB_PASSWORD']}@db:5432/"
                                   f"{db['POSTGRES_DB']}")  # the compose service "db", its user and database
    assert cluster is not None and cluster.namespace == "citywall" and server.metrics.token == ENV["METRICS_TOKEN"]
    assert site.data_dir == tmp_path / "data" and len(site.cameras) == 2
    assert all(ENV["CITYWALL_CAM_PASSWORD"] in (c.url or "") for c in site.cameras)
    # What the KubeRay Deployment changes: the database host (DB_HOST) and the head (--cluster).
    moved = load_site(monkeypatch, tmp_path, cluster="citywall-head-svc:6379", DB_HOST="pg.internal")
    assert "@pg.internal:5432/" in str(moved.server_file.server.database_url)
    assert moved.server_file.cluster is not None and moved.server_file.cluster.address == "citywall-head-svc:6379"
    assert moved.server_file.cluster.worker_cpus == cluster.worker_cpus


def test_the_dockerfile_installs_ray_with_the_cluster_build_args(tmp_path: Path) -> None:
    """The requirements step of the Dockerfile, run by sh as Docker runs it, with the default EXTRAS and with
    the compose file's: the cluster image gets the scale extra (ray, psycopg), the plain one does not."""
    instructions = parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))
    default = next(i.args for i in instructions if i.keyword == "ARG" and i.args.startswith("EXTRAS="))
    step = next(i.args for i in instructions if i.keyword == "RUN" and "/tmp/requirements.txt" in i.args)
    step = step.split("> /tmp/requirements.txt")[0] + "> requirements.txt"
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    extras = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    assert {re.split(r"[\[<>=]", d)[0] for d in extras["scale"]} == {"ray", "psycopg"}  # what cluster mode uses
    built = compose()["services"]["ray-head"]["build"]["args"]["EXTRAS"]
    for value, has_ray in ((default.partition("=")[2], False), (built, True)):
        subprocess.run(["sh", "-c", step], cwd=tmp_path, env={**os.environ, "EXTRAS": value}, check=True,
                       timeout=60)
        lines = (tmp_path / "requirements.txt").read_text(encoding="utf-8").splitlines()
        assert any(line.startswith("psycopg") for line in lines), value
        assert any(line.startswith("ray") for line in lines) is has_ray, (value, lines)


# -- KubeRay ---------------------------------------------------------------------------------------------------------


def test_the_kuberay_manifest_has_what_kuberay_requires(ray_start_options: set[str],
                                                       monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cluster = load_site(monkeypatch, tmp_path).server_file.cluster
    assert cluster is not None
    worker_cpus = cluster.worker_cpus
    docs = manifest()
    assert set(docs) == {"RayCluster", "Deployment", "Service", "PersistentVolumeClaim"}
    ray_cluster, deployment = docs["RayCluster"], docs["Deployment"]
    assert ray_cluster["apiVersion"] == "ray.io/v1"
    spec = ray_cluster["spec"]
    installed = importlib.metadata.version("ray").split(".")[:2]
    assert spec["rayVersion"].split(".")[:2] == installed, "rayVersion is not the Ray these tests run"
    image = compose()["services"]["citywall"]["image"]
    head = spec["headGroupSpec"]
    workers = spec["workerGroupSpecs"]
    groups = [head, *workers]
    uid = re.search(r"--uid (\d+)", DOCKERFILE.read_text(encoding="utf-8"))
    assert uid is not None
    for group in groups:
        params = group["rayStartParams"]
        assert all(isinstance(v, str) for v in params.values()), params  # KubeRay's rayStartParams: strings
        assert set(params) <= ray_start_options, set(params) - ray_start_options
        pod = group["template"]["spec"]
        container = pod["containers"][0]  # KubeRay runs Ray in the first container
        assert container["image"] == image
        assert pod["securityContext"]["runAsUser"] == int(uid.group(1)) and pod["securityContext"]["runAsNonRoot"]
        # The image has no wget and no dashboard: KubeRay's default probes would fail, so the manifest has its own.
        assert "tcpSocket" in container["readinessProbe"] and "tcpSocket" in container["livenessProbe"]
    assert head["rayStartParams"]["num-cpus"] == "0"
    assert head["template"]["spec"]["containers"][0]["readinessProbe"]["tcpSocket"]["port"] == 6379
    assert len(workers) == 1
    group = workers[0]
    assert group["groupName"] and group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    assert float(group["rayStartParams"]["num-cpus"]) == worker_cpus
    resources = group["template"]["spec"]["containers"][0]["resources"]
    assert float(resources["requests"]["cpu"]) == float(resources["limits"]["cpu"]) == worker_cpus
    probe_port = group["template"]["spec"]["containers"][0]["readinessProbe"]["tcpSocket"]["port"]
    assert str(probe_port) == group["rayStartParams"]["node-manager-port"]
    # The control plane: one replica, never two at once, joining the head's Service; secrets only by reference.
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == image and pod["securityContext"]["runAsUser"] == int(uid.group(1))
    join, serve = control_plane_steps(container["args"][0])
    head_service = f"{ray_cluster['metadata']['name']}-head-svc:6379"
    assert flags(join)["address"] == head_service == flags(serve[2:])["cluster"]
    assert float(flags(join)["num-cpus"]) < worker_cpus and set(flags(join)) <= ray_start_options
    assert serve[:4] == ["citywall", "serve", "--config", "/config"]
    env = {e["name"]: e for e in container["env"]}
    refs = {e["valueFrom"]["secretKeyRef"]["key"] for e in env.values() if "valueFrom" in e}
    assert refs and refs <= env_example_names()  # the Secret is made from the env file: kubectl --from-env-file
    for name, entry in env.items():
        assert not SECRET_NAME.search(name) or "value" not in entry, f"{name} has a literal value"
    assert "DB_HOST" in env and "${DB_HOST" in (CONFIG / "server.yaml").read_text(encoding="utf-8")
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "configMap" in volumes[mounts["/config"]] and mounts["/dev/shm"] in volumes
    claim = docs["PersistentVolumeClaim"]["metadata"]["name"]
    assert volumes[mounts["/data"]]["persistentVolumeClaim"]["claimName"] == claim
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    service = docs["Service"]["spec"]
    assert service["selector"] == deployment["spec"]["template"]["metadata"]["labels"]
    assert service["ports"][0]["targetPort"] in {p["name"] for p in container["ports"]}
    assert not re.search(r"(?i)password\s*:\s*\S", KUBERAY.read_text(encoding="utf-8"))


# -- the guide -----------------------------------------------------------------------------------------------------


def guide_section() -> str:
    text = GUIDE.read_text(encoding="utf-8")
    assert "\n## From one box to a cluster\n" in text
    return text.split("\n## From one box to a cluster\n", 1)[1].split("\n## ", 1)[0]


def test_the_guide_commands_exist_and_name_files_that_exist() -> None:
    section = guide_section()
    blocks = shell_blocks(section)
    assert blocks
    commands: list[list[str]] = []
    for block in blocks:
        res = subprocess.run(["bash", "-n"], input=block, capture_output=True, text=True, timeout=30)
        assert res.returncode == 0, f"{block!r}: {res.stderr}"
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            at = [i for i, w in enumerate(words[:-1]) if w == "citywall" and words[i + 1][:1].isalpha()
                  and words[i + 1] != "citywall"]
            if at:
                commands.append(words[at[-1]:])
            for i, word in enumerate(words):
                option, eq, value = word.partition("=")
                if option in ("-f", "--env-file", "--from-file", "--from-env-file") and (eq or i + 1 < len(words)):
                    path = value if eq else words[i + 1]
                    assert (REPO / path).exists() or path == "deploy/.env", f"{path} does not exist"
    assert {("cluster", "status"), ("serve",)} <= {tuple(w[1:3]) if w[1] == "cluster" else (w[1],) for w in commands}
    helps = helps_of(REPO, {tuple(w[1:3]) if w[1] in ("cluster", "user") else (w[1],) for w in commands})
    for words in commands:
        target = tuple(words[1:3]) if words[1] in ("cluster", "user") else (words[1],)
        for option in {w.split("=", 1)[0] for w in words if w.startswith("--")}:
            assert option in helps[target], f"the guide names {' '.join(words)}: no {option}"
    for link, anchor in re.findall(r"\]\(([^)#\s]+)#?([^)\s]*)\)", section):
        assert (GUIDE.parent / link).exists(), link
        assert not anchor or anchor in anchors(GUIDE.parent / link), f"{link}#{anchor}: no such heading"


# -- the example for real, on loopback --------------------------------------------------------------------------

LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # drivers stay on 127.0.0.1 (tests/test_cluster.py)


@contextlib.contextmanager
def ray_node(words: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``ray <words>`` (a ``ray start … --block``) in a process group of its own; on leaving, that group — the
    command and the GCS, raylet and workers it started — is ended (SIGTERM, then SIGKILL). The node is kept on
    loopback by its ``--node-ip-address``: with LOOPBACK in its environment ``ray start --address`` refuses to
    join a cluster at all (it takes the machine for one that cannot have several nodes)."""
    env = {k: v for k, v in os.environ.items() if k not in LOOPBACK}
    with log.open("wb") as out:
        proc = subprocess.Popen([str(Path(sys.executable).with_name("ray")), *words], stdout=out,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        yield proc
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            if wait_until(lambda: not _group_alive(proc.pid), 20, 0.2):
                break
        proc.wait(10)


def answers(port: int) -> bool:
    """What the compose health checks ask: does 127.0.0.1:port accept a connection?"""
    try:
        socket.create_connection(("127.0.0.1", port), 3).close()
    except OSError:
        return False
    return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def loopback_command(words: list[str], **replace: str) -> list[str]:
    """A compose command with its ports moved to free loopback ones (``replace``: option → new value) and the
    node kept on 127.0.0.1 with a small object store; every other word as the compose file has it."""
    out = [f"--{w[2:].partition('=')[0]}={replace[w[2:].partition('=')[0]]}"
           if w.startswith("--") and w[2:].partition("=")[0] in replace else w for w in words]
    assert all(f"--{name}={value}" in out for name, value in replace.items()), (words, replace)
    return [*out, "--node-ip-address=127.0.0.1", f"--object-store-memory={80 * 1024**2}"]


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_the_compose_commands_run_the_config_on_a_real_cluster(postgres_server: int, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The compose file's ``ray start`` commands as written (ports moved to free ones, on 127.0.0.1) make a
    head and a worker node; deploy/cluster/config, its database host and cameras moved to loopback, serves on a
    real PostgreSQL in cluster mode (``--cluster``, as the KubeRay Deployment runs it): both cameras run on the
    one camera worker, on the worker node; ``citywall cluster status`` (a process of its own) shows them."""
    services = compose()["services"]
    gcs = free_port()
    address = f"127.0.0.1:{gcs}"
    head = loopback_command(services["ray-head"]["command"], port=str(gcs))
    worker = loopback_command(services["ray-worker"]["command"], address=address,
                              **{"node-manager-port": str(free_port())})
    config = tmp_path / "config"
    shutil.copytree(CONFIG, config)
    server_yaml = (config / "server.yaml").read_text(encoding="utf-8")
    assert ":5432/" in server_yaml
    (config / "server.yaml").write_text(server_yaml.replace(":5432/", f":{postgres_server}/"), encoding="utf-8")
    cameras_yaml = (config / "cameras.yaml").read_text(encoding="utf-8")
    closed = free_port()  # nothing listens there: the cameras are offline, and no traffic leaves the machine
    cameras_yaml = re.sub(r"@192\.0\.2\.\d+:554/", f"@127.0.0.1:{closed}/", cameras_yaml)
    (config / "cameras.yaml").write_text(cameras_yaml, encoding="utf-8")
    for key, value in LOOPBACK.items():  # before the control plane imports Ray: it reads them then
        monkeypatch.setenv(key, value)
    site_config = load_site(monkeypatch, tmp_path, config, cluster=address, DB_HOST="127.0.0.1")
    ids = sorted(c.id for c in site_config.cameras)
    from wall.app import create_app

    with ray_node(head, tmp_path / "head.log") as head_process, contextlib.ExitStack() as stack:
        # compose starts the workers and the control plane once the head's health check (its GCS port) answers
        assert wait_until(lambda: answers(gcs) or head_process.poll() is not None, 120, 0.5)
        assert head_process.poll() is None, (tmp_path / "head.log").read_text(errors="replace")
        stack.enter_context(ray_node(worker, tmp_path / "worker.log"))
        site = LiveServer(create_app(site_config), free_port()).__enter__()
        try:
            site.add_user(ADMIN, "admin")
            import ray

            assert site.app.state.services.db.engine.dialect.name == "postgresql"
            runtime = site.app.state.services.runtime

            def placed() -> bool:
                return sorted(cam for slot in runtime.pool.slots() if slot.report
                              for cam in slot.report.owned) == ids

            assert wait_until(placed, 120, 0.5), "".join(p.read_text(errors="replace")[-3000:]
                                                          for p in tmp_path.glob("*.log"))
            nodes = {n["NodeID"]: n for n in ray.nodes() if n.get("Alive")}
            cpus = {node_id: n.get("Resources", {}).get("CPU", 0) for node_id, n in nodes.items()}
            slots = runtime.pool.slots()
            assert len(slots) == 1 and cpus[slots[0].report.node_id] == float(flags(worker)["num-cpus"])
            assert httpx.get(f"{site.url}/healthz", timeout=20).json()["status"] == "ok"
            listed = {c["id"]: c["state"] for c in site.client(timeout=20).get("/api/cameras").json()}
            assert sorted(listed) == ids and set(listed.values()) <= {"connecting", "offline"}, listed
            status = subprocess.run([str(Path(sys.executable).with_name("citywall")), "cluster", "status", "--config",
                                     str(config), "--cluster", address], capture_output=True, text=True,
                                    timeout=120, env={**os.environ, **LOOPBACK})
            assert status.returncode == 0, status.stdout + status.stderr
            workers = [line for line in status.stdout.splitlines() if line.startswith("worker ")]
            assert len(workers) == 1 and "2 cameras" in workers[0], status.stdout
            assert all(cam in workers[0] for cam in ids), status.stdout
            assert ENV["CITYWALL_CAM_PASSWORD"] not in status.stdout + status.stderr
        finally:
            site.__exit__(None, None, None)
