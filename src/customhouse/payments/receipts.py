"""Payment receipts as signed documents: Ed25519 over the receipt's canonical JSON (sorted keys, no
whitespace), so that anyone holding the public key can check a receipt without asking the platform.

The signer is a port: the built-in one keeps its key in a file under `var_dir` created at first use
(mode 600); an HSM-backed signer would offer the same three members. Ed25519 signatures are
deterministic, so the same paid order always yields the same receipt and signature.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from customhouse.keys import load_or_create, new_ed25519_pem

ALGORITHM = "Ed25519"
KEY_FILE = Path("keys") / "receipt-ed25519.pem"


class Signer(Protocol):
    def sign(self, data: bytes) -> bytes: ...

    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        ...


class FileSigner:
    """An Ed25519 key in a PEM file (PKCS#8), created at first use."""

    def __init__(self, path: Path) -> None:
        self.path = path  # read (or created) at first use, so that building the app writes nothing

    @cached_property
    def _key(self) -> Ed25519PrivateKey:
        key = serialization.load_pem_private_key(load_or_create(self.path, new_ed25519_pem), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{self.path} does not hold an Ed25519 private key")
        return key

    @classmethod
    def under(cls, var_dir: Path) -> FileSigner:
        return cls(var_dir / KEY_FILE)

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    def public_key(self) -> bytes:
        return self._key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def canonical(document: dict[str, Any]) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def key_id(public_key: bytes) -> str:
    """A short name of the key: the first 16 hex digits of SHA-256 over the raw public key."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signed(document: dict[str, Any], signer: Signer) -> dict[str, Any]:
    """The document with its signature, the algorithm and the id of the key that signed it."""
    return {
        "receipt": document,
        "algorithm": ALGORITHM,
        "key_id": key_id(signer.public_key()),
        "signature": b64(signer.sign(canonical(document))),
    }


def verify(envelope: dict[str, Any], public_key: bytes) -> bool:
    """Whether `envelope` (as `signed` returns it) carries a valid signature by `public_key`."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            unb64(envelope["signature"]), canonical(envelope["receipt"])
        )
    except (InvalidSignature, KeyError, ValueError):
        return False
    return True
