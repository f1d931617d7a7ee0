"""Credentials cited by declarations, checked at lodgement (the declarations' `ProofChecker` port).

A supporting document may carry its credential (`documents[i].credential`). Each is verified against
the issuers this administration trusts: itself (its own keys and status list), and the partner issuers
whose DID document (`NAME.did.json`) and signed status list (`NAME.status.jwt`) lie in
`CUSTOMHOUSE_TRUSTED_ISSUERS_DIR`, files the administration keeps current (a partner's status list
is read, signature checked, at each change of the directory). An issuer without a status list here
cannot be checked for revocation, so its credentials are not accepted.

A proof of origin (a document of category `origin`: 861, 862, 865) that carries a credential must be
a certificate of origin, preferential when an item claims a preference, and must certify each
claiming item: the same HS subheading and origin (unless a paper proof of origin is cited beside it,
which officers check). Otherwise the error
names the credential (`/documents/i/credential`) or the item's preference (`/goods_items/j/preference`)
and says why.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.orm import Session

from customhouse.certificates import credentials as vc
from customhouse.certificates import service
from customhouse.declarations.schemas import DeclarationDocument
from customhouse.problems import FieldError
from customhouse.reference import codes

ORIGIN_KINDS = frozenset({vc.CERTIFICATE_OF_ORIGIN, vc.PREFERENTIAL_ORIGIN})
NO_PREFERENCE = "100"


@dataclass(frozen=True)
class Partners:
    """Trusted partner issuers as read from the directory: their keys and their status lists."""

    keys: tuple[vc.PublicKey, ...] = ()
    status_lists: tuple[vc.StatusList, ...] = ()
    problems: tuple[str, ...] = ()  # files that could not be read, and why


def read_partners(directory: Path | None, now: datetime) -> Partners:
    if directory is None or not directory.is_dir():
        return Partners()
    keys: list[vc.PublicKey] = []
    lists: list[vc.StatusList] = []
    problems: list[str] = []
    for did_file in sorted(directory.glob("*.did.json")):
        name = did_file.name.removesuffix(".did.json")
        status_file = directory / f"{name}.status.jwt"
        try:
            partner_keys = vc.keys_from_json(orjson.loads(did_file.read_bytes()))
            if not status_file.is_file():
                raise vc.CredentialError(f"no {status_file.name}: revocation cannot be checked")
            status = vc.read_status_list(status_file.read_text().strip(), public_keys=partner_keys, now=now)
        except (vc.CredentialError, orjson.JSONDecodeError, OSError) as error:
            problems.append(f"{did_file.name}: {error}")
            continue
        keys += partner_keys
        lists.append(status)
    return Partners(tuple(keys), tuple(lists), tuple(problems))


class CredentialProofs:
    """The declarations' `ProofChecker` (see the module docstring)."""

    def __init__(self, authority: Callable[[], service.Authority], trusted_dir: Path | None = None) -> None:
        self._authority = authority  # built at first use: it makes the key file
        self.trusted_dir = trusted_dir
        self._partners: tuple[float, Partners] | None = None
        self._lock = threading.Lock()

    def partners(self, now: datetime) -> Partners:
        directory = self.trusted_dir
        stamp = directory.stat().st_mtime if directory is not None and directory.is_dir() else 0.0
        with self._lock:
            if self._partners is None or self._partners[0] != stamp:
                self._partners = (stamp, read_partners(directory, now))
            return self._partners[1]

    def verify(self, session: Session, token: str, at: datetime) -> vc.Verdict:
        authority = self._authority()
        own = vc.StatusList(
            url=authority.issuer.status_list_url,
            bits=vc.bitstring(service.revoked_indexes(session)),
            issuer=authority.issuer.did,
        )
        partners = self.partners(at)
        return vc.verify(
            token,
            public_keys=[*authority.public_keys(), *partners.keys],
            status_list=[own, *partners.status_lists],
            now=at,
        )

    def check(self, document: DeclarationDocument, *, session: Session, at: datetime) -> list[FieldError]:
        errors: list[FieldError] = []
        claiming = [
            (j, item) for j, item in enumerate(document.goods_items) if item.preference != NO_PREFERENCE
        ]
        covered: set[int] = set()
        origin_credentials = 0
        on_paper = any(  # a paper proof of origin may cover what no credential does: officers check it
            d.credential is None and codes.document_types()[d.type][1] == "origin" for d in document.documents
        )
        for i, supporting in enumerate(document.documents):
            if supporting.credential is None:
                continue
            pointer = f"/documents/{i}/credential"
            verdict = self.verify(session, supporting.credential, at)
            if not verdict.valid or verdict.credential is None:
                errors.append(
                    FieldError(f"the credential is {verdict.status}: {verdict.reason}", pointer=pointer)
                )
                continue
            if codes.document_types()[supporting.type][1] != "origin":
                continue
            origin_credentials += 1
            kinds = set(verdict.credential.get("type", [])) & ORIGIN_KINDS
            if not kinds:
                errors.append(
                    FieldError(
                        "a proof of origin's credential must be a certificate of origin", pointer=pointer
                    )
                )
                continue
            if claiming and vc.PREFERENTIAL_ORIGIN not in kinds:
                errors.append(
                    FieldError(
                        "a non-preferential certificate of origin supports no preference", pointer=pointer
                    )
                )
                continue
            certified = _certified(verdict.credential.get("credentialSubject", {}))
            covered |= {j for j, item in claiming if (item.hs_code, item.origin) in certified}
        if origin_credentials and not on_paper and not errors:
            for j, item in claiming:
                if j not in covered:
                    errors.append(
                        FieldError(
                            f"preference {item.preference} is refused: no valid credential cited certifies "
                            f"goods of HS {item.hs_code} originating in {item.origin}",
                            pointer=f"/goods_items/{j}/preference",
                        )
                    )
        return errors


def _certified(subject: Mapping[str, Any]) -> set[tuple[str, str]]:
    goods = subject.get("goods")
    if not isinstance(goods, list):
        return set()
    return {
        (str(good.get("hsCode")), str(good.get("countryOfOrigin")))
        for good in goods
        if isinstance(good, Mapping)
    }
