"""Certificates over HTTP: issue and revoke (customs), read (with the ledger's inclusion proof on
request), and the public side that needs no login: the issuer's DID document, the signed status list,
verification by API and a small HTML page.

- POST /api/v1/certificates: {"declaration_id", "preferential"?, "valid_until"?} (of origin, from a
  released export declaration) or {"kind": Licence|Permit|Certificate, "subject": {...}, "valid_until"?}
- POST /api/v1/certificates/{id}/revoke: {"reason"}
- GET /api/v1/certificates/{id}[?proof=true]
- GET /.well-known/did.json, GET /credentials/status/1 (application/vc+jwt)
- POST /api/v1/certificates/verify: the token as the body (application/vc+jwt or text/plain), or
  {"token": "..."}; answers {"status", "reason", "credential"}
- GET /api/v1/certificates/{id}/pdf: the certificate on paper with its QR code (`certificates.pdf`)
- GET /verify (a form; with ?credential=<token> or ?id=<uuid>, as a QR code links it, the verdict),
  POST /verify (the form's answer)

`install(app, settings)` mounts it with the issuer from the settings (or `authority`); app.py calls it.
"""

from __future__ import annotations

import html
import uuid
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qs

import orjson
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from customhouse.auth.api import CurrentPrincipal
from customhouse.certificates import credentials as vc
from customhouse.certificates import service
from customhouse.certificates.models import Certificate
from customhouse.config import Settings
from customhouse.db import writing
from customhouse.ledger import service as ledger
from customhouse.problems import FieldError, Problem

router = APIRouter(tags=["certificates"])
MAX_BODY = vc.MAX_TOKEN + 1024


class NewCertificate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    declaration_id: uuid.UUID | None = None
    preferential: bool = False
    kind: str | None = None
    subject: dict[str, Any] | None = None
    valid_until: datetime | None = None


class Revocation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(min_length=1, max_length=2000)]


def install(app: FastAPI, settings: Settings, *, authority: service.Authority | None = None) -> None:
    """Mount the certificates API with the issuer (default: from the settings, built at first use, when
    its key file is made); a second call only replaces a given issuer."""
    if getattr(app.state, "certificate_settings", None) is not None:
        if authority is not None:
            app.state.certificate_authority = authority
        return
    app.state.certificate_settings = settings
    app.state.certificate_authority = authority
    app.include_router(router)


def _authority(request: Request) -> service.Authority:
    state = request.app.state
    authority: service.Authority | None = state.certificate_authority
    if authority is None:
        authority = state.certificate_authority = service.Authority.from_settings(state.certificate_settings)
    return authority


def _shape(record: Certificate) -> dict[str, Any]:
    return {
        "id": str(record.id),
        "kind": record.kind,
        "declaration_id": str(record.declaration_id) if record.declaration_id else None,
        "status_list": record.status_list,
        "status_index": record.status_index,
        "valid_from": vc.rfc3339(record.valid_from),
        "valid_until": vc.rfc3339(record.valid_until),
        "issued_at": record.issued_at.isoformat(),
        "issued_by": record.issued_by,
        "revoked_at": record.revoked_at.isoformat() if record.revoked_at else None,
        "revocation_reason": record.revocation_reason,
        "subject": record.subject,
        "token": record.token,
    }


@router.post("/api/v1/certificates", status_code=201, summary="Issue a certificate")
def issue(request: Request, body: NewCertificate, by: CurrentPrincipal) -> JSONResponse:
    if (body.declaration_id is None) == (body.kind is None):
        raise Problem(
            422,
            "validation",
            "name a declaration (a certificate of origin) or a kind (a generic certificate), not both",
            [
                FieldError("give exactly one of these", pointer=pointer)
                for pointer in ("/declaration_id", "/kind")
            ],
        )
    authority = _authority(request)
    with writing(request.app.state.sessions) as session:
        if body.declaration_id is not None:
            record = service.issue_origin(
                session,
                declaration_id=body.declaration_id,
                by=by,
                authority=authority,
                preferential=body.preferential,
                valid_until=body.valid_until,
            )
        else:
            record = service.issue_generic(
                session,
                kind=body.kind or "",
                subject=body.subject or {},
                by=by,
                authority=authority,
                valid_until=body.valid_until,
            )
        answer = _shape(record)
    request.app.state.dispatcher.notify()
    return JSONResponse(answer, status_code=201, headers={"Location": f"/api/v1/certificates/{answer['id']}"})


@router.post("/api/v1/certificates/{certificate_id}/revoke", summary="Revoke a certificate")
def revoke(
    request: Request, certificate_id: uuid.UUID, body: Revocation, by: CurrentPrincipal
) -> dict[str, Any]:
    with writing(request.app.state.sessions) as session:
        answer = _shape(service.revoke(session, certificate_id=certificate_id, by=by, reason=body.reason))
    request.app.state.dispatcher.notify()
    return answer


def _inclusion(session: Session, certificate_id: uuid.UUID) -> dict[str, Any]:
    head = ledger.tree_head(session)
    size = head.size if head else 0
    indexes = ledger.leaf_indexes(session, subject_id=str(certificate_id), subject_type=service.AGGREGATE)
    indexes = [index for index in indexes if index < size]
    waiting = ledger.queued(session, subject_id=str(certificate_id), subject_type=service.AGGREGATE)
    if not indexes:
        return {"tree_size": size, "proofs": [], "pending": waiting, "checkpoint": None}
    proofs = [ledger.inclusion_proof(session, index=index, size=size) for index in indexes]
    message = ledger.checkpoint_message(session, size)
    return {
        "tree_size": size,
        "root_hash": proofs[0].root.hex(),
        "checkpoint": message.decode() if message else None,
        "pending": waiting,
        "proofs": [
            {
                "index": proof.index,
                "type": proof.type,
                "leaf_hash": proof.leaf_hash.hex(),
                "entry": proof.entry.decode(),
                "proof": [step.hex() for step in proof.proof],
            }
            for proof in proofs
        ],
    }


