"""Signing keys: Ed25519 key files created at first use, like an SSH host key (mode 600, in a directory
of mode 700), and the JWS registry every signed token of customhouse uses (EdDSA over Ed25519 only).

A new key is written to a temporary file and hard-linked into place, so that two processes starting
at once agree on one key (the loser reads the winner's) and nobody ever reads a half-written file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc.jwa import EdDSAAlgorithm
from joserfc.jws import JWSRegistry

EDDSA = "EdDSA"  # RFC 8037: the JWS alg of Ed25519 signatures


def load_or_create(path: Path, create: Callable[[], bytes]) -> bytes:
    """The bytes of the key file at `path`, created with `create()` if there is none yet."""
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".new-")  # mode 600
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(create())
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):  # another process won the race: use its key
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
    return path.read_bytes()


def new_ed25519_pem() -> bytes:
    """A new Ed25519 private key as PKCS#8 PEM: what the signing key files hold."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def ed25519_jws_registry(max_payload: int) -> JWSRegistry:
    """A joserfc registry that accepts alg EdDSA only (keys are Ed25519) and payloads of at most
    `max_payload` bytes: credentials, partner messages and telemetry each set their own bound."""

    class Ed25519Only(EdDSAAlgorithm):
        security_warning = ""  # EdDSA is what every profile here asks for: no warning per use

    class Registry(JWSRegistry):
        algorithms = {EDDSA: Ed25519Only()}  # noqa: RUF012
        recommended = [EDDSA]  # noqa: RUF012
        max_payload_length = max_payload

    return Registry(algorithms=[EDDSA])
