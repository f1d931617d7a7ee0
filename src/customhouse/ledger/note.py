"""Signed notes (C2SP signed-note), checkpoints (tlog-checkpoint) and cosignatures (tlog-cosignature).

Byte-compatible with Go's golang.org/x/mod/sumdb/note (its test vectors are ours): a note is text
ending in a newline, a blank line, then signature lines ``— <name> <base64(key hash || signature)>``.
Two key types:

- 0x01, Ed25519 over the note text: the log's own signature on its checkpoints;
- 0x04, cosignature/v1: a witness's Ed25519 signature over ``cosignature/v1\\ntime <t>\\n<note text>``,
  carried as ``timestamp (8 bytes, big-endian) || signature``.

The key hash is the first 4 bytes of SHA-256(name || "\\n" || key type || public key). Keys travel as
strings: ``<name>+<hash>+<base64(type || public key)>`` (verifier key, public) and
``PRIVATE+KEY+<name>+<hash>+<base64(type || seed)>`` (signer key, secret).

Opening a note ignores signatures by unknown keys, refuses the whole note if a known key's signature
does not verify (the spec's SHOULD, and what Go does), and refuses a note that no known key signed.
Unlike Go, base64 must be canonical (RFC 4648 §3.5 allows refusing the rest): otherwise the spare
bits of a signature's last character could be changed without breaking it, and a stored checkpoint
altered that way would still verify.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from customhouse.ledger.merkle import HASH_SIZE

KEY_ED25519 = 0x01
KEY_COSIGNATURE = 0x04  # timestamped Ed25519 witness cosignature, cosignature/v1
KEY_TYPES = {KEY_ED25519: "Ed25519", KEY_COSIGNATURE: "Ed25519 cosignature/v1"}
MAX_SIGNATURES = 100  # the spec asks for at least 16; Go stops at 100
MAX_TIMESTAMP = 2**63 - 1

_SIGNATURE_PREFIX = "— "  # em dash, space
_HASH = re.compile(r"[0-9a-fA-F]{8}")
_SIZE = re.compile(r"0|[1-9][0-9]*")


class NoteError(ValueError):
    """A note, key or checkpoint that is malformed or does not verify; the message says which part."""


class KeyFormatError(NoteError):
    """A verifier or signer key string that is malformed, of an unknown type, or whose hash does not match."""


class InvalidSignatureError(NoteError):
    """A signature by a known key that does not verify: the whole note is refused."""


class UnverifiedNoteError(NoteError):
    """A well-formed note that no known key has signed."""

    def __init__(self, message: str, note: Note) -> None:
        super().__init__(message)
        self.note = note


class QuorumError(NoteError):
    """Fewer valid cosignatures than the quorum asks for."""


class CheckpointError(NoteError):
    """A note text that is not a well-formed checkpoint, or is the checkpoint of another log."""


def key_hash(name: str, key_type: int, public_key: bytes) -> int:
    """First 4 bytes (big-endian) of SHA-256(name || "\\n" || key type || public key)."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([key_type]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def is_valid_name(name: str) -> bool:
    """Key names are non-empty, with neither Unicode spaces nor '+'."""
    return bool(name) and "+" not in name and not any(char.isspace() for char in name)


