"""Signed notes, checkpoints and cosignatures.

Vectors: golang.org/x/mod sumdb/note note_test.go (the PeterNeumann and EnochRoot keys, the signed
"If you think cryptography..." note) and sumdb/tlog note_test.go (the "go.sum database tree"
checkpoint); transparency-dev/formats note/note_cosigv1_test.go (a native 0x04 cosigner key and the
timestamp of a cosignature); the example of C2SP tlog-cosignature (its cosignature line and message).
The spec's example cosignature cannot be verified: its public key is not published.
"""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from customhouse.ledger.merkle import leaf_hash
from customhouse.ledger.note import (
    KEY_COSIGNATURE,
    KEY_ED25519,
    Checkpoint,
    CheckpointError,
    InvalidSignatureError,
    KeyFormatError,
    NoteError,
    QuorumError,
    Signature,
    Signer,
    UnverifiedNoteError,
    Verifier,
    cosign_note,
    cosignature_message,
    generate_key,
    key_hash,
    open_checkpoint,
    open_note,
    parse_checkpoint,
    parse_note,
    parse_signer_key,
    parse_verifier_key,
    require_quorum,
    sign_checkpoint,
    sign_note,
)

PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_B64 = "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
PETER_SIG = f"— PeterNeumann {PETER_B64}\n"
ENOCH_B64 = "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ="
ENOCH_SIG = f"— EnochRoot {ENOCH_B64}\n"
PETER = Signature("PeterNeumann", 0xC74F20A3, PETER_SIG.split()[-1])
ENOCH = Signature("EnochRoot", 0xAF0CFE78, ENOCH_SIG.split()[-1])
GO_CHECKPOINT = "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n"
SPEC_CHECKPOINT = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SPEC_COSIGNATURE = (
    "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA=="
)
ORIGIN = "customs.example/log"

peter = parse_verifier_key(PETER_VKEY)
enoch = parse_verifier_key(ENOCH_VKEY)

LOG = generate_key(ORIGIN)
WITNESS = generate_key("witness.example/w1", key_type=KEY_COSIGNATURE)
COSIGNED = cosign_note(
    open_note(
        sign_checkpoint(Checkpoint(ORIGIN, 7, leaf_hash(b"seven")), signer=LOG), verifiers=[LOG.verifier]
    ),
    signer=WITNESS,
    timestamp=1_700_000_000,
)


def flip(value: bytes, bit: int) -> bytes:
    changed = bytearray(value)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


# -- Go's keys and note, byte for byte --------------------------------------------------------------------


def test_go_keys_round_trip() -> None:
    signer = parse_signer_key(PETER_SKEY)
    assert signer.skey == PETER_SKEY
    assert signer.verifier == peter
    assert peter.vkey == PETER_VKEY
    assert (peter.name, peter.key_hash, peter.key_type) == ("PeterNeumann", 0xC74F20A3, KEY_ED25519)
    assert enoch.key_hash == 0xAF0CFE78


@pytest.mark.parametrize("key_type", [KEY_ED25519, KEY_COSIGNATURE])
def test_generated_keys_round_trip(key_type: int) -> None:
    signer = generate_key("customs.example/log", key_type=key_type)
    assert parse_signer_key(signer.skey) == signer
    assert parse_verifier_key(signer.verifier.vkey) == signer.verifier
    assert signer.skey.startswith(f"PRIVATE+KEY+customs.example/log+{signer.key_hash:08x}+")
    assert generate_key("customs.example/log").verifier != signer.verifier


def test_signing_matches_go() -> None:
    signer = parse_signer_key(PETER_SKEY)
    assert sign_note(TEXT, signers=[signer]) == (TEXT + "\n" + PETER_SIG).encode()
    # an existing signature by the same key is replaced, as Go's note.Sign does
    stale = Signature(
        "PeterNeumann", 0xC74F20A3, base64.b64encode(bytes.fromhex("c74f20a3") + b"old").decode()
    )
    assert sign_note(TEXT, signers=[signer], keep=[stale]) == (TEXT + "\n" + PETER_SIG).encode()
    # kept signatures by other keys come first, new ones after
    assert sign_note(TEXT, signers=[signer], keep=[ENOCH]) == (TEXT + "\n" + ENOCH_SIG + PETER_SIG).encode()


