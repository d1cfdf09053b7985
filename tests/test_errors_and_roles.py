"""The one permission table (who may do what) and the one handler that turns domain errors into HTTP answers."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from wall.api.errors import install_error_handlers
from wall.auth.principal import PERMISSIONS, Permission, Principal, Role, parse_role, permissions_of, roles_with
from wall.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotAuthenticated,
    NotFound,
    TooMany,
    Unprocessable,
)
from wall.store.accounts import User


def test_permission_table() -> None:
    assert set(PERMISSIONS) == set(Role), "every role has its row"
    assert PERMISSIONS[Role.ADMIN] == frozenset(Permission)
    assert permissions_of(Role.OPERATOR) == [Permission.VIEW_WALL, Permission.REVIEW_CASES, Permission.CONTROL_WALLS,
                                             Permission.READ_STATISTICS, Permission.CONTROL_PTZ]
    assert permissions_of(Role.VIEWER) == [Permission.VIEW_WALL]
    assert roles_with(Permission.ADMINISTER) == roles_with(Permission.ALL_CAMERAS) == [Role.ADMIN]
    assert roles_with(Permission.REVIEW_CASES) == [Role.ADMIN, Role.OPERATOR]
    operator = Principal("kim", Role.OPERATOR)
    assert operator.may(Permission.CONTROL_WALLS) and not operator.may(Permission.ADMINISTER)
    assert not Principal("lee").may(Permission.REVIEW_CASES), "a principal is a viewer unless told otherwise"
    assert roles_with(Permission.CONTROL_PTZ) == [Role.ADMIN, Role.OPERATOR]
    steering = Principal("kim", Role.OPERATOR, cameras=frozenset({"a"}), ptz=frozenset({"a", "b"}))
    assert steering.may_control_ptz("a") and not steering.may_control_ptz("b"), "steering needs the view too"
    assert not Principal("lee", cameras=frozenset({"a"}), ptz=frozenset({"a"})).may_control_ptz("a"), "viewer"
    assert Principal("amy", Role.ADMIN, all_cameras=True).may_play_back("x")
    assert Principal("lee", playback=frozenset({"a"})).may_play_back("a"), "playback is a right of its own"


def test_roles_are_the_ones_the_database_accepts() -> None:
    (check,) = [c for c in User.__table_args__ if c.name == "ck_users_role"]
    assert set(re.findall(r"'(\w+)'", str(check.sqltext))) == {r.value for r in Role}


def test_parse_role() -> None:
    assert parse_role("operator") is Role.OPERATOR
    with pytest.raises(Invalid) as err:
        parse_role("boss\n")
    assert err.value.message == "'boss?' is not a role (admin, operator, viewer)"


@pytest.mark.parametrize(("error", "status"), [
    (Invalid("bad"), 400), (NotAuthenticated("who?"), 401), (Forbidden("no"), 403), (NotFound("none"), 404),
    (Conflict("taken"), 409), (Unprocessable("wrong"), 422), (TooMany("later"), 429), (DomainError("refused"), 400),
])
def test_each_kind_answers_its_status_with_the_one_body(error: DomainError, status: int) -> None:
    res = _client(error).get("/")
    assert (res.status_code, res.json()) == (status, {"detail": error.message})
    assert "retry-after" not in res.headers


def test_listed_problems_and_retry_after() -> None:
    res = _client(Unprocessable.of(["zones[0].code: unknown", "id: is required"])).get("/")
    assert (res.status_code, res.json()) == (422, {"detail": "zones[0].code: unknown; id: is required",
                                                   "problems": ["zones[0].code: unknown", "id: is required"]})
    res = _client(Conflict.of(["id: exists"])).get("/")
    assert (res.status_code, res.json()) == (409, {"detail": "id: exists", "problems": ["id: exists"]})
    res = _client(TooMany("try again later", retry_after=900)).get("/")
    assert (res.status_code, res.headers["retry-after"]) == (429, "900")


def test_a_subclass_answers_as_its_kind() -> None:
    class CaseMissing(NotFound):
        pass

    assert _client(CaseMissing("case not found")).get("/").status_code == 404


def _client(error: DomainError) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/")
    def fail() -> None:
        raise error

    return TestClient(app)
