"""One interpreter that runs ``citywall`` commands one after another, for the tests of the command line
(tests/test_cli_accounts.py, tests/test_probe.py).

Why: a ``python -m wall.cli`` start costs about 2.5 s of CPU on the project's 2-core machine, nearly all of it
importing the same modules again; the account and probe tests ran about 50 of them per suite run. The shell runs
``wall.cli.main`` per command with that command's own stdin, stdout and stderr, and the exit status the process
would have had (``SystemExit`` from argparse or a command, 1 with a traceback for an uncaught error). It runs in a
session of its own, detached from any terminal like the processes it stands in for, so getpass reads stdin. Those
tests still start each of their files' first commands as a real process (the entry point itself).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

# One JSON request a line on the shell's stdin ({"args", "stdin"}), one JSON answer a line on its stdout
# ({"code", "out", "err"}).
SHELL = r"""
import contextlib, io, json, os, sys, traceback
answers = os.fdopen(os.dup(1), "w")  # the answers' own descriptor: a library writing to fd 1 lands on stderr
os.dup2(2, 1)
from wall.cli import main
requests = sys.stdin
for line in requests:
    request = json.loads(line)
    out, err = io.StringIO(), io.StringIO()
    sys.stdin = io.StringIO(request["stdin"])
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(request["args"])
        except SystemExit as exc:
            code = exc.code
            if code is not None and not isinstance(code, int):
                print(code, file=sys.stderr)
                code = 1
        except BaseException:
            traceback.print_exc()
            code = 1
    sys.stdin = requests
    answers.write(json.dumps({"code": code or 0, "out": out.getvalue(), "err": err.getvalue()}) + "\n")
    answers.flush()
"""


def citywall_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


class CliShell:
    """``shell(*args, stdin=...)`` → the ``subprocess.CompletedProcess`` that ``python -m wall.cli ARGS`` gives."""

    def __init__(self, log: Path) -> None:
        self.log = log.open("w", encoding="utf-8")  # the shell's own stderr (nothing a command writes)
        self.proc = subprocess.Popen([sys.executable, "-c", SHELL], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, cwd=REPO, start_new_session=True,
                                     env=citywall_env())

    def __call__(self, *args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"args": list(args), "stdin": stdin or ""}) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)  # one answer a request: nothing buffered
        assert ready, f"citywall {' '.join(args)}: no answer within {timeout:.0f} s"
        line = self.proc.stdout.readline()
        assert line, f"the citywall shell ended (status {self.proc.poll()}) on: {' '.join(args)}"
        answer = json.loads(line)
        return subprocess.CompletedProcess(["citywall", *args], answer["code"], answer["out"], answer["err"])

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(30)
        finally:
            self.proc.kill()
            self.log.close()
