"""Chart geometry for the dashboard's inline SVG charts (no chart library, no CDN: the server draws them)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

# One colour per disposition, grouped by meaning: greens reached someone, greys did not, reds went wrong.
DISPOSITION_COLOURS = {
    "completed": "#2f855a",
    "interested": "#38a169",
    "not_interested": "#d69e2e",
    "callback_requested": "#3182ce",
    "opted_out": "#805ad5",
    "wrong_person": "#b7791f",
    "voicemail_left": "#4299e1",
    "no_answer": "#a0aec0",
    "busy": "#718096",
    "failed": "#e53e3e",
    "invalid_number": "#9b2c2c",
    "unclear": "#ed8936",
}


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    share: float  # of the total, 0..1
    x: float
    y: float
    width: float
    height: float
    colour: str
    tick: bool = True  # whether the axis shows this bar's label


def disposition_bars(by_disposition: dict[str, int], width: float = 100.0, row: float = 22.0) -> list[Bar]:
    """Horizontal bars, longest first; the longest spans `width` (100: widths are percentages, for CSS bars)."""
    total = sum(by_disposition.values())
    top = max(by_disposition.values(), default=0)
    items = sorted(by_disposition.items(), key=lambda kv: (-kv[1], kv[0]))
    return [
        Bar(
            label=name,
            value=n,
            share=n / total if total else 0.0,
            x=0.0,
            y=i * row,
            width=round(width * n / top, 1) if top else 0.0,
            height=row - 6,
            colour=DISPOSITION_COLOURS.get(name, "#4a5568"),
        )
        for i, (name, n) in enumerate(items)
    ]


def hourly_bars(
    series: list[tuple[dt.datetime, int]], width: float = 600.0, height: float = 120.0, max_slot: float = 36.0
) -> list[Bar]:
    """Vertical bars in a plot `width` x `height`, one slot per active hour (at most `max_slot` wide, so a few
    hours do not make a wall of blue), scaled to the busiest hour; about eight hours are labelled."""
    top = max((n for _, n in series), default=0)
    total = sum(n for _, n in series)
    slot = min(width / max(len(series), 1), max_slot)
    every = max(1, round(len(series) / 8))
    bars = []
    for i, (hour, n) in enumerate(series):
        h = round(height * n / top, 1) if top else 0.0
        bars.append(
            Bar(
                label=timezone.localtime(hour).strftime("%d %b %H:00"),
                value=n,
                share=n / total if total else 0.0,
                x=round(i * slot + 2, 1),
                y=round(height - h, 1),
                width=round(max(slot - 4, 1), 1),
                height=h,
                colour="#2a7ae2",
                tick=i % every == 0,
            )
        )
    return bars