def test_bad_input_to_sign() -> None:
    signer = parse_signer_key(PETER_SKEY)
    with pytest.raises(NoteError, match="end with a newline"):
        sign_note("abc", signers=[signer])
    with pytest.raises(NoteError, match="does not carry key hash"):
        sign_note(TEXT, signers=[], keep=[Signature("PeterNeumann", 0xC74F20A3, "BADHASH=")])
    with pytest.raises(NoteError, match="name 'a\\+b'"):
        sign_note(TEXT, signers=[], keep=[Signature("a+b", 0, "ABCD")])
    with pytest.raises(NoteError, match="control character U\\+0001"):
        sign_note("a\x01b\n", signers=[signer])
    with pytest.raises(KeyFormatError, match="space"):
        Signer("bad name", KEY_ED25519, bytes(32))


def test_every_mangling_of_a_verifier_key_is_refused() -> None:
    """As Go's TestNewVerifier: every proper substring, every character incremented."""
    for start in range(len(PETER_VKEY) + 1):
        for end in range(start + 1, len(PETER_VKEY) + 1):
            if (start, end) != (0, len(PETER_VKEY)):
                with pytest.raises(KeyFormatError):
                    parse_verifier_key(PETER_VKEY[start:end])
    for position in range(len(PETER_VKEY)):
        mangled = PETER_VKEY[:position] + chr(ord(PETER_VKEY[position]) + 1) + PETER_VKEY[position + 1 :]
        with pytest.raises(KeyFormatError):
            parse_verifier_key(mangled)
    with pytest.raises(KeyFormatError):  # Go's wrong-length key with adjusted hash; for us already bad base64
        parse_verifier_key("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==")
    long_key = base64.b64encode(b"\x01" + bytes(33)).decode()
    with pytest.raises(KeyFormatError, match="32 bytes, not 33"):  # canonical base64, adjusted hash
        parse_verifier_key(f"PeterNeumann+{key_hash('PeterNeumann', 1, bytes(33)):08x}+{long_key}")
    with pytest.raises(KeyFormatError, match="unknown key type 0x65"):  # unknown algorithm, adjusted hash
        parse_verifier_key("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")


def test_every_mangling_of_a_signer_key_is_refused() -> None:
    for start in range(len(PETER_SKEY) + 1):
        for end in range(start + 1, len(PETER_SKEY) + 1):
            if (start, end) != (0, len(PETER_SKEY)):
                with pytest.raises(KeyFormatError):
                    parse_signer_key(PETER_SKEY[start:end])
    for position in range(len(PETER_SKEY)):
        mangled = PETER_SKEY[:position] + chr(ord(PETER_SKEY[position]) + 1) + PETER_SKEY[position + 1 :]
        with pytest.raises(KeyFormatError):
            parse_signer_key(mangled)


