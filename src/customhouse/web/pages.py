"""The page machinery every web module shares: templates, the page route (CSRF check, sign-in redirect,
problems answered as HTML pages), the session cookie, and reading or writing with the signed-in principal.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from customhouse.auth.service import Principal, Role, authenticate
from customhouse.config import Settings
from customhouse.db import writing
from customhouse.problems import Problem
from customhouse.web.session import CSRF_COOKIE, CSRF_FIELD, SESSION_COOKIE, Sessions, new_nonce

T = TypeVar("T")
PREFIX = "/web"
CUSTOMS = (Role.OFFICER, Role.SUPERVISOR)
MAX_UPLOAD = 20 * 1024 * 1024

templates = Environment(
    loader=PackageLoader("customhouse.web", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


class SignInRequired(Exception):
    """The page needs a signed-in user: the visitor is sent to the sign-in page."""


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("principal", getattr(request.state, "principal", None))
    context["csrf_field"] = CSRF_FIELD
    context["csrf_token"] = sessions_of(request).csrf_token(request.state.csrf_nonce)
    context["request_path"] = request.url.path
    return HTMLResponse(templates.get_template(name).render(**context), status_code=status)


class PageRoute(APIRoute):
    """Answers a page's problems as HTML pages, checks the CSRF token of every POST, and keeps the
    CSRF nonce cookie."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            nonce = request.cookies.get(CSRF_COOKIE)
            request.state.csrf_nonce = nonce or new_nonce()
            request.state.principal = None
            try:
                if request.method == "POST":
                    form = await request.form(max_part_size=MAX_UPLOAD)
                    token = form.get(CSRF_FIELD)
                    if not sessions_of(request).csrf_valid(nonce, token if isinstance(token, str) else None):
                        raise Problem(
                            403, "forbidden", "the form has expired or did not come from this site; reload it"
                        )
                response = await handler(request)
            except SignInRequired:
                target = request.url.path if request.method == "GET" else PREFIX + "/"
                response = RedirectResponse(f"{PREFIX}/sign-in?next={target}", status_code=303)
            except Problem as problem:
                response = render(request, "error.html", problem.status, problem=problem)
            if nonce != request.state.csrf_nonce:
                set_cookie(request, response, CSRF_COOKIE, request.state.csrf_nonce)
            return response

        return route


def sessions_of(request: Request) -> Sessions:
    state = request.app.state
    sessions: Sessions | None = state.web_sessions
    if sessions is None:
        settings: Settings = state.web_settings
        sessions = state.web_sessions = Sessions.from_file(
            settings.var_dir / "keys" / "web-session.key", max_age=settings.web_session_seconds
        )
    return sessions


def set_cookie(request: Request, response: Response, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
        max_age=sessions_of(request).max_age if name == SESSION_COOKIE else None,
    )


def read(request: Request, work: Callable[[Session], T]) -> T:
    with request.app.state.sessions() as session:
        return work(session)


def write(request: Request, work: Callable[[Session], T]) -> T:
    with writing(request.app.state.sessions) as session:
        result = work(session)
    request.app.state.dispatcher.notify()
    return result


def principal_of(request: Request) -> Principal | None:
    token = sessions_of(request).open(request.cookies.get(SESSION_COOKIE))
    if token is None:
        return None
    return read(request, lambda session: authenticate(session, token))


def require(request: Request, *roles: Role) -> Principal:
    """The signed-in principal; a page its roles may not see does not exist for it (404), as in the API."""
    principal = principal_of(request)
    if principal is None:
        raise SignInRequired
    request.state.principal = principal
    if roles and not principal.has(*roles):
        raise Problem(404, "not-found", f"no page {request.url.path}")
    return principal


def form_value(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""
