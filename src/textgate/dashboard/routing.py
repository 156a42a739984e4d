"""The dashboard's route class: sign-in, CSRF and error handling around every page."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute

from textgate.dashboard.web import PREFIX, CsrfFailed, Dashboard, NotSignedIn, redirect
from textgate.errors import GatewayError, NotFound, StorageUnavailable

__all__ = ["dashboard_of", "new_router"]

log = logging.getLogger(__name__)
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def dashboard_of(request: Request) -> Dashboard:
    dash: Dashboard = request.app.state.dashboard
    return dash


class PageRoute(APIRoute):
    """Signed-out visitors go to the sign-in page; a form without this session's CSRF token
    gets 403; a gateway error the page did not handle gets an error page in the layout."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except NotSignedIn:
                if request.method != "GET":
                    return redirect(f"{PREFIX}/login")
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return redirect(f"{PREFIX}/login?next={quote(target, safe='')}")
            except CsrfFailed:
                return _error(request, 403, "This form has expired. Reload the page and retry.")
            except NotFound:
                return _error(request, 404, "Not found.")
            except StorageUnavailable:
                return _error(request, 503, "The database is not answering; try again shortly.")
            except GatewayError as exc:
                return _error(request, 400, exc.message)

        return page


def _error(request: Request, status: int, text: str) -> Response:
    dash = dashboard_of(request)
    return dash.page(request, "error.html", None, status_code=status, message=text)


def new_router() -> APIRouter:
    return APIRouter(prefix=PREFIX, route_class=PageRoute, include_in_schema=False)
