"""What every API router shares: the request-body base, the error body and the documented error answers."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict


class ErrorOut(BaseModel):
    detail: str


class ValidationItem(BaseModel):
    """One problem of a request that did not validate (FastAPI's shape, without the input it echoed)."""

    loc: list[str | int]
    msg: str
    type: str


class InvalidOut(BaseModel):
    """A 422: the request did not validate (a list of problems) or the service refused what it asked (one line)."""

    detail: str | list[ValidationItem]


class Closed(BaseModel):
    """Request bodies: unknown keys are errors, and strings are taken as sent (a password's spaces count)."""

    model_config = ConfigDict(extra="forbid")


Answers = dict[int | str, dict[str, Any]]  # a route's documented answers, as FastAPI's ``responses=`` takes them


def error(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


def invalid(description: str) -> dict[str, Any]:
    """A documented 422 of a route that refuses some valid-looking requests itself as well (``InvalidOut``)."""
    return {"model": InvalidOut, "description": description}


UNAUTHENTICATED: Answers = {401: error("not logged in, or the session ended")}
ADMIN_ONLY: Answers = {**UNAUTHENTICATED, 403: error("the user is not an admin")}


def document_common_answers(app: FastAPI, public: set[tuple[str, str]]) -> None:
    """Every /api operation may answer 401 (no session), every state-changing one 403 (foreign Origin), every
    one with a body 400 (unparseable): declare them in the OpenAPI schema for routes that do not say so
    themselves (the case routes included)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes, description=app.description)
        error_ref = {"$ref": "#/components/schemas/ErrorOut"}
        schema.setdefault("components", {}).setdefault("schemas", {})["ErrorOut"] = ErrorOut.model_json_schema()
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                responses = operation.setdefault("responses", {})
                if path.startswith("/api/") and (method.upper(), path) not in public:
                    responses.setdefault("401", {"description": "not logged in, or the session ended",
                                                 "content": {"application/json": {"schema": error_ref}}})
                if "requestBody" in operation:
                    responses.setdefault("400", {"description": "the body cannot be parsed (not UTF-8 JSON)",
                                                 "content": {"application/json": {"schema": error_ref}}})
                if method.upper() in ("POST", "PUT", "PATCH", "DELETE"):
                    responses.setdefault("403", {"description": "forbidden (role, or a foreign Origin)",
                                                 "content": {"application/json": {"schema": error_ref}}})
        app.openapi_schema = schema
        return schema

    # FastAPI documents replacing app.openapi as the way to extend the schema; mypy refuses any method assignment
    app.openapi = openapi  # type: ignore[method-assign]
