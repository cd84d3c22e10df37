"""The names of a campaign folder's files, and the one way they are written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HISTORY_FILE = "history.jsonl"
FINAL_READ_FILE = "final-read.json"
RESULT_FILE = "result.json"
RUN_FILE = "campaign.json"
PAGE_FILE = "campaign.html"
LOG_FILE = "campaign.log"


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON, replacing the file."""
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
