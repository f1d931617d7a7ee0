"""Receipt signatures (Ed25519) and the signing key file created at first use."""

from __future__ import annotations

import stat
import threading

from customhouse.payments import receipts
from customhouse.payments.receipts import FileSigner

DOCUMENT = {"type": "customhouse.payment-receipt", "order_id": "o-1", "amount": "12.5", "currency": "KRW"}


def test_the_key_file_is_created_once_with_mode_600_and_reused(tmp_path):
    first = FileSigner.under(tmp_path)
    path = tmp_path / receipts.KEY_FILE
    assert not path.exists()  # made at first use
    key = first.public_key()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert FileSigner.under(tmp_path).public_key() == key
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind


def test_signers_started_at_once_agree_on_one_key(tmp_path):
    keys: list[bytes] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        keys.append(FileSigner.under(tmp_path).public_key())

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 8 and len(set(keys)) == 1


def test_a_signed_receipt_verifies_with_the_public_key_only(tmp_path):
    signer = FileSigner.under(tmp_path)
    envelope = receipts.signed(DOCUMENT, signer)
    assert envelope["algorithm"] == "Ed25519"
    assert envelope["key_id"] == receipts.key_id(signer.public_key())
    assert receipts.verify(envelope, signer.public_key())


def test_a_changed_receipt_or_another_key_does_not_verify(tmp_path):
    signer = FileSigner.under(tmp_path / "a")
    envelope = receipts.signed(DOCUMENT, signer)
    forged = {**envelope, "receipt": {**DOCUMENT, "amount": "1.25"}}
    assert not receipts.verify(forged, signer.public_key())
    assert not receipts.verify(envelope, FileSigner.under(tmp_path / "b").public_key())
    assert not receipts.verify({**envelope, "signature": "AAAA"}, signer.public_key())


def test_the_signature_does_not_depend_on_key_order(tmp_path):
    signer = FileSigner.under(tmp_path)
    envelope = receipts.signed(DOCUMENT, signer)
    reordered = {**envelope, "receipt": dict(reversed(list(DOCUMENT.items())))}
    assert receipts.verify(reordered, signer.public_key())
