"""The README's commands, run as written in a fresh clone of the committed HEAD (issue 7 §6).

What a newcomer gets is a clone, not this working tree: a file someone forgot to commit, a command or option the
README names that does not exist, or a demo that leaves files in the checkout shows up only there. So the clone is
made like CI makes its checkout (``git clone`` beside a ``shared`` link to ``../shared``) and:

* every shell block of README.md must parse (``bash -n``), every ``citywall …`` command it names — in blocks and
  in inline code — must exist with every ``--option`` it shows (``--help`` of that command), every script it
  names must be executable, and every local link must point at a committed file;
* ``scripts/demo`` (the first of the two commands) starts the demo there, which must serve, log in with the
  printed password and stop on SIGINT with exit code 0, leaving nothing but ignored files in the clone;
* ``scripts/test`` (the second) runs as far as it can without running this suite inside itself: the Debian
  package check, ruff over the clone and pytest's collection of every test (``--collect-only``);
* and in a second clone with nothing beside it (no ``shared`` folder), ``scripts/test`` passes on the tests that
  prove the repository is enough: its own clips, its own RTSP server, its own demo site and model, and a skip
  that names where it looked for the AGPL models it does not have.

Both scripts install into ``.venv`` on a real first run, which would download and build every dependency again
(minutes, and a network CI may not have). They take ``CITYWALL_VENV=DIR`` to use an existing environment as it
is; this test passes the environment it runs in (``sys.prefix``), so nothing is installed or downloaded, and the
working tree's mypy cache (see :func:`script_env`).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from streams.devserver.rtsp import free_port
from tests.conftest import REPO, wait_until
from tests.test_demo import PASSWORD_LINE, Running, port_is_free
from vision.card import MODEL_PATH_ENV

pytestmark = pytest.mark.slow

SHARED = (REPO.parent / "shared").resolve()
FENCE = re.compile(r"^[ \t]*```(\w*)\n(.*?)^[ \t]*```", re.S | re.M)  # also fences indented in a list item
INLINE = re.compile(r"`([^`]+)`")  # inline code may wrap onto the next line
LINK = re.compile(r"\]\(([^)#\s]+)\)")
PLACEHOLDER = re.compile(r"^[a-z][a-z-]*(\|[a-z][a-z-]*)*$")  # `add|list|lock`: subcommand words, not NAME/URL
SUBCOMMANDS = re.compile(r"\{[a-z,-]+\}")  # how argparse's usage line lists a command's own subcommands
SCRIPT = re.compile(r"^(?:scripts|\.ci)/[\w.-]+$")


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``git clone`` of HEAD into a fresh directory that sits beside a ``shared`` link, as CI lays it out."""
    root = tmp_path_factory.mktemp("fresh")
    if SHARED.is_dir():
        (root / "shared").symlink_to(SHARED)
    subprocess.run(["git", "clone", "-q", str(REPO), str(root / "citywall")], check=True, timeout=120)
    return root / "citywall"


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without what would point a command back at the working tree or its data."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "CITYWALL_DATA_DIR", "CITYWALL_VENV", "VIRTUAL_ENV", MODEL_PATH_ENV)}
    return {**env, **extra}


def script_env() -> dict[str, str]:
    """What ``scripts/demo`` and ``scripts/test`` run with here: this environment as it is (nothing installed), and
    the working tree's mypy cache, which ``scripts/test`` filled just before pytest started. mypy checks each
    cached module against its source's hash, so a clone's differing file is still checked; a cold cache would add
    about a minute per run on this machine for the same third-party stubs."""
    return clean_env(CITYWALL_VENV=sys.prefix, MYPY_CACHE_DIR=str(REPO / ".mypy_cache"))


def readme(clone: Path) -> str:
    return (clone / "README.md").read_text(encoding="utf-8")


def shell_blocks(text: str) -> list[str]:
    return [body for lang, body in FENCE.findall(text) if lang in ("bash", "sh", "shell", "console")]


def command_lines(text: str) -> list[str]:
    """Each line of the shell blocks and each inline code span (whitespace normalised)."""
    lines = [line.strip() for block in shell_blocks(text) for line in block.splitlines()]
    return lines + [" ".join(span.split()) for span in INLINE.findall(FENCE.sub("", text))]


