"""The container image and its compose deployment.

Where a Docker daemon answers, the image is built and inspected. CI here has none, so the Dockerfile is always
also checked by a small linter (non-root USER, HEALTHCHECK on /healthz, pinned base images, no ADD of URLs, no
secrets in ENV/ARG, exec-form ENTRYPOINT+CMD that runs ``citywall serve --config /config``, volumes for config and
data) — and the linter is shown to fail on each mistake it is meant to catch. The compose file is read as YAML and
checked the same way, and its citywall configuration is loaded and served for real against a throwaway
PostgreSQL server (skipped where no PostgreSQL server binaries are installed).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from tests.case_helpers import event_change
from tests.conftest import REPO, start_site
from tests.pg import PG_PASSWORD
from wall.config import load_config

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
COMPOSE = REPO / "deploy" / "compose.yaml"
DEPLOY_CONFIG = REPO / "deploy" / "config"
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|CREDENTIAL", re.IGNORECASE)
URL_WITH_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^\s/:@'\"]+:[^\s/@'\"$]+@", re.IGNORECASE)
IGNORED_IN_CONTEXT = (".git", ".venv", "data", "artifacts")


# -- a small Dockerfile linter --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form instruction, or None for shell form."""
        if not self.args.startswith("["):
            return None
        try:
            value = json.loads(self.args)
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with their continuation lines joined; comments (also inside continuations) dropped, as
    Docker does."""
    out: list[Instruction] = []
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not buffer):
            continue
        if not buffer:
            start = number
        if raw.rstrip().endswith("\\"):
            buffer += raw.rstrip()[:-1] + " "
            continue
        buffer += raw
        keyword, _, args = buffer.strip().partition(" ")
        out.append(Instruction(keyword.upper(), " ".join(args.split()) if not args.strip().startswith("[")
                               else args.strip(), start))
        buffer = ""
    if buffer:
        out.append(Instruction("<UNFINISHED>", buffer, start))
    return out


def _healthcheck_command(instruction: Instruction) -> str:
    args = instruction.args
    while args.startswith("--"):
        _, _, args = args.partition(" ")
    return args


def lint_dockerfile(instructions: list[Instruction]) -> list[str]:
    """Everything wrong with the image's recipe, one line each; empty when it is fit for a command hall."""
    problems: list[str] = []
    stages: set[str] = set()
    final: list[Instruction] = []
    base = ""
    for ins in instructions:
        if ins.keyword == "<UNFINISHED>":
            problems.append(f"line {ins.line}: the file ends inside a continued line")
        if ins.keyword == "FROM":
            words = [w for w in ins.args.split() if not w.startswith("--")]
            image = words[0] if words else ""
            if len(words) >= 3 and words[1].upper() == "AS":
                stages.add(words[2].lower())
            if image.lower() not in stages:
                tag = image.rpartition(":")[2] if ":" in image.split("/")[-1] else ""
                if "@sha256:" not in image and not tag:
                    problems.append(f"line {ins.line}: base image '{image}' has no tag (pin a version)")
                elif tag == "latest":
                    problems.append(f"line {ins.line}: base image '{image}' uses 'latest' (pin a version)")
            base, final = image, []
            continue
        final.append(ins)
        if ins.keyword == "ADD" and re.search(r"\b(https?|ftp|git)://|git@", ins.args):
            problems.append(f"line {ins.line}: ADD of a URL (download nothing unverified; COPY local files)")
        if ins.keyword in ("ENV", "ARG"):
            for key, value in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)(?:=(\"[^\"]*\"|\S*))?", ins.args):
                if SECRET_NAME.search(key) and value.strip('"'):
                    problems.append(f"line {ins.line}: {ins.keyword} {key} bakes a secret into the image")
        if ins.keyword == "RUN" and "apt-get install" in ins.args and "--no-install-recommends" not in ins.args:
            problems.append(f"line {ins.line}: apt-get install without --no-install-recommends")
        if URL_WITH_PASSWORD.search(ins.args):
            problems.append(f"line {ins.line}: a URL with a password")
    if not base:
        return [*problems, "no FROM"]
    if not base.startswith("python:3.11-slim"):
        problems.append(f"the final image is based on '{base}', not python:3.11-slim")
    users = [ins for ins in final if ins.keyword == "USER"]
    if not users:
        problems.append("no USER: the service would run as root")
    elif users[-1].args.split(":")[0] in ("root", "0"):
        problems.append(f"line {users[-1].line}: the service runs as root")
    checks = [ins for ins in final if ins.keyword == "HEALTHCHECK"]
    if not checks or _healthcheck_command(checks[-1]).upper() == "NONE":
        problems.append("no HEALTHCHECK")
    elif "/healthz" not in checks[-1].args:
        problems.append(f"line {checks[-1].line}: the HEALTHCHECK does not ask /healthz")
    entry = [ins for ins in final if ins.keyword == "ENTRYPOINT"]
    cmd = [ins for ins in final if ins.keyword == "CMD"]
    command: list[str] = []
    for part in (entry[-1:] + cmd[-1:]):
        form = part.exec_form()
        if form is None:
            problems.append(f"line {part.line}: {part.keyword} in shell form (signals would not reach citywall)")
        else:
            command += form
    if not command or Path(command[0]).name != "citywall":
        problems.append(f"the container command {command} does not run citywall")
    elif "serve" not in command or "--config" not in command or \
            command[command.index("--config") + 1: command.index("--config") + 2] != ["/config"]:
        problems.append(f"the container command {command} is not 'citywall serve --config /config'")
    port = command[command.index("--port") + 1] if "--port" in command[:-1] else "8080"
    exposed = {p.split("/")[0] for ins in final if ins.keyword == "EXPOSE" for p in ins.args.split()}
    if port not in exposed:
        problems.append(f"port {port} of the command is not EXPOSEd")
    if checks and f":{port}/healthz" not in checks[-1].args:
        problems.append(f"the HEALTHCHECK does not ask port {port}")
    volumes: set[str] = set()
    for ins in final:
        if ins.keyword == "VOLUME":
            volumes.update(ins.exec_form() or ins.args.split())
    for needed in ("/config", "/data"):
        if needed not in volumes:
            problems.append(f"no VOLUME {needed}")
    return problems


def lint_dockerignore(text: str) -> list[str]:
    """``COPY . .`` must not carry git history, virtualenvs, local data or test artifacts into the image."""
    patterns = {line.strip().strip("/") for line in text.splitlines() if line.strip() and not line.startswith("#")}
    return [f".dockerignore does not exclude {name}" for name in IGNORED_IN_CONTEXT if name not in patterns]


def test_the_dockerfile_passes_the_lint() -> None:
    instructions = parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))
    assert lint_dockerfile(instructions) == []
    assert lint_dockerignore(DOCKERIGNORE.read_text(encoding="utf-8")) == []
    keywords = [i.keyword for i in instructions]
    assert "ADD" not in keywords and keywords[0] == "FROM"