# -- keys ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verifier:
    """A public key that checks signatures of one name and key hash."""

    name: str
    key_type: int
    public_key: bytes
    key_hash: int = field(init=False)
    _key: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_key(self.name, self.key_type, self.public_key, "public key")
        object.__setattr__(self, "key_hash", key_hash(self.name, self.key_type, self.public_key))
        try:
            public = Ed25519PublicKey.from_public_bytes(self.public_key)
        except ValueError as error:
            raise KeyFormatError(f"key {self.name}: not an Ed25519 public key ({error})") from None
        object.__setattr__(self, "_key", public)

    @property
    def vkey(self) -> str:
        """The verifier key string: <name>+<hash>+<base64(type || public key)>."""
        encoded = base64.b64encode(bytes([self.key_type]) + self.public_key).decode()
        return f"{self.name}+{self.key_hash:08x}+{encoded}"

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Whether `signature` (without the key hash) signs note text `text` under this key."""
        if self.key_type == KEY_COSIGNATURE:
            if len(signature) != 8 + 64:
                return False
            timestamp = int.from_bytes(signature[:8], "big")
            if timestamp > MAX_TIMESTAMP:
                return False
            text, signature = cosignature_message(text, timestamp=timestamp), signature[8:]
        elif len(signature) != 64:
            return False
        try:
            self._key.verify(signature, text)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """A private key that signs notes under one name (keep its `skey` secret)."""

    name: str
    key_type: int
    seed: bytes = field(repr=False)
    _key: Ed25519PrivateKey = field(init=False, repr=False, compare=False)
    verifier: Verifier = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_key(self.name, self.key_type, self.seed, "seed")
        private = Ed25519PrivateKey.from_private_bytes(self.seed)
        object.__setattr__(self, "_key", private)
        public = private.public_key().public_bytes_raw()
        object.__setattr__(self, "verifier", Verifier(self.name, self.key_type, public))

    @property
    def key_hash(self) -> int:
        return self.verifier.key_hash

    @property
    def skey(self) -> str:
        """The signer key string: PRIVATE+KEY+<name>+<hash>+<base64(type || seed)>."""
        encoded = base64.b64encode(bytes([self.key_type]) + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.key_hash:08x}+{encoded}"

    def sign(self, text: bytes, *, timestamp: int | None = None) -> bytes:
        """The signature of note text `text`, without the key hash.

        Cosigners sign at `timestamp` (POSIX seconds, now if None); plain Ed25519 keys take none.
        """
        if self.key_type == KEY_ED25519:
            if timestamp is not None:
                raise NoteError(f"key {self.name} signs notes, not timestamped cosignatures")
            return self._key.sign(text)
        when = int(time.time()) if timestamp is None else timestamp
        if not 0 <= when <= MAX_TIMESTAMP:
            raise NoteError(f"cosignature timestamp {when} is not between 0 and 2**63 - 1")
        return when.to_bytes(8, "big") + self._key.sign(cosignature_message(text, timestamp=when))


def generate_key(name: str, *, key_type: int = KEY_ED25519) -> Signer:
    """A new random key; its `skey` and `verifier.vkey` are the two strings to keep and to publish."""
    seed = Ed25519PrivateKey.generate().private_bytes_raw()
    return Signer(name, key_type, seed)


def parse_verifier_key(vkey: str) -> Verifier:
    """The Verifier that a verifier key string <name>+<hash>+<base64(type || public key)> describes."""
    parts = vkey.split("+", 2)
    if len(parts) != 3:
        raise KeyFormatError("a verifier key is <name>+<hash>+<base64 key>")
    name, hash_text, encoded = parts
    key_type, key = _key_material(name, hash_text, encoded)
    verifier = Verifier(name, key_type, key)
    if verifier.key_hash != int(hash_text, 16):
        raise KeyFormatError(f"verifier key {name}+{hash_text}: the key hash does not match the key")
    return verifier


def parse_signer_key(skey: str) -> Signer:
    """The Signer that a signer key string PRIVATE+KEY+<name>+<hash>+<base64(type || seed)> describes."""
    parts = skey.split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise KeyFormatError("a signer key is PRIVATE+KEY+<name>+<hash>+<base64 key>")
    name, hash_text, encoded = parts[2:]
    key_type, seed = _key_material(name, hash_text, encoded)
    signer = Signer(name, key_type, seed)
    if signer.key_hash != int(hash_text, 16):
        raise KeyFormatError(f"signer key {name}+{hash_text}: the key hash does not match the key")
    return signer


def _key_material(name: str, hash_text: str, encoded: str) -> tuple[int, bytes]:
    if not is_valid_name(name):
        raise KeyFormatError(f"key name {name!r} is empty or has a space or '+'")
    if not _HASH.fullmatch(hash_text):
        raise KeyFormatError(f"key hash {hash_text!r} is not 8 hexadecimal digits")
    data = _b64decode(encoded)
    if data is None or not data:
        raise KeyFormatError(f"key {name}+{hash_text}: the key is not standard base64")
    return data[0], data[1:]


def _check_key(name: str, key_type: int, key: bytes, what: str) -> None:
    if not is_valid_name(name):
        raise KeyFormatError(f"key name {name!r} is empty or has a space or '+'")
    if key_type not in KEY_TYPES:
        raise KeyFormatError(f"key {name}: unknown key type 0x{key_type:02x} (known: 0x01, 0x04)")
    if len(key) != 32:
        raise KeyFormatError(f"key {name}: an Ed25519 {what} has 32 bytes, not {len(key)}")


# -- notes --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signature:
    """One signature line: the key's name and hash, and base64(key hash || signature) as it was written."""

    name: str
    key_hash: int
    encoded: str

    @property
    def signature(self) -> bytes:
        """The signature bytes after the key hash (for a cosignature: timestamp || Ed25519 signature)."""
        return base64.b64decode(self.encoded)[4:]

    @property
    def line(self) -> str:
        return f"{_SIGNATURE_PREFIX}{self.name} {self.encoded}\n"

    @property
    def timestamp(self) -> int:
        """The time a cosignature (key type 0x04) was made, in POSIX seconds."""
        signature = self.signature
        if len(signature) != 8 + 64:
            raise NoteError(f"signature by {self.name} is not a cosignature: {len(signature)} bytes, not 72")
        return int.from_bytes(signature[:8], "big")


