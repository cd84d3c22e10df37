"""Profile the service under load with py-spy and say where the time goes.

Two recordings during one load:

- **wall**: every thread, idle ones included (``--idle``), narrowed to the stacks of request
  threads inside the Falcon app: where a request spends its time, waits included;
- **GIL**: only the thread holding the GIL (``--gil``): where the Python CPU goes, the
  limit of a Python process on any number of cores.

py-spy runs ``--nonblocking`` so that it does not pause the service while sampling.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

# A frame of py-spy's raw (folded) output: "function (path/file.py:line)".
_FRAME = re.compile(r"^(?P<function>.+?) \((?P<path>.+?)(?::(?P<line>\d+))?\)$")
_REQUEST_MARK = "App.__call__ (falcon/app.py"
_TOP = 12
# Samples per second: enough for a 1 % share to be ~16 samples over 8 s.
RATE = 200


class ProfilerMissing(RuntimeError):
    """py-spy is not installed."""


def py_spy_path() -> str:
    """Return py-spy beside this interpreter or on the PATH, or raise ProfilerMissing."""
    beside = Path(sys.executable).with_name("py-spy")
    if beside.exists():
        return str(beside)
    found = shutil.which("py-spy")
    if found is None:
        raise ProfilerMissing(
            f"py-spy is not installed: {Path(sys.executable).with_name('pip')} install py-spy"
        )
    return found


def record(pid: int, seconds: float, output: Path, *, idle: bool, gil: bool) -> Path:
    """Sample ``pid`` for ``seconds`` into ``output`` (folded stacks, py-spy's raw format).

    Args:
        pid: The service's process id.
        seconds: How long to sample.
        output: The file to write.
        idle: Include idle threads (wall-clock view).
        gil: Keep only the thread holding the GIL (Python CPU view).

    Returns:
        ``output``.

    Raises:
        RuntimeError: py-spy failed.
    """
    argv = [
        py_spy_path(),
        "record",
        "--pid",
        str(pid),
        "--duration",
        f"{max(1, round(seconds))}",
        "--rate",
        str(RATE),
        "--nonblocking",
        "--format",
        "raw",
        "--output",
        str(output),
    ]
    argv += ["--idle"] if idle else []
    argv += ["--gil"] if gil else []
    completed = subprocess.run(
        argv, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    if completed.returncode != 0 or not output.exists():
        raise RuntimeError(f"py-spy failed: {completed.stderr.strip() or completed.stdout}")
    return output


@dataclass(frozen=True)
class Share:
    """A function, the share of the samples it was on the stack (or on top) in, and the
    milliseconds per request that share stands for."""

    function: str
    percent: float
    ms_per_request: float


@dataclass(frozen=True)
class ProfileSummary:
    """The top of one recording.

    Attributes:
        title: What the view shows.
        samples: Thread samples counted.
        busy: Samples per sampling instant: the mean number of threads doing what the
            view counts (in a request; holding the GIL), 1.0 = one thread all the time.
        ms_per_request: ``busy`` spread over the requests answered meanwhile.
        inclusive: Functions most often on the stack.
        self_time: Functions most often on top of the stack.
    """

    title: str
    samples: int
    busy: float
    ms_per_request: float
    inclusive: list[Share]
    self_time: list[Share]

    def describe(self) -> str:
        """Return the summary as lines for people."""
        lines = [
            f"  {self.title}: {self.samples} samples, {self.busy:.2f} threads busy on average, "
            f"{self.ms_per_request:.3f} ms per request",
            "    on the stack (inclusive)            ms/request",
        ]
        lines += [_share_line(s) for s in self.inclusive]
        lines.append("    on top of the stack (self)")
        lines += [_share_line(s) for s in self.self_time]
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        """Return the summary as JSON-ready data."""
        return {
            "title": self.title,
            "samples": self.samples,
            "busy": self.busy,
            "ms_per_request": self.ms_per_request,
            "inclusive": [vars(s) for s in self.inclusive],
            "self": [vars(s) for s in self.self_time],
        }


def _share_line(share: Share) -> str:
    return f"      {share.percent:5.1f} %  {share.ms_per_request:7.3f}  {share.function}"


def count_instants(folded: Path, mark: str) -> int:
    """Return the samples whose stack holds ``mark``: with ``--idle``, a thread that is in
    every sample (the HTTP server's loop) counts the sampling instants."""
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if mark in stack and count_text.isdigit():
            total += int(count_text)
    return total


def summarise(
    folded: Path,
    title: str,
    *,
    instants: int,
    requests_per_second: float,
    requests_only: bool,
    generic: tuple[str, ...] = (),
) -> ProfileSummary:
    """Add up a folded-stack file by function.

    Args:
        folded: py-spy's raw output.
        title: A name for the view.
        instants: How many times py-spy sampled the process.
        requests_per_second: The load's throughput while py-spy sampled.
        requests_only: Keep only stacks inside the Falcon app (request threads).
        generic: Parts of file paths whose frames are too general to tell anything (the
            HTTP server's and Falcon's dispatch, threading), left out of the inclusive list.

    Returns:
        The functions most often on the stack, and most often on top of it.
    """
    inclusive: Counter[str] = Counter()
    on_top: Counter[str] = Counter()
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        if requests_only and _REQUEST_MARK not in stack:
            continue
        count = int(count_text)
        total += count
        names = [_name(frame) for frame in stack.split(";")]
        for name in set(names):
            if not any(part in name for part in generic):
                inclusive[name] += count
        on_top[names[-1]] += count
    busy = total / instants if instants else 0.0
    ms_per_request = 1000 * busy / requests_per_second if requests_per_second else 0.0

    def shares(counter: Counter[str]) -> list[Share]:
        return [
            Share(name, 100 * n / total, ms_per_request * n / total)
            for name, n in counter.most_common(_TOP)
        ]

    return ProfileSummary(
        title, total, busy, ms_per_request, shares(inclusive) if total else [], shares(on_top)
    )


def _name(frame: str) -> str:
    # Line numbers split one function into many entries; keep "function (path)".
    match = _FRAME.match(frame)
    if match is None:
        return frame
    return f"{match['function']} ({match['path']})"
