"""Certificates benchmark (issue 5, "Measured"): credentials signed and verified per second.

certificates.sign: `credentials.issue` (build a VC 2.0 certificate of origin with its status entry,
canonical JSON, compact JWS EdDSA via joserfc), one credential after another, one core.
certificates.verify: `credentials.verify` (strict base64url, header, kid, Ed25519 signature, issuer,
validity period, the status list bit) of those credentials against a 131,072-entry status list.
Beside each, measured in the same run: bare Ed25519 sign / verify (cryptography) of the same payload
bytes, the least either can cost. The issue names no floor.

    python bench/certificates.py            # 5,000 credentials
    python bench/certificates.py --quick    # 1,000

stdout gets the table, then one JSON object per figure, one per line, last.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console
from rich.table import Table

from customhouse.certificates import credentials as vc

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SUBJECT = {
    "id": "urn:customhouse:declaration:26KR00004000000012",
    "exporter": {"id": "KR1000000001", "name": "Hanbit Trading Co.", "country": "KR"},
    "consignee": {"name": "Shenzhen Bright Electronics", "country": "CN"},
    "countryOfExport": "KR",
    "countryOfDestination": "CN",
    "goods": [
        {"sequence": n, "hsCode": "851713", "description": "Mobile phones", "countryOfOrigin": "KR",
         "quantity": "100", "unit": "C62", "grossMass": "55.5"}
        for n in range(1, 4)
    ],
}  # fmt: skip


def sign_credentials(issuer: vc.Issuer, count: int) -> tuple[float, list[str]]:
    tokens = []
    started = time.perf_counter()
    for n in range(count):
        _, token = vc.issue(
            issuer,
            kind=vc.CERTIFICATE_OF_ORIGIN,
            id=f"urn:uuid:00000000-0000-4000-8000-{n:012d}",
            subject=SUBJECT,
            valid_from=NOW,
            valid_until=NOW + timedelta(days=365),
            status_index=n % vc.STATUS_LIST_SIZE,
        )
        tokens.append(token)
    return count / (time.perf_counter() - started), tokens


def verify_credentials(tokens: list[str], keys: list[vc.PublicKey], listed: vc.StatusList) -> float:
    started = time.perf_counter()
    for token in tokens:
        verdict = vc.verify(token, public_keys=keys, status_list=listed, now=NOW + timedelta(days=1))
        assert verdict.status is not vc.Status.ALTERED, verdict.reason
    return len(tokens) / (time.perf_counter() - started)


def bare(payloads: list[bytes]) -> tuple[float, float]:
    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    started = time.perf_counter()
    signatures = [key.sign(payload) for payload in payloads]
    signing = len(payloads) / (time.perf_counter() - started)
    started = time.perf_counter()
    for payload, signature in zip(payloads, signatures, strict=True):
        public.verify(signature, payload)
    return signing, len(payloads) / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 credentials instead of 5,000")
    count = 1_000 if parser.parse_args().quick else 5_000
    issuer = vc.Issuer(
        did=vc.did_web("customs.example"), key=vc.generate_key(), status_base="https://customs.example"
    )
    keys = vc.keys_from_json(issuer.did_document())
    listed = vc.read_status_list(
        vc.sign_status_list(issuer, revoked=range(0, vc.STATUS_LIST_SIZE, 7), valid_from=NOW),
        public_keys=keys,
        now=NOW,
    )
    _, warm = sign_credentials(issuer, 200)
    verify_credentials(warm, keys, listed)
    signing, tokens = sign_credentials(issuer, count)
    verifying = verify_credentials(tokens, keys, listed)
    payloads = [".".join(token.split(".")[:2]).encode() for token in tokens]  # the JWS signing input
    bare_sign, bare_verify = bare(payloads)
    bare_sign2, bare_verify2 = bare(payloads)
    bare_sign, bare_verify = max(bare_sign, bare_sign2), max(bare_verify, bare_verify2)

    figures = [
        ("certificates.sign", signing, "credentials/s", "bare Ed25519 sign (cryptography)", bare_sign),
        (
            "certificates.verify",
            verifying,
            "credentials/s",
            "bare Ed25519 verify (cryptography)",
            bare_verify,
        ),
    ]
    title = f"certificates: {count:,} credentials, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')}"
    table = Table(title=title)
    for column in ("figure", "value", "unit", "compared with (same run)", "its value", "ratio"):
        table.add_column(
            column, justify="left" if column in ("figure", "unit", "compared with (same run)") else "right"
        )
    for name, value, unit, vs, vs_value in figures:
        table.add_row(name, f"{value:,.0f}", unit, vs, f"{vs_value:,.0f}", f"{value / vs_value:.3f}")
    Console(width=None if sys.stdout.isatty() else 160).print(table)
    print(f"token size: {len(tokens[0])} characters", file=sys.stderr)
    for name, value, unit, vs, vs_value in figures:
        figure = {
            "bench": name,
            "value": round(value, 2),
            "unit": unit,
            "vs": vs,
            "vs_value": round(vs_value, 2),
        }
        print(json.dumps(figure), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