@dataclass(frozen=True)
class Note:
    """An opened note: its text, the signatures that verified (with their verifiers), the unknown ones."""

    text: str
    verified: tuple[Signature, ...]
    verifiers: tuple[Verifier, ...]
    unverified: tuple[Signature, ...]


def sign_note(
    text: str, *, signers: Sequence[Signer], keep: Iterable[Signature] = (), timestamp: int | None = None
) -> bytes:
    """The signed note: `text`, a blank line, the `keep` signatures not re-signed, then the new ones.

    `timestamp` is for cosigners (key type 0x04); None signs at the current time.
    """
    _check_text(text)
    body = text.encode()
    replaced = {(signer.name, signer.key_hash) for signer in signers}
    lines = []
    for signature in keep:
        if not is_valid_name(signature.name):
            raise NoteError(f"signature name {signature.name!r} is empty or has a space or '+'")
        if (signature.name, signature.key_hash) in replaced:
            continue
        raw = _b64decode(signature.encoded)
        if raw is None or len(raw) < 5 or int.from_bytes(raw[:4], "big") != signature.key_hash:
            raise NoteError(
                f"kept signature by {signature.name} does not carry key hash {signature.key_hash:08x}"
            )
        lines.append(signature.line)
    for signer in signers:
        raw = (
            signer.sign(body, timestamp=timestamp)
            if signer.key_type == KEY_COSIGNATURE
            else signer.sign(body)
        )
        encoded = base64.b64encode(signer.key_hash.to_bytes(4, "big") + raw).decode()
        lines.append(Signature(signer.name, signer.key_hash, encoded).line)
    return (text + "\n" + "".join(lines)).encode()


def parse_note(message: bytes) -> tuple[str, list[Signature]]:
    """Split a signed note into its text and signature lines, checking only the format."""
    try:
        decoded = message.decode("utf-8")
    except UnicodeDecodeError as error:
        raise NoteError(f"note is not valid UTF-8 (byte {error.start})") from None
    _check_characters(decoded, "note")
    split = decoded.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures")
    text, block = decoded[: split + 1], decoded[split + 2 :]
    if not block or not block.endswith("\n"):
        raise NoteError("note must end with signature lines, each ending in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has {len(lines)} signatures, more than {MAX_SIGNATURES}")
    signatures = []
    for number, line in enumerate(lines, start=1):
        if not line.startswith(_SIGNATURE_PREFIX):
            raise NoteError(f"signature line {number} does not begin with an em dash and a space")
        name, _, encoded = line[len(_SIGNATURE_PREFIX) :].partition(" ")
        raw = _b64decode(encoded)
        if not is_valid_name(name) or raw is None or len(raw) < 5:
            raise NoteError(f"signature line {number} is not '— <name> <base64 signature>'")
        signatures.append(Signature(name, int.from_bytes(raw[:4], "big"), encoded))
    return text, signatures


def open_note(message: bytes, *, verifiers: Iterable[Verifier]) -> Note:
    """Parse a signed note and check the signatures of the known `verifiers`.

    Signatures by unknown keys (name and key hash) are kept as unverified; a known key's signature
    that fails raises InvalidSignatureError; a note without any verified signature raises
    UnverifiedNoteError.
    """
    text, signatures = parse_note(message)
    known: dict[tuple[str, int], list[Verifier]] = {}
    for verifier in verifiers:
        same = known.setdefault((verifier.name, verifier.key_hash), [])
        if verifier not in same:
            same.append(verifier)
    body = text.encode()
    verified: list[Signature] = []
    used: list[Verifier] = []
    unverified: list[Signature] = []
    seen: set[tuple[str, int]] = set()
    for signature in signatures:
        key = (signature.name, signature.key_hash)
        candidates = known.get(key)
        if not candidates:
            if signature not in unverified:
                unverified.append(signature)
            continue
        if len(candidates) > 1:
            raise NoteError(f"ambiguous key {signature.name}+{signature.key_hash:08x}: two verifiers have it")
        if key in seen:
            continue
        seen.add(key)
        if not candidates[0].verify(body, signature.signature):
            raise InvalidSignatureError(
                f"invalid signature for key {signature.name}+{signature.key_hash:08x}"
            )
        verified.append(signature)
        used.append(candidates[0])
    note = Note(text, tuple(verified), tuple(used), tuple(unverified))
    if not verified:
        raise UnverifiedNoteError("note has no verifiable signatures", note)
    return note