def _mutate(instructions: list[Instruction], keyword: str, args: str | None) -> list[Instruction]:
    """Replace the last ``keyword`` instruction's arguments (None: remove it)."""
    index = max(i for i, ins in enumerate(instructions) if ins.keyword == keyword)
    changed = list(instructions)
    if args is None:
        del changed[index]
    else:
        changed[index] = dataclasses.replace(changed[index], args=args)
    return changed


def _append(instructions: list[Instruction], keyword: str, args: str) -> list[Instruction]:
    return [*instructions, Instruction(keyword, args, 999)]


MISTAKES = [
    ("root user", lambda i: _mutate(i, "USER", "root"), "runs as root"),
    ("no user", lambda i: _mutate(i, "USER", None), "no USER"),
    ("latest tag", lambda i: _mutate(i, "FROM", "python:latest"), "uses 'latest'"),
    ("untagged", lambda i: _mutate(i, "FROM", "python"), "has no tag"),
    ("other base", lambda i: _mutate(i, "FROM", "debian:12"), "not python:3.11-slim"),
    ("add url", lambda i: _append(i, "ADD", "https://example.com/tool.tar.gz /opt/"), "ADD of a URL"),
    ("no healthcheck", lambda i: _mutate(i, "HEALTHCHECK", None), "no HEALTHCHECK"),
    ("healthcheck none", lambda i: _mutate(i, "HEALTHCHECK", "NONE"), "no HEALTHCHECK"),
    ("healthcheck elsewhere", lambda i: _mutate(i, "HEALTHCHECK", 'CMD ["true"]'), "does not ask /healthz"),
    ("not citywall", lambda i: _mutate(i, "ENTRYPOINT", '["python", "-m", "http.server"]'), "does not run"),
    ("shell form", lambda i: _mutate(i, "CMD", "serve --config /config"), "shell form"),
    ("other config", lambda i: _mutate(i, "CMD", '["serve", "--config", "/etc/x"]'), "is not 'citywall serve"),
    ("secret env", lambda i: _append(i, "ENV", "DB_PASSWORD=hunter2-hunter2"), "bakes a secret"),
    ("secret arg", lambda i: _append(i, "ARG", "METRICS_TOKEN=abcdefabcdefabcdef"), "bakes a secret"),
    ("url password", lambda i: _append(i, "RUN", "citywall probe rtsp://admin:pw123@10.0.0.1/x"), "with a password"),
    ("no volumes", lambda i: _mutate(i, "VOLUME", None), "no VOLUME /config"),
    ("port mismatch", lambda i: _mutate(i, "EXPOSE", "9000"), "is not EXPOSEd"),
    ("apt recommends", lambda i: _append(i, "RUN", "apt-get update && apt-get install -y ffmpeg"), "apt-get"),
]


