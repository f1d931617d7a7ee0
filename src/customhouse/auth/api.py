"""The dependency every API view uses to learn who is asking."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from customhouse.auth.service import Principal, authenticate
from customhouse.problems import Problem

BEARER = {"WWW-Authenticate": "Bearer"}


def current_principal(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Problem(401, "unauthorized", "send Authorization: Bearer <token>", headers=BEARER)
    with request.app.state.sessions() as session:
        principal = authenticate(session, token.strip())
    if principal is None:
        raise Problem(401, "unauthorized", "the token is unknown or revoked", headers=BEARER)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
