"""What the cluster benchmark stands on: a throwaway PostgreSQL, a Ray cluster on loopback, the CPU of a process
tree, and pinning a process to cores.

The benchmark does not import tests/: ``tests/pg.py`` is a pytest helper (it skips tests), so the few lines that
start PostgreSQL are repeated here with the same settings (scram-sha-256, user and database owner ``citywall``,
``fsync=off``, run as the ``postgres`` user when this is root), and the Ray cluster is built the way
tests/test_cluster.py builds it (a head without CPUs, worker nodes of one CPU, every Ray process on 127.0.0.1).
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.devserver.rtsp import free_port

# Ray turns 127.0.0.1 into the machine's own address unless this is in the environment of every Ray process,
# the driver included: set before Ray is first imported (bench.cluster.main does it before anything else).
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
NODE_ARGS: dict[str, Any] = {"object_store_memory": 80 * 1024**2, "node_ip_address": "127.0.0.1"}
WORKER_PROCESS = "ray::CameraWorker"  # the proctitle Ray gives a CameraWorker actor's process


class Postgres:
    """A PostgreSQL server of its own on a free loopback port, one database per site (``database``)."""

    def __init__(self, *, fsync: bool = False) -> None:
        """``fsync=True`` for a benchmark that measures durable commits (bench.cases); off otherwise, as in the
        tests: nothing here must survive a power cut."""
        self.fsync = fsync
        initdb = shutil.which("initdb") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))), None)
        if initdb is None or not Path(initdb).resolve().with_name("postgres").is_file():
            raise RuntimeError("PostgreSQL server binaries are not installed (apt-get install postgresql)")
        self.initdb, self.postgres = initdb, str(Path(initdb).resolve().with_name("postgres"))
        self.password = secrets.token_hex(12)
        self.port = free_port()
        self.base = Path(tempfile.mkdtemp(prefix="citywall-bench-pg-"))
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []  # it refuses root
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Postgres:
        import psycopg

        (self.base / "pw").write_text(self.password + "\n")
        if self.as_user:
            for path in (self.base, self.base / "pw"):
                shutil.chown(path, "postgres")
        subprocess.run([*self.as_user, self.initdb, "-D", str(self.base / "data"), "-U", "citywall", "--pwfile",
                        str(self.base / "pw"), "--auth=scram-sha-256", "-E", "UTF8", "--locale=C"], check=True,
                       capture_output=True, timeout=120)
        self.proc = subprocess.Popen([*self.as_user, self.postgres, "-D", str(self.base / "data"), "-p",
                                      str(self.port), "-k", str(self.base), "-c", "listen_addresses=127.0.0.1",
                                      "-c", f"fsync={'on' if self.fsync else 'off'}"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                with psycopg.connect(self._dsn("postgres"), connect_timeout=2):
                    return self
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError("PostgreSQL did not start") from None
                time.sleep(0.2)

    def _dsn(self, dbname: str) -> str:
        return f"host=127.0.0.1 port={self.port} user=citywall password={self.password} dbname={dbname}"

    def database(self, name: str) -> str:
        """A new empty database; its SQLAlchemy URL (each site of the run starts on a fresh store)."""
        import psycopg

        with psycopg.connect(self._dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://citywall:{self.password}@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(OSError, ValueError, IndexError):  # the postmaster itself, not runuser
                os.kill(int((self.base / "data" / "postmaster.pid").read_text().split()[0]), 2)  # SIGINT: fast
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None
        shutil.rmtree(self.base, ignore_errors=True)


class RayCluster:
    """``ray.cluster_utils.Cluster`` on 127.0.0.1: a head with no CPUs (it runs no camera worker) and worker
    nodes of one CPU each; this process is the driver every site of the run shares."""

    def __init__(self, worker_nodes: int) -> None:
        import ray
        from ray.cluster_utils import Cluster

        assert os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER") == "0", "set LOOPBACK_ENV before importing ray"
        self.cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False,
                                                                     **NODE_ARGS})
        for _ in range(worker_nodes):
            self.add_node()
        self.cluster.wait_for_nodes()
        ray.init(address=self.cluster.address, namespace="citywall-bench", log_to_driver=False)

    @property
    def address(self) -> str:
        return str(self.cluster.address)

    def add_node(self) -> Any:
        return self.cluster.add_node(num_cpus=1, **NODE_ARGS)

    def worker_nodes(self) -> list[Any]:
        return list(self.cluster.worker_nodes)

    def remove_node(self, node: Any) -> None:
        self.cluster.remove_node(node)

    def kill_workers(self) -> None:
        """The camera workers are detached (they outlive their control plane): a site's are killed after it,
        and the next site waits until every node's CPU is free again."""
        import ray

        from wall.cluster.worker_table import WORKER_PREFIX

        for entry in ray.util.list_named_actors(all_namespaces=True):
            if entry["name"].startswith(WORKER_PREFIX):
                with contextlib.suppress(ValueError):
                    ray.kill(ray.get_actor(entry["name"], namespace=entry["namespace"]))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            nodes = sum(1 for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) >= 1)
            if ray.available_resources().get("CPU", 0) >= nodes:
                return
            time.sleep(0.2)

    def shutdown(self) -> None:
        import ray

        ray.shutdown()
        self.cluster.shutdown()


