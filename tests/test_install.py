"""A plain ``pip install .`` — not the editable install this suite runs from — serves ``citywall demo`` from a
working directory outside the checkout, up to its first pages.

Why: everything the service reads at run time (the pages, the migrations, the demo site and its clips, the
default model card with its weights, the event codes) must ship as package data and be found through
``importlib.resources`` (settings/packaged.py). A checkout or an editable install finds a file by its place in
the tree whatever ``pyproject.toml`` says, so only a real install shows a file the wheel leaves out, or a lookup
that still goes through ``Path(__file__).parents``.

To stay fast and offline the fresh environment gets citywall alone (``--no-deps``, built with this environment's
setuptools, ``--no-build-isolation``); its dependencies come from this suite's environment through a ``.pth``
line. Such a line only puts that ``site-packages`` on ``sys.path`` — the ``.pth`` files in it are not run — so the
suite's editable citywall (an import hook installed by one of those files) stays out of the new environment.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path

import httpx
import pytest

from streams.devserver.rtsp import free_port
from tests.conftest import REPO, wait_until
from tests.test_demo import Running
from tests.test_readme_commands import clean_env

pytestmark = pytest.mark.slow

# What a build must not see: other environments, build leftovers (setuptools copies a stale build/lib into the
# wheel), data and caches.
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "venv", "build", "dist", "data", "artifacts", "*.egg-info",
                                    "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".hypothesis")


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with citywall installed from a copy of this working tree, not editable."""
    root = tmp_path_factory.mktemp("plain-install")
    shutil.copytree(REPO, root / "src", ignore=NOT_SOURCE)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    own = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    (Path(own) / "suite-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    res = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                          "--ignore-installed", "--disable-pip-version-check", str(root / "src")],
                         cwd=root, env=clean_env(), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    return venv


def test_a_plain_install_serves_the_demo_outside_the_checkout(venv: Path, tmp_path: Path) -> None:
    python = venv / "bin" / "python"
    where = subprocess.run([str(python), "-c", "import settings, streams, vision, wall; "
                            "print('\\n'.join(m.__file__ for m in (settings, streams, vision, wall)))"],
                           cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=60)
    assert where.returncode == 0, where.stderr
    for module in where.stdout.split():
        assert venv in Path(module).parents, f"{module} is not the installed copy"

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # no --data-dir: an installed demo keeps its data under the current directory, never in site-packages
    demo = Running([str(venv / "bin" / "citywall"), "demo", "--port", str(port)], tmp_path, clean_env())
    try:
        def login_page() -> bool:
            assert demo.proc.poll() is None, f"the installed demo ended early:\n{demo.output}"
            try:
                return httpx.get(f"{url}/login", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        assert wait_until(login_page, 120, 0.5), demo.output
        assert "<html" in httpx.get(f"{url}/login", timeout=10).text.lower()
        assert httpx.get(f"{url}/", timeout=10, follow_redirects=True).status_code == 200
        assert wait_until(lambda: "Stop with Ctrl-C." in demo.output, 10), demo.output
        demo.proc.send_signal(signal.SIGINT)
        assert demo.proc.wait(60) == 0, demo.output[-3000:]
        demo.reader.join(10)
        assert "Traceback" not in demo.output, demo.output[-3000:]
        assert (tmp_path / "data" / "demo" / "citywall.sqlite3").is_file()
        assert not list(venv.glob("lib/python*/site-packages/data")), "the demo wrote into site-packages"
    finally:
        demo.kill()
