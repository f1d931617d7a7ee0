"""RFC 9457 problem details: the one shape every error to a client takes.

A problem names each bad field by JSON pointer (RFC 6901) in its `errors` member, as in RFC 9457's
own example, and says what would be accepted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MEDIA_TYPE = "application/problem+json"

# The problem types this server returns; each is explained at /problems/<slug>.
TYPES: dict[str, str] = {
    "validation": "The document or a parameter breaks a rule. Each entry of `errors` names the field by JSON "
    "pointer (or the query parameter) and says what would be accepted. Nothing was stored.",
    "malformed": "The body is not what the endpoint reads (JSON, or NDJSON: one JSON object per line).",
    "unauthorized": "No valid bearer token was presented: send `Authorization: Bearer <token>`.",
    "forbidden": "The token is valid but its roles, party or offices do not allow this action.",
    "not-found": "No such resource, or none that this token may see.",
    "conflict": "The request conflicts with the resource as it is now: a stale revision (refetch and retry "
    "with the current ETag), an LRN already used by this declarant with different content, an "
    "Idempotency-Key already used for a different request, or a guarantee balance too low.",
    "invalid-state": "The declaration is not in a state that allows this action.",
    "not-settled": "The goods cannot be released yet: what the declaration owes (its `owed`, in `currency`) "
    "is neither paid nor secured. Pay the payment order named in `order_id`, or secure it with a "
    "guarantee or deferment account.",
    "not-assessable": "The duties cannot be assessed now (no tariff in force, or no exchange rate for the "
    "date): nothing was stored; the administration must load what is missing, then lodge again.",
    "precondition-required": "State-changing requests must send `If-Match` with the declaration's ETag.",
    "too-large": "The request carries more than this endpoint accepts at once.",
    "http-error": "The HTTP request itself is not one this server answers (method, path or headers).",
    "internal": "The server failed; nothing was stored. Quote the X-Request-ID to the operator.",
}


@dataclass(frozen=True, slots=True)
class FieldError:
    detail: str
    pointer: str | None = None  # JSON pointer into the body
    parameter: str | None = None  # or the name of a query or header parameter

    def as_dict(self) -> dict[str, str]:
        out = {"detail": self.detail}
        if self.pointer is not None:
            out["pointer"] = self.pointer
        if self.parameter is not None:
            out["parameter"] = self.parameter
        return out


@dataclass
class Problem(Exception):
    status: int
    slug: str
    detail: str
    errors: Sequence[FieldError] = ()
    extra: dict[str, Any] = field(default_factory=dict)  # extension members of the body
    headers: dict[str, str] = field(default_factory=dict)  # HTTP headers to send with it

    @property
    def title(self) -> str:
        return self.slug.replace("-", " ").capitalize()

    def as_dict(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"/problems/{self.slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = [error.as_dict() for error in self.errors]
        body.update(self.extra)
        return body

    def __str__(self) -> str:
        lines = [f"{self.status} {self.title}: {self.detail}"]
        lines += [f"  {error.pointer or error.parameter or '/'}: {error.detail}" for error in self.errors]
        return "\n".join(lines)


def json_pointer(location: Iterable[str | int]) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in location)


def field_message(error: Mapping[str, Any]) -> str:
    """A pydantic error's message as a client should read it."""
    kind, message = error["type"], error["msg"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a field here; remove it"
    return str(message).removeprefix("Value error, ")


def from_validation_errors(
    errors: Iterable[Mapping[str, Any]], *, prefix: Sequence[str | int] = ()
) -> Problem:
    """A validation problem from pydantic's errors(), locations under `prefix` becoming pointers."""
    field_errors = []
    for error in errors:
        location = tuple(error["loc"])
        if location[: len(prefix)] == tuple(prefix):
            field_errors.append(
                FieldError(field_message(error), pointer=json_pointer(location[len(prefix) :]))
            )
        else:
            field_errors.append(
                FieldError(field_message(error), parameter=str(location[-1]) if location else None)
            )
    return Problem(422, "validation", f"{len(field_errors)} field(s) are not valid", field_errors)
