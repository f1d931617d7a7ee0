"""Server-rendered SVG charts: horizontal bars with a value label and an optional target mark.
Pure: no database; every text is escaped, the chart has a title and a description for screen readers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

ROW = 26
LABEL_WIDTH = 160
BAR_WIDTH = 360
VALUE_WIDTH = 110


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    text: str  # the value as people read it, e.g. "42 min" or "12.5 %"
    target: float | None = None  # drawn as a vertical mark on the same scale


def bars(title: str, data: Sequence[Bar], *, description: str = "") -> str:
    """A horizontal bar chart; bars scale to the largest value or target."""
    top = max([bar.value for bar in data] + [bar.target or 0.0 for bar in data] + [0.0])
    scale = BAR_WIDTH / top if top > 0 else 0.0
    width, height = LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH, ROW * max(len(data), 1) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" aria-labelledby="t d">',
        f'<title id="t">{escape(title)}</title><desc id="d">{escape(description or title)}</desc>',
        f'<text x="0" y="16" class="chart-title">{escape(title)}</text>',
    ]
    if not data:
        parts.append('<text x="0" y="44">no data in this period</text>')
    for row, bar in enumerate(data):
        y = 30 + row * ROW
        length = max(bar.value * scale, 0.0)
        parts.append(f'<text x="0" y="{y + 16}">{escape(bar.label)}</text>')
        parts.append(
            f'<rect x="{LABEL_WIDTH}" y="{y + 4}" width="{length:.1f}" height="{ROW - 8}" class="bar"/>'
        )
        parts.append(f'<text x="{LABEL_WIDTH + length + 6:.1f}" y="{y + 16}">{escape(bar.text)}</text>')
        if bar.target is not None:
            x = LABEL_WIDTH + bar.target * scale
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y + 1}" y2="{y + ROW - 1}" class="target">'
                f"<title>target {bar.target:g}</title></line>"
            )
    parts.append("</svg>")
    return "".join(parts)
