"""`customhouse cert verify|issue|revoke|pdf|did|status-list`: certificates from the shell.

`verify` works offline: from the credential file, the issuer's public key (a DID document as
/.well-known/did.json serves it, or one public JWK) and the signed status list as
/credentials/status/1 serves it. It prints the status and the reason and exits 0 only when the
credential is valid. `issue` and `revoke` act on the local database as a supervisor named
cli:<login>; `did` and `status-list` print what the server publishes, to hand to offline verifiers.
"""

from __future__ import annotations

import getpass
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import typer

from customhouse.auth.service import Principal, Role
from customhouse.certificates import credentials as vc
from customhouse.certificates import service
from customhouse.cli_shared import json_argument
from customhouse.config import get_settings
from customhouse.console import console, errors, local_sessions
from customhouse.db import utcnow, writing
from customhouse.problems import Problem

app = typer.Typer(help="Certificates as verifiable credentials: verify, issue, revoke.", no_args_is_help=True)


def _principal() -> Principal:
    return Principal(f"cli:{getpass.getuser()}", frozenset({Role.SUPERVISOR}))


def _authority() -> service.Authority:
    return service.Authority.from_settings(get_settings())


@contextmanager
def _answering() -> Iterator[None]:
    """A refusal of the service (a Problem) is printed with its reason, exit status 1."""
    try:
        yield
    except Problem as problem:
        errors.print(f"[red]{problem.title}:[/red] {problem.detail}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


def _time(value: str | None) -> datetime:
    if value is None:
        return utcnow()
    try:
        return vc.parse_time(value)
    except vc.CredentialError as error:
        errors.print(f"[red]--at:[/red] {error}")
        raise typer.Exit(2) from None


@app.command()
def verify(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="the credential (compact JWS)"),
    issuer_key: str = typer.Option(..., help="the issuer's DID document or public JWK: a file or JSON"),
    status_list: Path = typer.Option(
        ..., exists=True, dir_okay=False, help="the signed status list credential"
    ),
    at: str | None = typer.Option(None, help="verify as of this RFC 3339 time (default: now)"),
) -> None:
    """Verify a credential offline: valid, revoked, altered, expired or unknown issuer, with the reason."""
    now = _time(at)
    try:
        keys = vc.keys_from_json(json_argument(issuer_key, "--issuer-key"))
    except (vc.CredentialError, AttributeError, KeyError) as error:
        errors.print(f"[red]--issuer-key:[/red] {error}")
        raise typer.Exit(2) from None
    try:
        listed = vc.read_status_list(status_list.read_text().strip(), public_keys=keys, now=now)
    except vc.CredentialError as error:
        errors.print(f"[red]the status list is not accepted:[/red] {error}")
        raise typer.Exit(2) from None
    verdict = vc.verify(file.read_bytes().strip(), public_keys=keys, status_list=listed, now=now)
    console.print(f"{verdict.status}: {verdict.reason}", markup=False, highlight=False)
    raise typer.Exit(0 if verdict.valid else 1)


@app.command()
def issue(
    declaration: uuid.UUID | None = typer.Option(None, help="a released export declaration (of origin)"),
    preferential: bool = typer.Option(False, help="a preferential certificate of origin"),
    kind: str | None = typer.Option(None, help="Licence, Permit or Certificate (without --declaration)"),
    subject: str | None = typer.Option(None, help="what a generic certificate states: a JSON file or JSON"),
    out: Path | None = typer.Option(None, help="write the credential here (default: print it)"),
) -> None:
    """Issue a certificate and print (or write) the signed credential."""
    authority = _authority()
    by = _principal()
    with _answering(), writing(local_sessions()) as session:
        if declaration is not None:
            record = service.issue_origin(
                session, declaration_id=declaration, by=by, authority=authority, preferential=preferential
            )
        else:
            stated = json_argument(subject, "--subject") if subject else {}
            record = service.issue_generic(
                session, kind=kind or "", subject=stated, by=by, authority=authority
            )
        certificate_id, token = record.id, record.token
    if out is not None:
        out.write_text(token + "\n")
        errors.print(f"certificate {certificate_id} written to {out}")
    else:
        errors.print(f"certificate {certificate_id}")
        console.print(token, markup=False, highlight=False, soft_wrap=True)


@app.command()
def revoke(
    certificate: uuid.UUID = typer.Argument(..., help="the certificate's id"),
    reason: str = typer.Option(..., help="why (recorded in the audit trail)"),
) -> None:
    """Revoke a certificate: its bit in the status list is set."""
    with _answering(), writing(local_sessions()) as session:
        record = service.revoke(session, certificate_id=certificate, by=_principal(), reason=reason)
        index = record.status_index
    console.print(f"certificate {certificate} revoked (status list 1, index {index})")


@app.command()
def pdf(
    certificate: uuid.UUID = typer.Argument(..., help="the certificate's id"),
    out: Path = typer.Option(..., help="the PDF file to write"),
) -> None:
    """Write a certificate as a PDF with the QR code of its verification link."""
    settings = get_settings()
    base = settings.public_url or f"http://{settings.host}:{settings.port}"
    with _answering(), local_sessions()() as session:
        out.write_bytes(
            service.paper(service.get(session, certificate_id=certificate, by=_principal()), base_url=base)
        )
    errors.print(f"certificate {certificate} written to {out}")


@app.command()
def did() -> None:
    """Print the issuer's DID document (what /.well-known/did.json serves)."""
    console.print(json.dumps(_authority().issuer.did_document(), indent=2), markup=False, highlight=False)


@app.command("status-list")
def status_list_command() -> None:
    """Print the signed status list credential (what /credentials/status/1 serves)."""
    with local_sessions()() as session:
        token = service.status_list_token(session, authority=_authority())
    console.print(token, markup=False, highlight=False, soft_wrap=True)