def citywall_commands(text: str) -> list[list[str]]:
    """Every ``citywall …`` command the README shows, as words; ``[--opt X]`` brackets dropped."""
    return [shlex.split(line.replace("[", " ").replace("]", " "))
            for line in command_lines(text) if line.startswith("citywall ")]


HELPS = """
import contextlib, io, json, sys
from wall.cli import main
out = {}
for words in json.loads(sys.argv[1]):
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        try:
            main([*words, "--help"])
            code = 0
        except SystemExit as exc:
            code = exc.code
    out[" ".join(words)] = text.getvalue() if code == 0 else None
print(json.dumps(out))
"""


def helps_of(clone: Path, targets: set[tuple[str, ...]]) -> dict[tuple[str, ...], str]:
    """``citywall WORDS --help`` of each target, by the clone's own code, in one interpreter (each ``python -m``
    start costs seconds on a loaded 2-core machine); a command that does not exist fails the test here."""
    res = subprocess.run([sys.executable, "-c", HELPS, json.dumps(sorted(targets))], cwd=clone, capture_output=True,
                         text=True, timeout=120, env=clean_env(PYTHONPATH=str(clone)))
    assert res.returncode == 0, res.stderr
    found = {tuple(k.split()): v for k, v in json.loads(res.stdout.strip().splitlines()[-1]).items()}
    missing = [" ".join(t) for t, text in found.items() if text is None]
    assert not missing, f"the README names commands that do not exist: {missing}"
    return found


def test_the_readme_starts_with_its_two_commands(clone: Path) -> None:
    text = readme(clone)
    assert re.findall(r"^## (.+)$", text, re.M)[0] == "Two commands"  # the first section after the intro
    section = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    assert [b.strip() for b in shell_blocks(section)] == ["scripts/demo", "scripts/test"]
    scripts = {line.split()[0] for line in command_lines(text) if line and SCRIPT.match(line.split()[0])}
    assert {"scripts/demo", "scripts/test"} <= scripts
    for script in scripts | {".ci/run"}:
        assert os.access(clone / script, os.X_OK), f"{script} is not executable in a fresh clone"
    assert "scripts/test" in (clone / ".ci/run").read_text(encoding="utf-8")  # CI runs the README's test command


def test_every_shell_block_parses(clone: Path) -> None:
    blocks = shell_blocks(readme(clone))
    assert len(blocks) >= 3
    for block in blocks:
        res = subprocess.run(["bash", "-n"], input=block, capture_output=True, text=True, timeout=30)
        assert res.returncode == 0, f"{block!r}: {res.stderr}"


def test_every_citywall_command_and_option_exists(clone: Path) -> None:
    commands = citywall_commands(readme(clone))
    assert len(commands) >= 8, commands
    helps = helps_of(clone, {(words[1],) for words in commands})
    targets_of: list[tuple[list[str], list[tuple[str, ...]]]] = []
    for words in commands:
        targets = [(words[1],)]
        if len(words) > 2 and PLACEHOLDER.match(words[2]) and SUBCOMMANDS.search(helps[(words[1],)]):
            targets = [(words[1], w) for w in words[2].split("|")]  # `user add|list|…`, `audit purge`
        targets_of.append((words, targets))
    helps |= helps_of(clone, {t for _, targets in targets_of for t in targets if len(t) > 1})
    for words, targets in targets_of:
        for option in {w.split("=", 1)[0] for w in words if w.startswith("--")}:
            assert any(option in helps[t] for t in targets), f"README names {' '.join(words)}: no {option}"


def test_every_local_link_is_committed(clone: Path) -> None:
    links = [link for link in LINK.findall(readme(clone)) if "://" not in link]
    assert links
    for link in links:
        assert (clone / link).exists(), f"README links {link}, which a fresh clone does not have"


