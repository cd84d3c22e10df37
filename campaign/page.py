"""The campaign page: ``DIR/campaign.html``, one self-contained file to look at a run.

It reads what the runner and the checker left in the directory (``history.jsonl``,
``result.json``, ``campaign.json``) and draws, top to bottom: the verdict and the run's
figures, the operations over time and the throughput under the fault bands, the anomalies
with the evidence and the SQL to check each, and the fault schedule. plotly.js is inlined
once, so the page opens offline, from a CI artefact or a mail attachment.
"""

from __future__ import annotations

import json
import logging
import time
from html import escape
from pathlib import Path
from typing import Any

from campaign.files import HISTORY_FILE, PAGE_FILE, RESULT_FILE, RUN_FILE
from campaign.history import HistoryError, pair_operations, read_history
from campaign.page_charts import (
    Band,
    client_pairs,
    fault_colours,
    figure_html,
    sample,
    throughput_figure,
    timeline_figure,
)
from campaign.page_tables import anomaly_section, counts_table, number, schedule_section, text
from evidence.html_table import GREEN, RED

logger = logging.getLogger(__name__)


_CAMPAIGN_FIELDS = (
    "mode",
    "seed",
    "seconds",
    "clients",
    "instances",
    "kafkaEngine",
    "faults",
    "startMonotonic",
    "schedule",
)
_RESULT_FIELDS = ("mode", "valid", "verdict", "operations", "acknowledged", "counts", "anomalies")
_WINDOW_FIELDS = ("fault", "start", "end")

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #1f2328; }
h1 { margin-bottom: 4px; }
.verdict { padding: 12px 16px; border-radius: 6px; color: white; font-size: 1.2em; }
.facts { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; }
.facts dt { font-weight: bold; }
.facts dd { margin: 0; }
table { border-collapse: collapse; margin: 8px 0 16px; }
th, td { border: 1px solid #d0d7de; padding: 4px 6px; vertical-align: top; text-align: left; }
th { background: #f6f8fa; }
tr.invalidating td { background: #ffebe9; }
.muted { color: #57606a; }
.error { color: #cf222e; }
.absent { color: #cf222e; font-style: italic; }
.bad { color: #cf222e; font-weight: bold; }
.note { color: #57606a; }
code { font-size: 0.9em; }
"""


class CampaignPageError(ValueError):
    """A campaign directory whose files are missing or not what the runner writes."""


def _load_json(path: Path, required: tuple[str, ...]) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as ex:
        raise CampaignPageError(f"{path}: missing") from ex
    except OSError as ex:
        raise CampaignPageError(f"{path}: cannot be read: {ex}") from ex
    except json.JSONDecodeError as ex:
        raise CampaignPageError(f"{path}: not JSON: {ex}") from ex
    if not isinstance(data, dict):
        raise CampaignPageError(f"{path}: not a JSON object")
    missing = [name for name in required if name not in data]
    if missing:
        raise CampaignPageError(f"{path}: missing field(s) {', '.join(missing)}")
    return data


def _bands(campaign: dict[str, Any], path: Path) -> list[Band]:
    bands = []
    for number_, window in enumerate(campaign["schedule"], start=1):
        try:
            missing = [name for name in _WINDOW_FIELDS if name not in window]
            if missing:
                raise CampaignPageError(f"missing field(s) {', '.join(missing)}")
            bands.append(Band(str(window["fault"]), float(window["start"]), float(window["end"])))
        except (CampaignPageError, TypeError, ValueError) as ex:
            raise CampaignPageError(f"{path}: schedule entry {number_}: {ex}") from ex
    return bands


def _seconds(campaign: dict[str, Any], name: str, path: Path) -> float:
    try:
        return float(campaign[name])
    except (TypeError, ValueError) as ex:
        raise CampaignPageError(f"{path}: {name} is not a number: {campaign[name]!r}") from ex


def _fact(name: str, value_html: str) -> str:
    return f"<dt>{escape(name)}</dt><dd>{value_html}</dd>"


def _header(campaign: dict[str, Any], result: dict[str, Any]) -> str:
    valid = bool(result["valid"])
    delays = result.get("delaysMs") or {}
    faults = campaign["faults"]
    colours = fault_colours(Band(str(fault), 0, 0) for fault in faults)
    fault_list = ", ".join(
        f"<b style='color:{colours[str(fault)]}'>{text(fault)}</b>" for fault in faults
    )
    facts = [
        _fact("mode", text(campaign["mode"])),
        _fact("seed", text(campaign["seed"])),
        _fact("seconds", text(campaign["seconds"])),
        _fact("clients", text(campaign["clients"])),
        _fact("instances", text(campaign["instances"])),
        _fact("Kafka engine", text(campaign["kafkaEngine"])),
        _fact("faults", fault_list or "none"),
        _fact("started at", text(campaign.get("startedAt"))),
        _fact("database", f"<code>{text(campaign.get('databaseUrl'))}</code>"),
        _fact("bootstrap servers", f"<code>{text(campaign.get('bootstrapServers'))}</code>"),
        _fact("history lines", number(int(result["operations"]))),
        _fact("acknowledged orders", number(int(result["acknowledged"]))),
        _fact(
            "commit to event (ms)",
            f"p50 {number(delays.get('p50'))}, p99 {number(delays.get('p99'))}, "
            f"max {number(delays.get('max'))} over {number(delays.get('count'))} orders",
        ),
    ]
    return (
        f"<h1>Chaos campaign: {text(campaign['mode'])}, seed {text(campaign['seed'])}</h1>"
        f"<p id='verdict' class='verdict' style='background:{GREEN if valid else RED}'>"
        f"<b>{'VALID' if valid else 'INVALID'}</b>: {text(result['verdict'])}</p>"
        f"<dl class='facts'>{''.join(facts)}</dl>"
        f"<h2>Counts</h2>{counts_table(result)}"
    )


def _charts(
    history_path: Path, campaign: dict[str, Any], result: dict[str, Any], bands: list[Band]
) -> str:
    try:
        history = read_history(history_path)
    except FileNotFoundError as ex:
        raise CampaignPageError(f"{history_path}: missing") from ex
    except OSError as ex:
        raise CampaignPageError(f"{history_path}: cannot be read: {ex}") from ex
    except HistoryError as ex:
        # read_history's message names the file and the line already.
        raise CampaignPageError(str(ex)) from ex
    try:
        pairs = client_pairs(pair_operations(history))
    except HistoryError as ex:
        raise CampaignPageError(f"{history_path}: {ex}") from ex
    campaign_path = history_path.with_name(RUN_FILE)
    start = _seconds(campaign, "startMonotonic", campaign_path)
    end = max((op.time for op in history), default=start)
    seconds = _seconds(campaign, "seconds", campaign_path)
    x_range = (0.0, max(seconds, end - start, *(band.end for band in bands)))
    keep = {str(a["orderId"]) for a in result["anomalies"] if a.get("orderId") is not None}
    points = sample(pairs, keep)
    if points.downsampled:
        note = (
            f"The timeline draws {len(points.pairs):,} of {points.total:,} client operations: "
            "every fail and info operation, every operation of an anomaly's order, and ok "
            "operations at even steps through the history. The throughput chart counts all "
            f"{points.total:,}."
        )
    else:
        note = f"Every one of the {points.total:,} client operations is drawn."
    timeline = timeline_figure(points, start, end, x_range, bands)
    throughput = throughput_figure(pairs, start, x_range, bands)
    return (
        f"<h2>Timeline</h2><p id='sampling-note' class='note'>{escape(note)} Fault windows are "
        "the shaded bands; hover a point for its process, orderId, status and error.</p>"
        + figure_html(timeline, "timeline", include_plotlyjs=True)
        + figure_html(throughput, "throughput", include_plotlyjs=False)
    )


def render_campaign_page(directory: Path) -> str:
    """Return the campaign page of ``directory`` as HTML, without writing it.

    Raises:
        CampaignPageError: A file is missing or malformed; the message names it.
    """
    campaign_path = directory / RUN_FILE
    campaign = _load_json(campaign_path, _CAMPAIGN_FIELDS)
    result = _load_json(directory / RESULT_FILE, _RESULT_FIELDS)
    if not isinstance(campaign["schedule"], list):
        raise CampaignPageError(f"{campaign_path}: schedule is not a list")
    if not isinstance(result["anomalies"], list):
        raise CampaignPageError(f"{directory / RESULT_FILE}: anomalies is not a list")
    bands = _bands(campaign, campaign_path)
    title = f"Chaos campaign {campaign['mode']} seed {campaign['seed']}"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{text(title)}</title><style>{_STYLE}</style></head><body>"
        + _header(campaign, result)
        + _charts(directory / HISTORY_FILE, campaign, result, bands)
        + anomaly_section(result["anomalies"])
        + schedule_section(campaign["schedule"], campaign["seed"])
        + "</body></html>\n"
    )


def write_campaign_page(directory: Path) -> Path:
    """Draw ``directory/campaign.html`` from the run's history, result and campaign files.

    Args:
        directory: A campaign directory holding ``history.jsonl``, ``result.json`` (the
            checker's) and ``campaign.json`` (the runner's).

    Returns:
        The path of the page written.

    Raises:
        CampaignPageError: A file is missing or malformed; the message names it.
    """
    began = time.perf_counter()
    page = directory / PAGE_FILE
    page.write_text(render_campaign_page(directory), encoding="utf-8")
    logger.info(
        "campaign page %s: %d bytes in %.1f s",
        page,
        page.stat().st_size,
        time.perf_counter() - began,
    )
    return page
