"""Schemathesis against the app's own OpenAPI schema, over a real socket, as three callers: nobody (no
session), an operator and an admin. Whatever they send, the service never answers 5xx, and every answer has a
status, a content type and a body the schema documents. Bounded (few examples per operation) but run in CI.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
import schemathesis.specs.openapi.schemas  # at collection: CPython gh-106905 (see test_platform_api)
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from streams.devserver.rtsp import free_port
from tests.conftest import LiveServer, start_site

pytestmark = pytest.mark.slow

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
FUZZ = settings(max_examples=8, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
# Without a session every operation but login answers 401 before it reads its input: a few examples show that;
# the inputs themselves are fuzzed as the operator and the admin (and bodies in tests/test_hostile_inputs.py).
ANONYMOUS = settings(FUZZ, max_examples=3)


@pytest.fixture(scope="module")
def fuzz_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    directory: Path = tmp_path_factory.mktemp("fuzz")
    port = free_port()  # cameras that never connect: the API is what is fuzzed, not video
    cameras = "cameras:\n" + "".join(
        f'  - {{id: {c}, name: {c}, url: "rtsp://127.0.0.1:{port}/{c}", group: north}}\n' for c in ("car", "gate"))
    site = start_site(directory, cameras)
    site.add_user("op", "operator", grants=("group:north",))
    yield site
    site.__exit__(None, None, None)


def describe(exc: BaseException) -> str:
    parts = [f"{type(exc).__name__}: {exc}"]
    for sub in getattr(exc, "exceptions", ()):
        parts.append(describe(sub))
    return "\n".join(parts)


def fuzz(site: LiveServer, user: str | None, skip: set[tuple[str, str]] = frozenset(),
         budget: settings = FUZZ) -> int:
    """Every operation, valid and invalid inputs; returns the number of requests. Fails listing every
    operation that broke a check (not only the first)."""
    api = schemathesis.openapi.from_url(f"{site.url}/openapi.json")
    headers = {"Cookie": site.cookie(user)} if user else {}
    failures: list[str] = []
    calls = 0
    for result in api.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in skip:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @budget
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case: schemathesis.Case) -> None:
                nonlocal calls
                calls += 1
                case.call_and_validate(base_url=site.url, headers=headers, checks=CHECKS)

            try:
                check()
            except Unsatisfiable:
                pass  # no input of this kind exists (e.g. no invalid input for an operation without parameters)
            except Exception as exc:  # a failing check: keep going, report them all
                failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {describe(exc)}")
    assert not failures, "\n\n".join(failures)
    return calls


# Logging out would only turn the rest of an authenticated run into 401s.
LOGOUT = {("DELETE", "/api/session")}


def test_api_without_a_session(fuzz_site: LiveServer) -> None:
    assert fuzz(fuzz_site, None, budget=ANONYMOUS) > 100


def test_api_as_operator(fuzz_site: LiveServer) -> None:
    assert fuzz(fuzz_site, "op", LOGOUT) > 100


def test_api_as_admin(fuzz_site: LiveServer) -> None:
    # the only admin cannot be locked, disabled or demoted (409): the run stays an admin's throughout
    assert fuzz(fuzz_site, "admin", LOGOUT) > 100
    assert fuzz_site.client().get("/api/me").json()["role"] == "admin"
