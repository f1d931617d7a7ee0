"""The proof step, behind a port: supporting documents that carry a verifiable credential are checked
at lodgement and amendment, so that a preference claimed on a credential that is not valid is refused
with the reason (and nothing is stored).

The default (`NoCredentials`) checks nothing: it is what a policy built without the certificates
package uses. `customhouse.certificates.proofs.CredentialProofs` is the real one (app.py wires it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from customhouse.declarations.schemas import DeclarationDocument
from customhouse.problems import FieldError


class ProofChecker(Protocol):
    def check(self, document: DeclarationDocument, *, session: Session, at: datetime) -> list[FieldError]:
        """What is wrong with the credentials the document cites (empty: nothing), by JSON pointer."""
        ...


class NoCredentials:
    def check(self, document: DeclarationDocument, *, session: Session, at: datetime) -> list[FieldError]:
        return []
