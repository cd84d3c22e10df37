"""Drive the service with wrk and read back the JSON its Lua scripts write."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench.locations import BENCH_DIR
from embedded_stack.processes import spawn

WRK_DIR = BENCH_DIR / "wrk"
POST_SCRIPT = WRK_DIR / "post.lua"
COLLECT_SCRIPT = WRK_DIR / "collect.lua"
# The item of the README's example; one item per order, as in the raw limit.
_ITEM = {"productId": "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "quantity": 2, "unitPrice": 149.95}


class LoadToolMissing(RuntimeError):
    """wrk is not installed."""


def order_body(customer_id: uuid.UUID) -> str:
    """Return the create-order body for ``customer_id`` (one per run, to find its rows)."""
    return json.dumps({"customerId": str(customer_id), "items": [_ITEM]}, separators=(",", ":"))


def wrk_path() -> str:
    """Return the wrk executable, or raise LoadToolMissing with the fix."""
    path = shutil.which("wrk")
    if path is None:
        raise LoadToolMissing("wrk is not installed: apt-get install -y wrk")
    return path


def wrk_version() -> str:
    """Return wrk's version line."""
    # wrk prints its version with the usage text and exits 1 when given no URL.
    completed = subprocess.run(
        [wrk_path(), "-v"], capture_output=True, text=True, timeout=10, check=False
    )
    return (completed.stdout or completed.stderr).splitlines()[0].strip()


@dataclass(frozen=True)
class Load:
    """One wrk run: what to send, how hard, for how long."""

    url: str
    connections: int
    seconds: float
    body: str
    script: Path = POST_SCRIPT
    # Seconds of POSTs for the collect script; the rest of ``seconds`` drains.
    post_seconds: float | None = None
    timeout_s: float = 10.0

    @property
    def threads(self) -> int:
        """Return wrk's threads: one per core at most, never more than connections."""
        return max(1, min(self.connections, os.cpu_count() or 1))


def run_wrk(load: Load, *, log_path: Path | None = None) -> dict:
    """Run wrk to its end and return the JSON summary its script wrote.

    Args:
        load: What to run.
        log_path: Where wrk's own text output goes (appended).

    Returns:
        The summary: ``requests``, ``requests_per_s``, ``latency_ms`` (p50, p90, p95, p99,
        max, mean), ``statuses`` (count per HTTP status), ``socket_errors``; the collect
        script adds ``posts_sent``, ``posts_answered``, ``order_ids``.

    Raises:
        RuntimeError: wrk failed or wrote no summary.
    """
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as folder:
        out = Path(folder) / "summary.json"
        env = {**os.environ, "BENCH_BODY": load.body, "BENCH_OUT": str(out)}
        if load.post_seconds is not None:
            env["BENCH_POST_SECONDS"] = f"{load.post_seconds:g}"
        # Not detached: the kernel ends wrk if the benchmark dies.
        process = spawn(
            _wrk_command(load),
            log_path=log_path,
            detach=False,
            death_signal=signal.SIGTERM,
            env=env,
        )
        try:
            # wrk ends by itself at -d; the margin covers its start and its done() call.
            status = process.wait(timeout=load.seconds + load.timeout_s + 30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        if status != 0 or not out.exists():
            raise RuntimeError(f"wrk exited with status {status} and no summary: see {log_path}")
        return json.loads(out.read_text())


def _wrk_command(load: Load) -> list[str]:
    return [
        wrk_path(),
        f"-t{load.threads}",
        f"-c{load.connections}",
        f"-d{load.seconds:g}s",
        f"--timeout={load.timeout_s:g}s",
        "-s",
        str(load.script),
        load.url,
    ]


def count_statuses(summary: dict, low: int, high: int) -> int:
    """Return how many answers had a status in ``low..high``."""
    return sum(n for code, n in summary.get("statuses", {}).items() if low <= int(code) <= high)