def cosign_note(note: Note, *, signer: Signer, timestamp: int | None = None) -> bytes:
    """The note re-emitted with the signatures it has plus `signer`'s (a witness's cosignature, usually)."""
    return sign_note(
        note.text, signers=[signer], keep=(*note.verified, *note.unverified), timestamp=timestamp
    )


def cosignature_message(text: bytes, *, timestamp: int) -> bytes:
    """What a cosignature/v1 signs: the header line, the time line, then the note text."""
    return b"cosignature/v1\ntime %d\n" % timestamp + text


def require_quorum(note: Note, *, witnesses: Iterable[Verifier], quorum: int) -> list[Signature]:
    """The verified cosignatures of `witnesses` in `note`; QuorumError if fewer than `quorum` keys."""
    wanted = {(witness.name, witness.key_hash) for witness in witnesses}
    cosignatures = [
        signature
        for signature, verifier in zip(note.verified, note.verifiers, strict=True)
        if (verifier.name, verifier.key_hash) in wanted
    ]
    if len(cosignatures) < quorum:
        raise QuorumError(
            f"{len(cosignatures)} of {len(wanted)} witnesses cosigned the note; the quorum is {quorum}"
        )
    return cosignatures


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    _check_characters(text, "note text")


def _check_characters(text: str, what: str) -> None:
    for position, char in enumerate(text):
        if char < " " and char != "\n":
            raise NoteError(f"{what} has control character U+{ord(char):04X} at position {position}")


def _b64decode(text: str) -> bytes | None:
    """Standard base64, canonical only: no two spellings of one signature, so no bit of a note is slack."""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return data if base64.b64encode(data).decode() == text else None


# -- checkpoints --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """The body of a C2SP checkpoint: origin, tree size, root hash, optional extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise CheckpointError("checkpoint origin must be one non-empty line")
        if self.size < 0:
            raise CheckpointError(f"checkpoint tree size {self.size} is negative")
        if len(self.root_hash) != HASH_SIZE:
            raise CheckpointError(f"checkpoint root hash has {len(self.root_hash)} bytes, not {HASH_SIZE}")
        for extension in self.extensions:
            if not extension or "\n" in extension:
                raise CheckpointError("checkpoint extension lines must be single non-empty lines")

    @property
    def text(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode(), *self.extensions]
        return "\n".join(lines) + "\n"


def parse_checkpoint(text: str) -> Checkpoint:
    """The Checkpoint that a note text holds."""
    if not text.endswith("\n"):
        raise CheckpointError("checkpoint text must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError(f"checkpoint has {len(lines)} lines; it needs origin, tree size and root hash")
    origin, size, root, *extensions = lines
    if not _SIZE.fullmatch(size):
        raise CheckpointError(f"checkpoint tree size {size!r} is not a decimal number without leading zeros")
    root_hash = _b64decode(root)
    if root_hash is None or len(root_hash) != HASH_SIZE:
        raise CheckpointError(f"checkpoint root hash {root!r} is not the base64 of {HASH_SIZE} bytes")
    return Checkpoint(origin, int(size), root_hash, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, *, signer: Signer) -> bytes:
    """The checkpoint as a note signed by the log's key."""
    return sign_note(checkpoint.text, signers=[signer])


def open_checkpoint(
    message: bytes, *, origin: str, log: Verifier, witnesses: Iterable[Verifier] = (), quorum: int = 0
) -> tuple[Checkpoint, Note]:
    """Verify a signed checkpoint of log `origin`: the log's signature and `quorum` witness cosignatures.

    CheckpointError names a missing log signature, another log's origin or a malformed body.
    """
    witnesses = list(witnesses)
    note = open_note(message, verifiers=[log, *witnesses])
    if log not in note.verifiers:
        raise CheckpointError(f"checkpoint is not signed by the log key {log.name}+{log.key_hash:08x}")
    checkpoint = parse_checkpoint(note.text)
    if checkpoint.origin != origin:
        raise CheckpointError(f"checkpoint is for log {checkpoint.origin!r}, not {origin!r}")
    require_quorum(note, witnesses=witnesses, quorum=quorum)
    return checkpoint, note
