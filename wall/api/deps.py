"""FastAPI dependencies that hand routes the service's parts (``wall.services.Services``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from wall.services import Services


def services(connection: HTTPConnection) -> Services:
    """The parts of the app that serves this request or socket."""
    return Services.of(connection.app)


Parts = Annotated[Services, Depends(services)]
