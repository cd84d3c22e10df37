"""Write a report twice, from the same facts: Markdown for people, JSON for tools."""

from __future__ import annotations

import json
from pathlib import Path


def write_report(output_dir: Path, name: str, markdown: str, data: dict) -> tuple[Path, Path]:
    """Write ``name`` (the Markdown) and, beside it, the same name ending in ``.json``.

    Args:
        output_dir: The folder (Robot's ``${OUTPUT DIR}``, beside ``log.html``).
        name: The Markdown file's name, such as ``phantom-event-report.md``.
        markdown: The Markdown text.
        data: The same facts as JSON-serialisable data.

    Returns:
        The paths of the Markdown and the JSON file.
    """
    markdown_path = output_dir / name
    json_path = markdown_path.with_suffix(".json")
    markdown_path.write_text(markdown, encoding="utf-8")
    json_path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return markdown_path, json_path
