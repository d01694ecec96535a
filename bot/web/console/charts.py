"""Charts drawn on the server as inline SVG: no chart service, no script.

A chart is rows of a label above a bar (a track with coloured segments) and
its value, laid out here in the SVG's own units and drawn by
``_chart.html``. The SVG carries its text equivalent (``<title>`` and
``<desc>``, named by ``aria-labelledby``) for screen readers; the same
numbers are on the page as text.
"""

from __future__ import annotations

from dataclasses import dataclass

WIDTH = 360  # the SVG's units; it scales with the card (CSS caps its width)
LABEL_HEIGHT = 18
BAR_HEIGHT = 16
ROW_GAP = 14
VALUE_ROOM = 64  # right of the bars, for the value


@dataclass(frozen=True)
class Segment:
    """A coloured part of a bar: ``look`` is success, info, warn or danger."""

    x: float
    width: float
    look: str


@dataclass(frozen=True)
class ChartRow:
    label: str
    value: str
    label_y: float
    bar_y: float
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class Chart:
    """``name`` makes the ids of its title and description on the page."""

    name: str
    title: str
    description: str
    rows: tuple[ChartRow, ...]
    width: int
    height: float
    track: float  # the bars' full width


def bar_chart(
    name: str,
    title: str,
    description: str,
    rows: list[tuple[str, str, list[tuple[float, str]]]],
) -> Chart:
    """``rows``: (label, value as text, [(share of the full bar 0..1, look)]);
    segments follow each other from the left."""
    track = WIDTH - VALUE_ROOM
    laid = []
    y = 0.0
    for label, value, parts in rows:
        segments, x = [], 0.0
        for share, look in parts:
            width = max(0.0, min(1.0, share)) * track
            if width > 0:
                segments.append(Segment(round(x, 2), round(width, 2), look))
            x += width
        laid.append(ChartRow(label, value, y + 13, y + LABEL_HEIGHT, tuple(segments)))
        y += LABEL_HEIGHT + BAR_HEIGHT + ROW_GAP
    return Chart(name, title, description, tuple(laid), WIDTH, max(y - ROW_GAP, 1), track)
