"""The breakdown of a job as an inline SVG bar chart, drawn on the server (no script)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from html import escape

from mailsift.web.reasons import RESULT_COLOURS, RESULT_ORDER, RESULT_WORDS

_WIDTH = 600
_BAR = 28
_GAP = 12
_LABEL = 110
_VALUE = 110


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    count: int
    colour: str


def result_bars(by_result: Mapping[str, int]) -> list[Bar]:
    return [
        Bar(RESULT_WORDS[result], by_result.get(result, 0), RESULT_COLOURS[result])
        for result in RESULT_ORDER
    ]


def bar_chart(bars: list[Bar], title: str) -> str:
    """Horizontal bars, one per row, each labelled with its count and share."""
    total = sum(bar.count for bar in bars)
    height = len(bars) * (_BAR + _GAP) + _GAP
    span = _WIDTH - _LABEL - _VALUE
    parts = [
        f'<svg class="chart" viewBox="0 0 {_WIDTH} {height}" role="img" '
        f'aria-labelledby="chart-title" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-title">{escape(title)}</title>',
    ]
    for n, bar in enumerate(bars):
        y = _GAP + n * (_BAR + _GAP)
        share = bar.count / total if total else 0.0
        width = max(1.0, share * span) if bar.count else 0.0
        middle = y + _BAR / 2
        parts.append(
            f'<text x="0" y="{middle}" dominant-baseline="middle" font-size="16" '
            f'fill="currentColor">{escape(bar.label)}</text>'
        )
        parts.append(
            f'<rect x="{_LABEL}" y="{y}" width="{width:.1f}" height="{_BAR}" rx="3" '
            f'fill="{bar.colour}"/>'
        )
        parts.append(
            f'<text x="{_LABEL + width + 8:.1f}" y="{middle}" dominant-baseline="middle" '
            f'font-size="16" fill="currentColor">{bar.count:,} ({share:.0%})</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
