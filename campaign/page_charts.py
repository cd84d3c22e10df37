"""The campaign page's two charts: operations over time and throughput, under the fault bands.

Figures are built as plain dicts in plotly's JSON shape: validating 20,000 points through
``plotly.graph_objects`` costs seconds and checks nothing that the browser test does not.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

import plotly.io

from campaign.history import CANCEL, CREATE, FAIL, INFO, OK, PHANTOM, Pair

# The most points the timeline draws: SVG plotly stays responsive up to about this many.
MAX_POINTS = 20_000

CLIENT_FUNCTIONS = (CREATE, PHANTOM, CANCEL)
OUTCOMES = (OK, FAIL, INFO)
_OUTCOME_COLOURS = {OK: "#1a7f37", FAIL: "#cf222e", INFO: "#d4a72c"}
_SYMBOLS = {CREATE: "circle", PHANTOM: "diamond", CANCEL: "square"}
# One colour per fault kind, fixed for the known ones so two pages compare at a glance.
_FAULT_COLOURS = {
    "proxy-cut": "#0969da",
    "broker-pause": "#8250df",
    "broker-stop": "#6639ba",
    "leader-kill": "#1b7c83",
    "pg-restart": "#bf3989",
    "pg-pause": "#bc4c00",
    "service-kill": "#57606a",
}
_SPARE_COLOURS = ("#4d2d00", "#116329", "#953800", "#0550ae", "#8c959f")
# Latencies under a tenth of a millisecond would sit at minus infinity on the log axis.
_MIN_LATENCY_MS = 0.1
_HEIGHT = 440
# Pixels per character of an 11 px band label, a little over the real width to be safe.
_LABEL_CHAR_PX = 7


@dataclass(frozen=True)
class Band:
    """One fault window of the schedule, in seconds since the start of the run."""

    fault: str
    start: float
    end: float


@dataclass(frozen=True)
class Sample:
    """The operations the timeline draws, out of how many there were."""

    pairs: list[Pair]
    total: int

    @property
    def downsampled(self) -> bool:
        """Return whether some operations were left out of the timeline."""
        return len(self.pairs) < self.total


def client_pairs(pairs: Iterable[Pair]) -> list[Pair]:
    """Return the clients' operations: the nemesis's fault-start and fault-stop are bands."""
    return [pair for pair in pairs if pair.invoke.f in CLIENT_FUNCTIONS]


def sample(pairs: Sequence[Pair], keep_orders: set[str], limit: int = MAX_POINTS) -> Sample:
    """Pick the operations the timeline draws, at most ``limit`` unless more must be kept.

    Every fail and info operation and every operation of an anomaly's order is kept, since
    those are what a reader looks for; the ok ones fill the rest, taken at even steps through
    the history so the same history always gives the same picture.
    """
    if len(pairs) <= limit:
        return Sample(list(pairs), len(pairs))
    kept: list[Pair] = []
    plain: list[Pair] = []
    for pair in pairs:
        if pair.outcome != OK or pair.order_id in keep_orders:
            kept.append(pair)
        else:
            plain.append(pair)
    budget = max(limit - len(kept), 0)
    if len(plain) > budget:
        plain = [plain[step * len(plain) // budget] for step in range(budget)]
    chosen = sorted(kept + plain, key=lambda pair: pair.invoke.index)
    return Sample(chosen, len(pairs))


def fault_colours(bands: Iterable[Band]) -> dict[str, str]:
    """Return a colour per fault kind: the fixed ones, then spare colours in order of use."""
    colours: dict[str, str] = {}
    spare = 0
    for band in bands:
        if band.fault in colours:
            continue
        if band.fault in _FAULT_COLOURS:
            colours[band.fault] = _FAULT_COLOURS[band.fault]
        else:
            colours[band.fault] = _SPARE_COLOURS[spare % len(_SPARE_COLOURS)]
            spare += 1
    return colours


def _band_layout(
    bands: Sequence[Band], x_range: tuple[float, float]
) -> dict[str, list[dict[str, Any]]]:
    colours = fault_colours(bands)
    shapes = []
    annotations = []
    # A label is wider than a short band: each goes on the highest line where it does not
    # run into the label before it, its width guessed from its length on a ~1,000 px plot.
    char_width = (x_range[1] - x_range[0]) * _LABEL_CHAR_PX / 1000
    lane_ends: list[float] = []
    for band in sorted(bands, key=lambda band: band.start):
        label_end = band.start + char_width * (len(band.fault) + 1)
        lane = next((n for n, end in enumerate(lane_ends) if end <= band.start), len(lane_ends))
        if lane == len(lane_ends):
            lane_ends.append(label_end)
        else:
            lane_ends[lane] = label_end
        colour = colours[band.fault]
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "x0": band.start,
                "x1": band.end,
                "y0": 0,
                "y1": 1,
                "fillcolor": colour,
                "opacity": 0.15,
                "layer": "below",
                "line": {"width": 0},
            }
        )
        annotations.append(
            {
                "x": band.start,
                "y": 1 - 0.07 * lane,
                "xref": "x",
                "yref": "paper",
                "xanchor": "left",
                "yanchor": "top",
                "showarrow": False,
                "text": escape(band.fault, quote=False),
                "font": {"color": colour, "size": 11},
            }
        )
    return {"shapes": shapes, "annotations": annotations}


def _layout(title: str, y_title: str, x_range: tuple[float, float], bands: Sequence[Band]):
    return {
        "title": {"text": title},
        "template": plotly.io.templates["plotly_white"].to_plotly_json(),
        "height": _HEIGHT,
        "margin": {"l": 70, "r": 20, "t": 50, "b": 50},
        "xaxis": {"title": {"text": "seconds since start"}, "range": list(x_range)},
        "yaxis": {"title": {"text": y_title}},
        "legend": {"orientation": "h", "y": -0.18},
        "hovermode": "closest",
        **_band_layout(bands, x_range),
    }


def _text(value: object) -> str:
    # Hover labels read a few HTML tags; escaping keeps an error text as text. Plotly turns
    # &lt; &gt; &amp; back into characters, but not &quot;, so quotes stay as they are.
    return "—" if value is None else escape(str(value), quote=False)


def _hover(pair: Pair) -> str:
    completion = pair.completion
    status = completion.status if completion is not None else None
    error = completion.error if completion is not None else "no completion in the history"
    lines = [
        f"{_text(pair.invoke.process)} {_text(pair.invoke.f)} → {_text(pair.outcome)}",
        f"orderId {_text(pair.order_id)}",
        f"status {_text(status)}",
    ]
    if error is not None:
        lines.append(f"error {_text(error)}")
    return "<br>".join(lines)


def timeline_figure(
    points: Sample, start: float, end: float, x_range: tuple[float, float], bands: Sequence[Band]
) -> dict[str, Any]:
    """Return the timeline: each operation at its invoke time, as high as its latency.

    Args:
        points: The operations to draw.
        start: The run's start on the history's monotonic clock.
        end: The history's last time: an operation that never completed is drawn as lasting
            until then, the least it took.
        x_range: The x axis's range, seconds since start, shared with the throughput chart.
        bands: The fault windows.
    """
    series: dict[tuple[str, str], dict[str, list[Any]]] = {}
    for pair in points.pairs:
        finished = pair.completion.time if pair.completion is not None else end
        latency = max((finished - pair.invoke.time) * 1000.0, _MIN_LATENCY_MS)
        trace = series.setdefault((pair.outcome, pair.invoke.f), {"x": [], "y": [], "text": []})
        trace["x"].append(round(pair.invoke.time - start, 4))
        trace["y"].append(round(latency, 2))
        trace["text"].append(_hover(pair))
    data = [
        {
            "type": "scatter",
            "mode": "markers",
            "name": f"{outcome} {f}",
            "x": series[(outcome, f)]["x"],
            "y": series[(outcome, f)]["y"],
            "text": series[(outcome, f)]["text"],
            "hovertemplate": "%{text}<br>latency %{y:.1f} ms at %{x:.2f} s<extra></extra>",
            "marker": {
                "color": _OUTCOME_COLOURS[outcome],
                "symbol": _SYMBOLS[f],
                "size": 6,
                "opacity": 0.7,
            },
        }
        for outcome in OUTCOMES
        for f in CLIENT_FUNCTIONS
        if (outcome, f) in series
    ]
    title = "Operations: latency by invoke time"
    layout = _layout(title, "latency (ms, log scale)", x_range, bands)
    # Labels at 2 and 5 of each decade: every digit labelled crowds a log axis.
    layout["yaxis"].update(type="log", dtick="D2")
    return {"data": data, "layout": layout}


def throughput_figure(
    pairs: Sequence[Pair], start: float, x_range: tuple[float, float], bands: Sequence[Band]
) -> dict[str, Any]:
    """Return completed operations per second by outcome, stacked, over every operation.

    Operations that never completed have no second to count them in and are left out.
    """
    counts: dict[str, Counter[int]] = {outcome: Counter() for outcome in OUTCOMES}
    for pair in pairs:
        if pair.completion is not None:
            counts[pair.outcome][math.floor(pair.completion.time - start)] += 1
    seconds = sorted({second for counter in counts.values() for second in counter})
    data = [
        {
            "type": "bar",
            "name": outcome,
            "x": [second + 0.5 for second in seconds],
            "y": [counts[outcome][second] for second in seconds],
            "text": [f"{second} s and {second + 1} s" for second in seconds],
            # The text serves the hover only; bars would otherwise print it on themselves.
            "textposition": "none",
            "width": 1,
            "marker": {"color": _OUTCOME_COLOURS[outcome], "line": {"width": 0}},
            "hovertemplate": f"%{{y}} {outcome} between %{{text}}<extra></extra>",
        }
        for outcome in OUTCOMES
        if counts[outcome]
    ]
    layout = _layout("Throughput: completed operations per second", "operations", x_range, bands)
    layout["barmode"] = "stack"
    # Plotly lists stacked traces top first; ok, fail, info reads as the timeline's legend.
    layout["legend"]["traceorder"] = "normal"
    layout["bargap"] = 0.05
    return {"data": data, "layout": layout}


def figure_html(figure: dict[str, Any], div_id: str, *, include_plotlyjs: bool) -> str:
    """Return a figure as a ``<div>``; plotly.js is inlined only when asked, once per page."""
    return plotly.io.to_html(
        figure,
        include_plotlyjs=include_plotlyjs,
        full_html=False,
        div_id=div_id,
        validate=False,
        default_height=f"{_HEIGHT}px",
        config={"displaylogo": False, "responsive": True},
    )