@pytest.mark.parametrize(("mutation", "expected"), [pytest.param(m, e, id=n) for n, m, e in MISTAKES])
def test_the_lint_catches_each_mistake(mutation, expected: str) -> None:
    instructions = parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))
    problems = lint_dockerfile(mutation(instructions))
    assert any(expected in p for p in problems), problems


def test_the_parser_joins_continuations_and_drops_comments() -> None:
    text = "FROM python:3.11-slim\n# a comment\nRUN a \\\n    # inside\n    && b\nUSER x\nCMD [\"citywall\"\n"
    parsed = parse_dockerfile(text)
    assert [(i.keyword, i.line) for i in parsed] == [("FROM", 1), ("RUN", 3), ("USER", 6), ("CMD", 7)]
    assert parsed[1].args == "a && b"
    assert any("continued line" in p for p in lint_dockerfile(parse_dockerfile("FROM python:3.11-slim\nRUN a \\\n")))
    assert lint_dockerignore(".git\n") == [f".dockerignore does not exclude {n}" for n in IGNORED_IN_CONTEXT[1:]]


def _docker_usable() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.slow
@pytest.mark.skipif(not _docker_usable(), reason="no Docker daemon here; the Dockerfile is linted instead")
@pytest.mark.timeout(2400)
def test_the_image_builds_and_runs_as_a_non_root_user() -> None:
    tag = f"citywall-test:{os.getpid()}"
    try:
        subprocess.run(["docker", "build", "-t", tag, str(REPO)], check=True, timeout=2100)
        config = json.loads(subprocess.run(["docker", "image", "inspect", tag], check=True, capture_output=True,
                                           text=True).stdout)[0]["Config"]
        assert config["User"] == "citywall" and "/healthz" in " ".join(config["Healthcheck"]["Test"])
        assert config["Entrypoint"] == ["citywall"] and config["Cmd"][:3] == ["serve", "--config", "/config"]
        assert set(config["Volumes"]) == {"/config", "/data"}
        assert not any(SECRET_NAME.search(e.split("=")[0]) for e in config["Env"])
        run = subprocess.run(["docker", "run", "--rm", tag, "--help"], capture_output=True, text=True, timeout=120)
        assert run.returncode == 0 and "serve" in run.stdout
        font = subprocess.run(["docker", "run", "--rm", "--entrypoint", "python", tag, "-c",
                               "from vision.evidence import cjk_font; print(cjk_font())"],
                              capture_output=True, text=True, timeout=120)
        assert font.returncode == 0 and "wqy" in font.stdout.lower(), font  # the captions are drawn in Chinese
    finally:
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True, check=False)


# -- compose ---------------------------------------------------------------------------------------------------------

DEPLOY_ENV = {"DB_PASSWORD": PG_PASSWORD, "METRICS_TOKEN": "metrics-token-0123456789",
              "CITYWALL_CAM_PASSWORD": "CamPass-0987", "PLATFORM_SECRET": ""}


