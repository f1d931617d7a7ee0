"""A certificate on paper: a one-page PDF with a QR code that carries its verification link.

The link opens the public verification page (`GET /verify`). It carries the credential itself
(`?credential=<compact JWS>`) when the resulting QR code stays easy to scan (`QR_MAX` characters, a
version 25-ish code at error correction level M), so that the page verifies exactly what was printed;
otherwise the certificate's id (`?id=<uuid>`), and the page fetches the issued credential. Either way
the verdict is the issuer's signature, validity period and status list, not the paper.

Rendered with ReportLab (its own QR code widget: one library for both); no database here.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

QR_MAX = 1200  # characters of a link the QR code may carry
QR_SIZE = 60 * mm
TITLES = {
    "CertificateOfOrigin": "Certificate of origin (non-preferential)",
    "PreferentialCertificateOfOrigin": "Certificate of origin (preferential)",
    "Licence": "Licence",
    "Permit": "Permit",
    "Certificate": "Certificate",
}


def verification_link(base_url: str, *, certificate_id: str, token: str) -> str:
    """The link the QR code carries (see the module docstring)."""
    base = base_url.rstrip("/")
    with_credential = f"{base}/verify?credential={quote(token, safe='')}"
    return with_credential if len(with_credential) <= QR_MAX else f"{base}/verify?id={certificate_id}"


def _qr(link: str) -> Drawing:
    widget = QrCodeWidget(link, barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(QR_SIZE, QR_SIZE, transform=[QR_SIZE / (x1 - x0), 0, 0, QR_SIZE / (y1 - y0), 0, 0])
    drawing.add(widget)
    return drawing


def _party(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(str(value[key]) for key in ("name", "id", "country") if value.get(key))
    return str(value)


def render(credential: Mapping[str, Any], *, link: str) -> bytes:
    """The PDF of a verifiable credential (its decoded payload) with the QR code of `link`."""
    styles = getSampleStyleSheet()
    kind = next((t for t in credential.get("type", []) if t != "VerifiableCredential"), "Certificate")
    subject: Mapping[str, Any] = credential.get("credentialSubject", {})
    out = io.BytesIO()
    document = SimpleDocTemplate(
        out, pagesize=A4, title=TITLES.get(kind, kind), author=str(credential.get("issuer", ""))
    )
    facts = [
        ["Certificate", str(credential.get("id", ""))],
        ["Issuer", str(credential.get("issuer", ""))],
        ["Valid from", str(credential.get("validFrom", ""))],
        ["Valid until", str(credential.get("validUntil", ""))],
    ]
    goods = subject.get("goods") if isinstance(subject.get("goods"), list) else None
    facts += [
        [key, _party(value)]
        for key, value in subject.items()
        if key != "goods" and not isinstance(value, list)
    ]
    cell = styles["BodyText"]
    story: list[Any] = [
        Paragraph(escape(TITLES.get(kind, kind)), styles["Title"]),
        Table(
            [[Paragraph(f"<b>{escape(k)}</b>", cell), Paragraph(escape(v), cell)] for k, v in facts],
            colWidths=[40 * mm, 130 * mm],
        ),
    ]
    if goods:
        header = ["#", "HS", "Description", "Origin", "Quantity", "Gross kg"]
        rows = [
            [
                str(g.get("sequence", "")),
                str(g.get("hsCode", "")),
                Paragraph(escape(str(g.get("description", ""))), cell),
                str(g.get("countryOfOrigin", "")),
                f"{g.get('quantity', '')} {g.get('unit', '')}".strip(),
                str(g.get("grossMass", "")),
            ]
            for g in goods
        ]
        table = Table([header, *rows], colWidths=[8 * mm, 18 * mm, 74 * mm, 16 * mm, 30 * mm, 24 * mm])
        table.setStyle(
            TableStyle(
                [
                    ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                    ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        story += [Spacer(1, 6 * mm), table]
    story += [
        Spacer(1, 8 * mm),
        _qr(link),
        Paragraph(
            "Scan the code, or open the link, to check this certificate with its issuer: the signature, "
            "the validity period and whether it has been revoked. The paper alone proves nothing.",
            cell,
        ),
        Paragraph(f'<font size="7">{escape(link if len(link) <= 160 else link[:157] + "...")}</font>', cell),
    ]
    document.build(story)
    return out.getvalue()
