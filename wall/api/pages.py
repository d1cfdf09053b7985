"""The pages: static HTML whose scripts ask ``/api/me`` first and go to ``/login`` without a session.

Every datum a page shows comes from the API, which checks the session and the grants itself; so the pages
need no login of their own, only headers that keep them from being framed or loading anything foreign.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter
from fastapi.responses import FileResponse

from settings.packaged import packaged

STATIC = packaged("wall", "static")
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    # the pages load only their own scripts, styles and media; nothing may frame them (clickjacking)
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
}
# path → page; "/" is the seat (the user's own wall, or control of a shared wall), "/wall/{name}" a shared
# wall (``?kiosk=1`` on the hall's displays: full screen, no controls)
PAGES = {"/": "index.html", "/wall/{name}": "index.html", "/login": "login.html", "/desk": "desk.html",
         "/admin": "admin.html", "/stats": "stats.html"}

router = APIRouter(include_in_schema=False)


def _page(name: str) -> Callable[[], FileResponse]:
    def serve() -> FileResponse:
        return FileResponse(STATIC / name, headers=PAGE_HEADERS)

    return serve


for _path, _name in PAGES.items():
    router.add_api_route(_path, _page(_name), methods=["GET"])
