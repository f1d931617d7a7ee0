"""REST API for declarations: parse, authorise, call the service, shape the answer."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from customhouse.auth.api import CurrentPrincipal
from customhouse.db import writing
from customhouse.declarations import service
from customhouse.declarations.schemas import (
    AuditEntry,
    Control,
    Declaration,
    DeclarationDocument,
    DocumentRequest,
    Lane,
    Page,
    Reason,
    State,
)
from customhouse.problems import FieldError, Problem

router = APIRouter(prefix="/api/v1/declarations", tags=["declarations"])

MAX_BULK = 100_000
NDJSON = "application/x-ndjson"
T = TypeVar("T")
IfMatch = Annotated[str | None, Header(description='The ETag of the declaration as last read, e.g. "3"')]


def _etag(declaration: Declaration) -> str:
    return f'"{declaration.revision}"'


def _revision(if_match: str | None) -> int:
    if if_match is None:
        raise Problem(
            428,
            "precondition-required",
            'send If-Match with the ETag of the declaration as you last read it, e.g. If-Match: "3"',
        )
    match = re.fullmatch(r'\s*(?:W/)?"?(\d+)"?\s*', if_match)
    if not match:
        raise Problem(
            422,
            "validation",
            "If-Match is not an ETag of this server",
            [FieldError('expected an ETag such as "3"', parameter="If-Match")],
        )
    return int(match.group(1))


def _write(request: Request, work: Callable[[Session], T]) -> T:
    """Run `work` in one writing transaction, commit, and wake the event dispatcher."""
    with writing(request.app.state.sessions) as session:
        result = work(session)
    request.app.state.dispatcher.notify()
    return result


def _read(request: Request, work: Callable[[Session], T]) -> T:
    with request.app.state.sessions() as session:
        return work(session)


def _answer(response: Response, declaration: Declaration) -> Declaration:
    response.headers["ETag"] = _etag(declaration)
    return declaration


@router.post("", status_code=201, response_model=Declaration, summary="Lodge one declaration")
def lodge(
    request: Request,
    response: Response,
    document: DeclarationDocument,
    by: CurrentPrincipal,
    draft: bool = False,
) -> Declaration:
    """Lodge a declaration (or save it as a draft). The same LRN with the same content returns the
    existing declaration with 200; with different content, 409."""
    policy = request.app.state.policy
    outcome = _write(
        request, lambda session: service.lodge(session, document=document, by=by, policy=policy, draft=draft)
    )
    assert outcome.declaration is not None
    response.status_code = 201 if outcome.created else 200
    response.headers["Location"] = f"{router.prefix}/{outcome.declaration.id}"
    return _answer(response, outcome.declaration)


def _result_line(line: int, outcome: service.Outcome) -> bytes:
    if outcome.problem:
        return (
            orjson.dumps(
                {"line": line, "status": outcome.problem.status, "problem": outcome.problem.as_dict()}
            )
            + b"\n"
        )
    declaration = outcome.declaration
    assert declaration is not None
    return (
        orjson.dumps(
            {
                "line": line,
                "status": 201 if outcome.created else 200,
                "id": str(declaration.id),
                "lrn": declaration.document.lrn,
                "mrn": declaration.mrn,
                "state": declaration.state,
                "lane": declaration.lane,
            }
        )
        + b"\n"
    )


class ResultStream(StreamingResponse):
    """A streaming response that reads the request body while it streams.

    Starlette's StreamingResponse listens for the client's disconnect by calling receive() beside the
    stream (for ASGI servers before spec 2.4), which would swallow the request body that the bulk
    endpoint is still reading. Here the stream alone uses receive(); a client that goes away makes
    the next send fail, which ends the stream."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.stream_response(send)
        except OSError:
            raise ClientDisconnect() from None


async def _lines(request: Request) -> AsyncIterator[bytes]:
    buffer = b""
    async for chunk in request.stream():
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        for line in complete:
            yield line
    if buffer:
        yield buffer