def test_the_compose_file_pins_images_and_keeps_secrets_in_the_environment() -> None:
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    services = compose["services"]
    assert set(services) == {"db", "citywall"}
    for name, service in services.items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), name
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key):
                assert re.fullmatch(r"\$\{[A-Z_]+(:[?-][^}]*)?\}", str(value)), f"{name}: {key} is not ${{...}}"
    db, app = services["db"], services["citywall"]
    assert db["image"].startswith("postgres:") and "ports" not in db  # the database is not published
    assert db["environment"]["POSTGRES_PASSWORD"].startswith("${DB_PASSWORD:?")
    assert "pg_isready" in db["healthcheck"]["test"]
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert app["build"]["context"] == ".." and (COMPOSE.parent / app["build"]["context"] / "Dockerfile").is_file()
    assert "./config:/config:ro" in app["volumes"] and any(v.endswith(":/data") for v in app["volumes"])
    assert all(str(p).startswith("127.0.0.1:") for p in app["ports"])  # behind the proxy only
    # the files mounted as /config: every ${NAME} they use is provided to the container
    values = json.dumps([yaml.safe_load(p.read_text(encoding="utf-8")) for p in DEPLOY_CONFIG.glob("*.yaml")])
    used = set(re.findall(r"\$\{([A-Z_]+)\}", values))  # in values, not in comments
    assert used and used <= set(app["environment"])
    text = COMPOSE.read_text(encoding="utf-8") + "".join(p.read_text() for p in DEPLOY_CONFIG.glob("*.yaml"))
    userinfos = re.findall(r"://([^\s/@]+)@", text)
    assert userinfos and all(u.partition(":")[2].startswith("${") for u in userinfos), userinfos
    # deploy/.env holds the filled-in secrets: git must ignore it (asked of git itself in a checkout; of the
    # .gitignore's lines in an exported tree)
    ignored = subprocess.run(["git", "check-ignore", "-q", "deploy/.env"], cwd=REPO, check=False,
                             capture_output=True)
    if ignored.returncode == 128:  # not a git work tree
        assert "/deploy/.env" in (REPO / ".gitignore").read_text(encoding="utf-8").splitlines()
    else:
        assert ignored.returncode == 0, "deploy/.env must be ignored by git"


def test_the_deploy_config_loads_with_its_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key, value in DEPLOY_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CITYWALL_DATA_DIR", str(tmp_path / "data"))
    site = load_config(DEPLOY_CONFIG)
    server = site.server_file.server
    assert server.database_url == (f"postgresql+psycopg://citywall:{DEPLOY_ENV['DB_PASSWORD']}@db:5432/"
                                   "citywall")
    assert server.metrics.token == DEPLOY_ENV["METRICS_TOKEN"] and server.host == "0.0.0.0"
    assert site.data_dir == tmp_path / "data"  # the image's CITYWALL_DATA_DIR=/data wins over server.data_dir
    assert all(DEPLOY_ENV["CITYWALL_CAM_PASSWORD"] in (c.url or "") for c in site.cameras)


# -- the deployment's database: a real PostgreSQL server (the postgres_server fixture, tests/pg.py) ----------------


@pytest.mark.slow
def test_the_deploy_config_serves_on_postgresql(postgres_server: int, monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    """deploy/config as the container reads it — only the database host differs (127.0.0.1 instead of the
    compose service 'db') — with cases, the outbox and /metrics on PostgreSQL."""
    for key, value in DEPLOY_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CITYWALL_DATA_DIR", str(tmp_path / "data"))
    server_yaml = (DEPLOY_CONFIG / "server.yaml").read_text(encoding="utf-8")
    assert "@db:5432/" in server_yaml
    server_yaml = server_yaml.replace("@db:5432/", f"@127.0.0.1:{postgres_server}/")
    site = start_site(tmp_path, (DEPLOY_CONFIG / "cameras.yaml").read_text(encoding="utf-8"), server_yaml)
    try:
        assert site.app.state.services.db.engine.dialect.name == "postgresql"
        assert httpx.get(f"{site.url}/healthz", timeout=20).json()["status"] == "ok"
        desk = site.app.state.services.cases.desk
        camera = site.app.state.services.site.cameras[0].id
        case = desk.on_event(event_change(desk.evidence_dir, camera=camera))
        admin = site.client()
        confirmed = admin.post(f"/api/cases/{case}/confirm", json={}, headers={"Origin": site.origin})
        assert confirmed.status_code == 200, confirmed.text
        assert httpx.get(f"{site.url}/metrics", timeout=20).status_code == 200  # loopback, as configured
        bearer = {"Authorization": f"Bearer {DEPLOY_ENV['METRICS_TOKEN']}", "X-Forwarded-For": "198.51.100.7"}
        relayed = httpx.get(f"{site.url}/metrics", headers=bearer, timeout=20)
        assert relayed.status_code == 200
        assert "citywall_database_up 1.0" in relayed.text
        assert f'citywall_cases_confirmed_total{{camera="{camera}",code="0501"}} 1.0' in relayed.text
        assert DEPLOY_ENV["DB_PASSWORD"] not in relayed.text and DEPLOY_ENV["CITYWALL_CAM_PASSWORD"] not in relayed.text
        listed = admin.get("/api/cameras")
        assert listed.status_code == 200 and listed.json()[0]["id"] == camera
        assert "rtsp://" not in listed.text and DEPLOY_ENV["CITYWALL_CAM_PASSWORD"] not in listed.text
    finally:
        site.__exit__(None, None, None)
