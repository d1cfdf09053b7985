"""FastAPI dependencies that hand routes the service's parts (``wall.services.Services``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI
from starlette.requests import HTTPConnection

from wall.services import Services


def app_services(app: FastAPI) -> Services:
    """The parts an app was built with (``wall.app.create_app`` puts them on its state, once)."""
    found: Services = app.state.services
    return found


def services(connection: HTTPConnection) -> Services:
    """The parts of the app that serves this request or socket."""
    return app_services(connection.app)


Parts = Annotated[Services, Depends(services)]