@router.post(
    "/bulk",
    summary="Lodge many declarations as NDJSON",
    response_class=StreamingResponse,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {NDJSON: {"schema": {"$ref": "#/components/schemas/DeclarationDocument"}}},
        }
    },
    responses={200: {"content": {NDJSON: {}}, "description": "one result line per input line, in order"}},
)
async def lodge_bulk(request: Request, by: CurrentPrincipal) -> StreamingResponse:
    """One JSON declaration per line, up to 100,000. Lines are lodged in batches, each committed before
    its result lines are sent: a result line with status 201 or 200 means the declaration is stored.
    One bad line does not sink the others. Blank lines are skipped. Send big uploads in parts, or read
    the response while sending: results stream back as batches commit."""
    policy = request.app.state.policy
    batch_size = request.app.state.settings.bulk_batch_size

    def process(batch: list[tuple[int, bytes]]) -> bytes:
        decoded: list[tuple[int, Any]] = []
        failed: dict[int, service.Outcome] = {}
        for number, line in batch:
            try:
                decoded.append((number, orjson.loads(line)))
            except orjson.JSONDecodeError as error:
                failed[number] = service.Outcome(
                    problem=Problem(400, "malformed", f"line {number} is not JSON: {error}")
                )
        outcomes = _write(
            request,
            lambda session: service.lodge_many(
                session, documents=[raw for _, raw in decoded], by=by, policy=policy
            ),
        )
        results = dict(failed) | {
            number: outcome for (number, _), outcome in zip(decoded, outcomes, strict=True)
        }
        return b"".join(_result_line(number, results[number]) for number, _ in batch)

    async def results() -> AsyncIterator[bytes]:
        batch: list[tuple[int, bytes]] = []
        number, too_many = 0, False
        async for line in _lines(request):
            number += 1
            if not line.strip():
                continue
            if number > MAX_BULK:
                too_many = True
                break
            batch.append((number, line))
            if len(batch) >= batch_size:
                yield await run_in_threadpool(process, batch)
                batch = []
        if batch:
            yield await run_in_threadpool(process, batch)
        if too_many:
            problem = Problem(
                413,
                "too-large",
                f"at most {MAX_BULK} declarations per request; lines from {number} on were not read",
            )
            yield orjson.dumps({"line": number, "status": 413, "problem": problem.as_dict()}) + b"\n"

    return ResultStream(results(), media_type=NDJSON)