# -- CPU of the processes involved (from /proc: psutil is not a dependency of citywall or of Ray) --------------
GROUPS = ("control plane", "camera workers", "ray daemons", "postgresql")
TICK = os.sysconf("SC_CLK_TCK")
PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


@dataclass(frozen=True)
class ProcSample:
    group: str
    cpu_s: float  # user + system of the process, all its threads
    rss_mb: float


def _stat(pid: int) -> tuple[int, float, int] | None:
    """(parent pid, user + system CPU seconds, start time in ticks) of a process; None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()  # comm may hold spaces
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK, int(fields[19])


def _group(pid: int) -> str:
    if pid == os.getpid():
        return "control plane"  # the benchmark is the control plane's process (uvicorn in a thread) and driver
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0].decode(errors="replace")
    except OSError:
        argv0 = ""
    if argv0.startswith(WORKER_PROCESS):
        return "camera workers"
    if Path(argv0).name.startswith(("postgres", "runuser")):  # runuser: PostgreSQL's parent when this is root
        return "postgresql"
    return "ray daemons"  # gcs_server, raylets, their agents, idle Ray workers


def descendants(root: int) -> set[int]:
    """``root`` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None:
            children.setdefault(st[0], []).append(int(entry))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo += children.get(pid, [])
    return found


def tree_sample(excluded: Iterable[int]) -> dict[tuple[int, int], ProcSample]:
    """CPU and RSS of this process and all its descendants (Ray's processes are started by this driver, the
    camera workers by their raylets), except the ``excluded`` processes and their descendants (the RTSP server,
    the viewers). Keyed by (pid, start time), so a pid reused within a window is not mistaken for the old one."""
    skip: set[int] = set()
    for pid in excluded:
        skip |= descendants(pid)
    out: dict[tuple[int, int], ProcSample] = {}
    for pid in descendants(os.getpid()) - skip:
        st = _stat(pid)
        try:
            rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_MB
        except (OSError, IndexError, ValueError):
            continue  # ended while we looked
        if st is not None:
            out[(pid, st[2])] = ProcSample(_group(pid), st[1], rss)
    return out


def cpu_by_group(first: dict[tuple[int, int], ProcSample],
                 last: dict[tuple[int, int], ProcSample]) -> dict[str, float]:
    """CPU seconds per group between two samples; a process started inside the window counts from 0 (one that
    ended inside it is lost: none should, in a measured window)."""
    out = dict.fromkeys(GROUPS, 0.0)
    for key, sample in last.items():
        out[sample.group] += sample.cpu_s - (first[key].cpu_s if key in first else 0.0)
    return {k: round(v, 3) for k, v in out.items()}


def rss_by_group(sample: dict[tuple[int, int], ProcSample]) -> dict[str, float]:
    """Resident memory per group (a sum of RSS: pages shared between processes count once per process)."""
    out = dict.fromkeys(GROUPS, 0.0)
    for s in sample.values():
        out[s.group] += s.rss_mb
    return {k: round(v, 1) for k, v in out.items()}


def pin(pid: int, cores: set[int]) -> None:
    """Every thread of ``pid`` onto ``cores`` (threads started later inherit their creator's affinity)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(int(tid), cores)