def test_open_as_go_does() -> None:
    message = (TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode()
    note = open_note(message, verifiers=[peter])
    assert note.text == TEXT
    assert note.verified == (PETER,)
    assert note.verifiers == (peter,)
    assert note.unverified == (ENOCH,)

    note = open_note(message, verifiers=[peter, enoch])
    assert note.verified == (PETER, ENOCH)
    assert note.unverified == ()

    with pytest.raises(UnverifiedNoteError, match="no verifiable signatures") as raised:
        open_note(message, verifiers=[])
    assert raised.value.note.unverified == (PETER, ENOCH)

    # repeated signatures count once; a known key's second copy is not even checked
    raw = TEXT.encode() + b"\n" + PETER_SIG.encode()
    abcd_enoch = ENOCH_SIG.encode()[:60] + b"ABCD" + ENOCH_SIG.encode()[60:]
    note = open_note(raw + PETER_SIG.encode() + ENOCH_SIG.encode() * 2 + abcd_enoch, verifiers=[peter])
    assert note.verified == (PETER,)
    assert [signature.name for signature in note.unverified] == ["EnochRoot", "EnochRoot"]


def test_open_refuses_what_go_refuses() -> None:
    peter_bytes = PETER_SIG.encode()
    with pytest.raises(InvalidSignatureError, match="invalid signature for key PeterNeumann\\+c74f20a3"):
        open_note(TEXT.encode() + b"\n" + peter_bytes[:60] + b"ABCD" + peter_bytes[60:], verifiers=[peter])
    with pytest.raises(NoteError, match="101 signatures"):
        open_note((TEXT + "\n" + PETER_SIG * 101).encode(), verifiers=[peter])
    open_note(
        (TEXT + "\n" + PETER_SIG).encode(), verifiers=[enoch, peter, enoch]
    )  # a repeated verifier is one
    impostor = Verifier("EnochRoot", KEY_ED25519, bytes(32))
    object.__setattr__(impostor, "key_hash", enoch.key_hash)  # a collision of name and key hash
    with pytest.raises(NoteError, match="ambiguous key EnochRoot\\+af0cfe78"):
        open_note((TEXT + "\n" + ENOCH_SIG).encode(), verifiers=[enoch, peter, impostor])
    bad = [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        TEXT + "\n" + f"— Bad Name {PETER_B64}",
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
    ]
    for message in [*(text.encode() for text in bad), b"\xff" + (TEXT + "\n" + PETER_SIG).encode()]:
        with pytest.raises(NoteError):
            open_note(message, verifiers=[peter])


def test_base64_must_be_canonical() -> None:
    """'M=' and 'N=' decode alike; only the canonical spelling is accepted, so no bit is slack."""
    slack = PETER_SIG.replace("AM=\n", "AN=\n")
    assert base64.b64decode(slack.split()[-1]) == base64.b64decode(PETER_SIG.split()[-1])
    with pytest.raises(NoteError, match="signature line 1"):
        open_note((TEXT + "\n" + slack).encode(), verifiers=[peter])


@settings(max_examples=200, deadline=None)
@given(bit=st.integers(0, 8 * len((TEXT + "\n" + PETER_SIG).encode()) - 1))
def test_any_flipped_bit_of_a_signed_note_fails(bit: int) -> None:
    with pytest.raises(NoteError):
        open_note(flip((TEXT + "\n" + PETER_SIG).encode(), bit), verifiers=[peter])


# -- checkpoints ---------------------------------------------------------------------------------------------


def test_the_go_checkpoint() -> None:
    checkpoint = parse_checkpoint(GO_CHECKPOINT)
    assert checkpoint == Checkpoint("go.sum database tree", 123456789012, leaf_hash(b"hello world"))
    assert checkpoint.text == GO_CHECKPOINT


def test_checkpoint_extension_lines() -> None:
    checkpoint = parse_checkpoint(SPEC_CHECKPOINT + "extension one\nextension two\n")
    assert checkpoint.extensions == ("extension one", "extension two")
    assert checkpoint.text == SPEC_CHECKPOINT + "extension one\nextension two\n"
    assert parse_checkpoint("o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n").size == 0


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        (GO_CHECKPOINT.replace("123456789012", "0xabcdef"), "tree size '0xabcdef'"),
        (GO_CHECKPOINT.replace("123456789012", "0123"), "leading zeros"),
        (GO_CHECKPOINT.replace("HmuwBb0=", "HmuwBTOOBIG="), "root hash"),
        (GO_CHECKPOINT.replace("Bb0=", "Bb1="), "root hash"),  # not canonical base64
        (GO_CHECKPOINT + "JOE", "end with a newline"),
        (GO_CHECKPOINT + "\n", "extension lines"),
        ("origin\n5\n", "3 lines|needs origin"),
        ("\n5\n" + GO_CHECKPOINT.split("\n")[2] + "\n", "origin"),
    ],
)
def test_bad_checkpoints(text: str, complaint: str) -> None:
    with pytest.raises(CheckpointError, match=complaint):
        parse_checkpoint(text)


