"""FastAPI dependencies that hand routes the service's parts (``wall.services.Services``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from wall.services import Services


def services(connection: HTTPConnection) -> Services:
    found: Services = connection.app.state.services
    return found


Parts = Annotated[Services, Depends(services)]