def test_the_demo_command_in_a_fresh_clone(clone: Path) -> None:
    """``scripts/demo`` as the README says (plus ``--port``, which it forwards, to stay off a busy 8080)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    demo = Running(["scripts/demo", "--port", str(port)], clone, script_env())
    try:
        def serving() -> bool:
            assert demo.proc.poll() is None, f"scripts/demo ended early:\n{demo.output}"
            try:
                return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        assert wait_until(serving, 120, 0.5), demo.output
        assert wait_until(lambda: "Stop with Ctrl-C." in demo.output, 10), demo.output
        passwords = {m[2]: m[3] for line in demo.lines if (m := PASSWORD_LINE.match(line))}
        assert set(passwords) == {"admin", "operator"}, demo.output
        assert f"{url}/wall/hall?kiosk=1" in demo.output
        with httpx.Client(base_url=url, timeout=20) as client:
            assert client.post("/api/session", json={"username": "admin", "password": passwords["admin"]}
                               ).status_code == 200
            assert "<html" in client.get("/").text.lower()
            assert len(client.get("/api/cameras").json()) == 6
        # Its default data directory is in the clone, and git ignores it.
        assert (clone / "data" / "demo" / "citywall.sqlite3").is_file()

        demo.proc.send_signal(signal.SIGINT)
        assert demo.proc.wait(60) == 0, demo.output[-3000:]
        demo.reader.join(10)
        assert "Traceback" not in demo.output, demo.output[-3000:]
        assert port_is_free(port)
        status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True,
                                check=True)
        assert status.stdout == "", f"the demo left files in the checkout:\n{status.stdout}"
    finally:
        demo.kill()


def test_the_test_command_in_a_fresh_clone(clone: Path) -> None:
    """``scripts/test`` up to pytest's collection: running the suite from inside the suite would recurse."""
    res = subprocess.run(["scripts/test", "--collect-only", "-q", "-p", "no:cacheprovider"], cwd=clone,
                         capture_output=True, text=True, timeout=300, env=script_env())
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-5000:]
    assert f"== using {sys.prefix} as it is (CITYWALL_VENV)" in out
    assert "== ruff" in out and "All checks passed!" in out
    collected = re.search(r"^(\d+) tests collected", out, re.M)
    assert collected and int(collected[1]) > 100, out[-3000:]
    assert "tests/test_readme_commands.py::test_the_test_command_in_a_fresh_clone" in out
    assert "tests/test_demo.py::test_demo_serves_raises_a_case_and_stops_cleanly" in out


# What proves that a clone is enough, each once: the remux tests decode the repository's clips (they read
# ../shared/data/videos once), three probe tests run the RTSP development server on looped copies of them (open
# and with a password; the other probe tests need nothing from the repository), the demo test serves the bundled
# demo site with the bundled model through that server, and two detector tests load the AGPL cards (which pass
# without their weights) and skip, naming the path, where the weights are needed. The whole suite inside a test
# would take most of an hour; these take minutes and touch every resource a clone needs.
ALONE = [
    "tests/test_remux.py",
    "tests/test_probe.py::test_probe_measures_a_live_camera",
    "tests/test_probe.py::test_probe_plain_line",
    "tests/test_probe.py::test_probe_unauthorized_hides_the_password",
    "tests/test_demo.py::test_demo_rtsp_cameras_go_live_and_the_server_stops_with_it",
    "tests/test_detector.py::test_the_three_cards_load_and_name_their_licence",
    "tests/test_detector.py::test_card_with_the_wrong_head_fails",
]


@pytest.fixture(scope="module")
def lone_clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``git clone`` of HEAD into a fresh directory with nothing beside it: no ``shared`` folder."""
    root = tmp_path_factory.mktemp("alone").resolve()
    subprocess.run(["git", "clone", "-q", str(REPO), str(root / "citywall")], check=True, timeout=120)
    assert not (root / "shared").exists()
    return root / "citywall"


def test_the_test_command_passes_in_a_clone_with_nothing_beside_it(lone_clone: Path) -> None:
    """``scripts/test`` (ruff, the type check and pytest) on :data:`ALONE` in a clone without ``../shared``."""
    res = subprocess.run(["scripts/test", "-q", "-rs", "-p", "no:cacheprovider", *ALONE], cwd=lone_clone,
                         capture_output=True, text=True, timeout=1200, env=script_env())
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-5000:]
    looked = lone_clone.parent / "shared" / "data" / "models"
    skips = [line for line in out.splitlines() if line.startswith("SKIPPED")]
    assert skips and all(str(looked) in line for line in skips), out[-5000:]
    assert re.search(r"^\d+ passed, \d+ skipped", out, re.M), out[-3000:]