def test_a_signed_checkpoint_opens() -> None:
    log = generate_key(ORIGIN)
    checkpoint = Checkpoint(ORIGIN, 42, leaf_hash(b"root"))
    message = sign_checkpoint(checkpoint, signer=log)
    assert message.startswith(checkpoint.text.encode() + b"\n\xe2\x80\x94 customs.example/log ")
    opened, note = open_checkpoint(message, origin=ORIGIN, log=log.verifier)
    assert opened == checkpoint
    assert note.verifiers == (log.verifier,)
    with pytest.raises(CheckpointError, match=r"not 'customs\.example/other'"):
        open_checkpoint(message, origin="customs.example/other", log=log.verifier)
    with pytest.raises(UnverifiedNoteError):
        open_checkpoint(message, origin=ORIGIN, log=generate_key(ORIGIN).verifier)
    other_log = generate_key(ORIGIN)
    message = sign_note(checkpoint.text, signers=[other_log, log])
    opened, note = open_checkpoint(message, origin=ORIGIN, log=log.verifier)  # unknown keys are ignored
    assert note.unverified[0].key_hash == other_log.key_hash


def test_a_note_signed_only_by_a_witness_is_not_the_logs_checkpoint() -> None:
    log, witness = generate_key(ORIGIN), generate_key("witness.example/w1", key_type=KEY_COSIGNATURE)
    message = sign_note(SPEC_CHECKPOINT, signers=[witness])
    with pytest.raises(CheckpointError, match="not signed by the log key"):
        open_checkpoint(
            message, origin="example.com/behind-the-sofa", log=log.verifier, witnesses=[witness.verifier]
        )


# -- cosignatures --------------------------------------------------------------------------------------------


def test_cosigner_key_hashes_use_type_four() -> None:
    remora = parse_verifier_key("remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2")
    assert remora.key_type == KEY_COSIGNATURE
    assert remora.key_hash == key_hash("remora.n621.de", 0x04, remora.public_key) == 0xDA77ADE7
    plain = parse_verifier_key("TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6")
    assert plain.key_type == KEY_ED25519
    as_cosigner = Verifier("TEST", KEY_COSIGNATURE, plain.public_key)
    assert as_cosigner.key_hash != plain.key_hash
    assert as_cosigner.vkey.startswith(f"TEST+{as_cosigner.key_hash:08x}+B")


def test_the_timestamp_of_published_cosignatures() -> None:
    formats = Signature(
        "any",
        0x646846B9,
        "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA==",
    )
    assert formats.timestamp == 1727964367
    spec = Signature("witness.example.com/w1", 0x8D66CF3F, SPEC_COSIGNATURE)
    assert spec.timestamp == 1679315147
    assert len(base64.b64decode(SPEC_COSIGNATURE)) == 4 + 8 + 64
    assert base64.b64decode(SPEC_COSIGNATURE)[:4] == bytes.fromhex("8d66cf3f")
    not_a_cosignature = Signature(
        "x",
        0x79,
        "eQjRQm6eSKzFoiYalgwCPXu2y3ijtg68is9M46JKxuZB+dRfTmeQeDBoXnvxZx2ugnkyV+MUMLXpWs1hPb/W/4xkNQY=",
    )
    with pytest.raises(NoteError, match="not a cosignature"):
        _ = not_a_cosignature.timestamp


def test_the_cosigned_message_of_the_spec_example() -> None:
    assert cosignature_message(SPEC_CHECKPOINT.encode(), timestamp=1679315147) == (
        b"cosignature/v1\ntime 1679315147\n"
        b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )


def test_a_cosignature_signs_the_header_time_and_body() -> None:
    witness = generate_key("witness.example/w1", key_type=KEY_COSIGNATURE)
    message = sign_note(SPEC_CHECKPOINT, signers=[witness], timestamp=1679315147)
    _, signatures = parse_note(message)
    raw = base64.b64decode(signatures[0].encoded)
    assert raw[:4] == witness.key_hash.to_bytes(4, "big")
    assert raw[4:12] == (1679315147).to_bytes(8, "big")
    # checked with the cryptography package directly, not with our verifier
    public = Ed25519PublicKey.from_public_bytes(witness.verifier.public_key)
    public.verify(raw[12:], b"cosignature/v1\ntime 1679315147\n" + SPEC_CHECKPOINT.encode())
    assert signatures[0].timestamp == 1679315147
    assert open_note(message, verifiers=[witness.verifier]).verified == tuple(signatures)