@router.get("/api/v1/certificates/{certificate_id}", summary="A certificate and its signed token")
def read(
    request: Request,
    certificate_id: uuid.UUID,
    by: CurrentPrincipal,
    proof: Annotated[bool, Query(description="add the ledger's inclusion proof and checkpoint")] = False,
) -> dict[str, Any]:
    with request.app.state.sessions() as session:
        answer = _shape(service.get(session, certificate_id=certificate_id, by=by))
        if proof:
            answer["inclusion"] = _inclusion(session, certificate_id)
    return answer


@router.get(
    "/api/v1/certificates/{certificate_id}/pdf",
    summary="A certificate on paper, with the QR code of its verification link",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def read_pdf(request: Request, certificate_id: uuid.UUID, by: CurrentPrincipal) -> Response:
    base = request.app.state.certificate_settings.public_url or str(request.base_url)
    with request.app.state.sessions() as session:
        body = service.paper(service.get(session, certificate_id=certificate_id, by=by), base_url=base)
    disposition = f'inline; filename="certificate-{certificate_id}.pdf"'
    return Response(body, media_type="application/pdf", headers={"Content-Disposition": disposition})


@router.get("/.well-known/did.json", summary="The issuer's DID document (did:web)")
def did_document(request: Request) -> Response:
    document = _authority(request).issuer.did_document()
    return Response(orjson.dumps(document), media_type="application/did+json")


@router.get("/credentials/status/1", summary="The signed revocation list (Bitstring Status List)")
def status_list(request: Request) -> Response:
    with request.app.state.sessions() as session:
        token = service.status_list_token(session, authority=_authority(request))
    return Response(token, media_type=vc.MEDIA_TYPE, headers={"Cache-Control": "no-cache"})


def _verify(request: Request, token: str) -> vc.Verdict:
    with request.app.state.sessions() as session:
        return service.verify(session, token=token, authority=_authority(request))


async def _body(request: Request) -> bytes:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise Problem(413, "too-large", f"a credential has at most {vc.MAX_TOKEN} characters")
    return body


@router.post("/api/v1/certificates/verify", summary="Verify a credential (public)")
async def verify(request: Request) -> dict[str, Any]:
    """The body is the compact JWS itself, or a JSON object {"token": "..."}. The answer's status is
    valid, revoked, altered, expired, not-yet-valid or unknown-issuer, with the reason."""
    body = await _body(request)
    token = body.decode("utf-8", errors="replace").strip()
    if token.startswith("{"):
        try:
            token = str(orjson.loads(token)["token"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise Problem(400, "malformed", 'send the token, or a JSON object {"token": "..."}') from None
    verdict = await run_in_threadpool(_verify, request, token)
    return {"status": str(verdict.status), "reason": verdict.reason, "credential": verdict.credential}


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Verify a certificate</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}}
textarea{{width:100%;height:10rem;font-family:monospace}}.valid{{color:#05662b}}.bad{{color:#a4000f}}
pre{{white-space:pre-wrap;background:#f4f4f4;padding:1rem}}</style></head>
<body><h1>Verify a certificate</h1>
<p>Paste the certificate (a <code>vc+jwt</code> token issued by {issuer}).</p>
<form method="post" action="/verify"><textarea name="token" required>{token}</textarea>
<p><button type="submit">Verify</button></p></form>{answer}</body></html>
"""


def _page(issuer: str, token: str = "", verdict: vc.Verdict | None = None, notice: str = "") -> HTMLResponse:
    answer = f'<h2 class="bad">{html.escape(notice)}</h2>' if notice else ""
    if verdict is not None:
        css = "valid" if verdict.valid else "bad"
        label = str(verdict.status).replace("-", " ")
        answer = f'<h2 class="{css}">{html.escape(label.upper())}</h2><p>{html.escape(verdict.reason)}</p>'
        if verdict.credential is not None:
            shown = orjson.dumps(verdict.credential, option=orjson.OPT_INDENT_2).decode()
            answer += f"<pre>{html.escape(shown)}</pre>"
    return HTMLResponse(PAGE.format(issuer=html.escape(issuer), token=html.escape(token), answer=answer))


@router.get("/verify", response_class=HTMLResponse, summary="Verify a certificate (a web page)")
def verify_page(
    request: Request,
    credential: Annotated[
        str | None, Query(max_length=vc.MAX_TOKEN, description="a credential to verify at once (QR code)")
    ] = None,
    id: Annotated[uuid.UUID | None, Query(description="an issued certificate's id (QR code)")] = None,
) -> HTMLResponse:
    """The form; with `credential` or `id` (what a printed certificate's QR code carries), the verdict."""
    issuer = _authority(request).issuer.did
    token = credential.strip() if credential else None
    if token is None and id is not None:
        with request.app.state.sessions() as session:
            token = service.token_of(session, certificate_id=id)
        if token is None:
            page = _page(issuer, notice=f"No certificate {id} was issued here.")
            page.status_code = 404
            return page
    if token is None:
        return _page(issuer)
    return _page(issuer, token, _verify(request, token))


@router.post("/verify", response_class=HTMLResponse, summary="The verification page's answer")
async def verify_form(request: Request) -> HTMLResponse:
    body = await _body(request)
    token = parse_qs(body.decode("utf-8", errors="replace")).get("token", [""])[0].strip()
    verdict = await run_in_threadpool(_verify, request, token)
    return _page(_authority(request).issuer.did, token, verdict)