@router.get("", response_model=Page, summary="List declarations, newest first")
def list_declarations(
    request: Request,
    by: CurrentPrincipal,
    state: State | None = None,
    lane: Lane | None = None,
    office: str | None = None,
    party: str | None = None,
    hs_prefix: Annotated[str | None, Query(pattern=r"^[0-9]{2,6}$", description="2 to 6 digits")] = None,
    lodged_from: datetime | None = None,
    lodged_to: datetime | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page:
    filters = service.Filters(state, lane, office, party, hs_prefix, lodged_from, lodged_to)
    return _read(
        request,
        lambda session: service.list_declarations(
            session, by=by, filters=filters, cursor=cursor, limit=limit
        ),
    )


@router.get("/by-mrn/{mrn}", response_model=Declaration, summary="Find a declaration by its MRN")
def by_mrn(request: Request, response: Response, mrn: str, by: CurrentPrincipal) -> Declaration:
    return _answer(response, _read(request, lambda session: service.find_by_mrn(session, mrn=mrn, by=by)))


@router.get(
    "/{declaration_id}", response_model=Declaration, summary="Read a declaration (or one of its versions)"
)
def get(
    request: Request,
    response: Response,
    declaration_id: uuid.UUID,
    by: CurrentPrincipal,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> Declaration:
    return _answer(
        response,
        _read(
            request,
            lambda session: service.get(session, declaration_id=declaration_id, by=by, version=version),
        ),
    )


@router.get(
    "/{declaration_id}/audit", response_model=list[AuditEntry], summary="The audit trail of a declaration"
)
def audit(request: Request, declaration_id: uuid.UUID, by: CurrentPrincipal) -> list[AuditEntry]:
    return _read(request, lambda session: service.audit_trail(session, declaration_id=declaration_id, by=by))


@router.put("/{declaration_id}", response_model=Declaration, summary="Amend: a new version of the document")
def amend(
    request: Request,
    response: Response,
    declaration_id: uuid.UUID,
    document: DeclarationDocument,
    by: CurrentPrincipal,
    if_match: IfMatch = None,
) -> Declaration:
    revision, policy = _revision(if_match), request.app.state.policy
    return _answer(
        response,
        _write(
            request,
            lambda s: service.amend(
                s,
                declaration_id=declaration_id,
                document=document,
                by=by,
                policy=policy,
                expected_revision=revision,
            ),
        ),
    )


def _act(
    request: Request, response: Response, if_match: str | None, call: Callable[[Session, int], Declaration]
) -> Declaration:
    revision = _revision(if_match)
    return _answer(response, _write(request, lambda session: call(session, revision)))


@router.post("/{declaration_id}/lodge", response_model=Declaration, summary="Lodge a draft")
def lodge_draft(
    request: Request,
    response: Response,
    declaration_id: uuid.UUID,
    by: CurrentPrincipal,
    if_match: IfMatch = None,
) -> Declaration:
    policy = request.app.state.policy
    return _act(
        request,
        response,
        if_match,
        lambda s, r: service.submit_draft(
            s, declaration_id=declaration_id, by=by, policy=policy, expected_revision=r
        ),
    )


@router.post(
    "/{declaration_id}/cancel",
    response_model=Declaration,
    summary="Cancel (declarant), at any time before release",
)
def cancel(
    request: Request,
    response: Response,
    declaration_id: uuid.UUID,
    body: Reason,
    by: CurrentPrincipal,
    if_match: IfMatch = None,
) -> Declaration:
    return _act(
        request,
        response,
        if_match,
        lambda s, r: service.cancel(
            s, declaration_id=declaration_id, by=by, expected_revision=r, reason=body.reason
        ),
    )


@router.post("/{declaration_id}/accept", response_model=Declaration, summary="Accept (officer): MRN and lane")
def accept(
    request: Request,
    response: Response,
    declaration_id: uuid.UUID,
    by: CurrentPrincipal,
    if_match: IfMatch = None,
) -> Declaration:
    policy = request.app.state.policy
    return _act(
        request,
        response,
        if_match,
        lambda s, r: service.accept(
            s, declaration_id=declaration_id, by=by, policy=policy, expected_revision=r
        ),
    )


@router.post(
    "/{declaration_id}/request-documents",
    response_model=Declaration,
    summary="Request supporting documents (officer)",
)
def request_documents(
    request: Request,
    response: Response,
    declaration_id: uuid.UUID,
    body: DocumentRequest,
    by: CurrentPrincipal,
    if_match: IfMatch = None,
) -> Declaration:
    return _act(
        request,
        response,
        if_match,
        lambda s, r: service.request_documents(
            s,
            declaration_id=declaration_id,
            by=by,
            expected_revision=r,
            documents=body.documents,
            reason=body.reason,
        ),
    )


@router.post(
    "/{declaration_id}/control", response_model=Declaration, summary="Record a control result (officer)"
)
def record_control(
    request: Request,
    response: Response,
    declaration_id: uuid.UUID,
    body: Control,
    by: CurrentPrincipal,
    if_match: IfMatch = None,
) -> Declaration:
    policy = request.app.state.policy
    return _act(
        request,
        response,
        if_match,
        lambda s, r: service.record_control(
            s, declaration_id=declaration_id, by=by, policy=policy, expected_revision=r, control=body
        ),
    )


@router.post("/{declaration_id}/release", response_model=Declaration, summary="Release the goods (officer)")
def release(
    request: Request,
    response: Response,
    declaration_id: uuid.UUID,
    by: CurrentPrincipal,
    if_match: IfMatch = None,
) -> Declaration:
    return _act(
        request,
        response,
        if_match,
        lambda s, r: service.release(
            s, declaration_id=declaration_id, by=by, policy=request.app.state.policy, expected_revision=r
        ),
    )


@router.post("/{declaration_id}/reject", response_model=Declaration, summary="Reject (officer)")
def reject(
    request: Request,
    response: Response,
    declaration_id: uuid.UUID,
    body: Reason,
    by: CurrentPrincipal,
    if_match: IfMatch = None,
) -> Declaration:
    return _act(
        request,
        response,
        if_match,
        lambda s, r: service.reject(
            s, declaration_id=declaration_id, by=by, expected_revision=r, reason=body.reason
        ),
    )