def test_a_cosignature_is_not_a_plain_signature_nor_the_reverse() -> None:
    witness = generate_key("w", key_type=KEY_COSIGNATURE)
    plain = Signer("w", KEY_ED25519, witness.seed)
    cosigned = sign_note(SPEC_CHECKPOINT, signers=[witness], timestamp=1)
    signed = sign_note(SPEC_CHECKPOINT, signers=[plain])
    with pytest.raises(UnverifiedNoteError):  # different key hash: another key
        open_note(cosigned, verifiers=[plain.verifier])
    with pytest.raises(UnverifiedNoteError):
        open_note(signed, verifiers=[witness.verifier])
    assert not witness.verifier.verify(SPEC_CHECKPOINT.encode(), plain.sign(SPEC_CHECKPOINT.encode()))
    assert not plain.verifier.verify(SPEC_CHECKPOINT.encode(), witness.sign(SPEC_CHECKPOINT.encode()))
    with pytest.raises(NoteError, match="not timestamped cosignatures"):
        plain.sign(b"x\n", timestamp=5)
    with pytest.raises(NoteError, match="2\\*\\*63"):
        witness.sign(b"x\n", timestamp=2**63)


def test_a_cosignature_with_a_timestamp_past_2_63_does_not_verify() -> None:
    witness = generate_key("w", key_type=KEY_COSIGNATURE)
    body = SPEC_CHECKPOINT.encode()
    timestamp = 2**63
    private = Ed25519PrivateKey.from_private_bytes(witness.seed)
    forged = timestamp.to_bytes(8, "big") + private.sign(cosignature_message(body, timestamp=timestamp))
    assert not witness.verifier.verify(body, forged)


def test_witnesses_cosign_and_clients_require_a_quorum() -> None:
    log = generate_key(ORIGIN)
    witnesses = [generate_key(f"witness.example/w{i}", key_type=KEY_COSIGNATURE) for i in range(3)]
    verifiers = [witness.verifier for witness in witnesses]
    checkpoint = Checkpoint(ORIGIN, 1000, leaf_hash(b"root"))
    message = sign_checkpoint(checkpoint, signer=log)
    for witness in witnesses[:2]:  # each witness opens what it got with the log's key and adds its line
        note = open_note(message, verifiers=[log.verifier])
        message = cosign_note(note, signer=witness, timestamp=1_700_000_000)
    assert message.count("—".encode()) == 3

    _, note = open_checkpoint(message, origin=ORIGIN, log=log.verifier, witnesses=verifiers, quorum=2)
    assert [s.name for s in require_quorum(note, witnesses=verifiers, quorum=2)] == [
        "witness.example/w0",
        "witness.example/w1",
    ]
    with pytest.raises(QuorumError, match="2 of 3 witnesses cosigned the note; the quorum is 3"):
        open_checkpoint(message, origin=ORIGIN, log=log.verifier, witnesses=verifiers, quorum=3)
    # the log's own signature does not count towards the quorum, nor does a repeated cosignature
    with pytest.raises(QuorumError, match="0 of 1 witnesses"):
        require_quorum(note, witnesses=[witnesses[2].verifier], quorum=1)
    repeated = message + message.split(b"\n")[-2] + b"\n"
    _, note = open_checkpoint(repeated, origin=ORIGIN, log=log.verifier, witnesses=verifiers, quorum=2)
    assert len(note.verified) == 3


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_flipped_bit_of_a_cosigned_checkpoint_fails(data: st.DataObject) -> None:
    message = COSIGNED
    bit = data.draw(st.integers(0, 8 * len(message) - 1))
    with pytest.raises(NoteError):
        open_checkpoint(
            flip(message, bit), origin=ORIGIN, log=LOG.verifier, witnesses=[WITNESS.verifier], quorum=1
        )


def test_any_flipped_bit_of_a_cosignature_fails() -> None:
    cosignature = open_note(COSIGNED, verifiers=[LOG.verifier, WITNESS.verifier]).verified[1]
    raw = base64.b64decode(cosignature.encoded)
    for bit in range(8 * len(raw)):  # key hash, timestamp and Ed25519 signature
        message = COSIGNED.replace(cosignature.encoded.encode(), base64.b64encode(flip(raw, bit)))
        with pytest.raises(NoteError):
            open_checkpoint(message, origin=ORIGIN, log=LOG.verifier, witnesses=[WITNESS.verifier], quorum=1)
