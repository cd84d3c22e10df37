"""Profile the service under load with py-spy and say where the time goes.

Two recordings during one load:

- **wall**: every thread, idle ones included (``--idle``), narrowed to the stacks of request
  threads inside the Falcon app: where a request spends its time, waits included;
- **GIL**: only the thread holding the GIL (``--gil``): where the Python CPU goes, the
  limit of a Python process on any number of cores.

py-spy runs ``--nonblocking`` so that it does not pause the service while sampling.
``profile_service`` records three views while wrk loads ``POST /orders`` and prints them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench.load import Load, order_body, run_wrk

# A frame of py-spy's raw (folded) output: "function (path/file.py:line)".
_FRAME = re.compile(r"^(?P<function>.+?) \((?P<path>.+?)(?::(?P<line>\d+))?\)$")
_REQUEST_MARK = "App.__call__ (falcon/app.py"
_TOP = 12
# Samples per second: enough for a 1 % share to be ~16 samples over 8 s.
RATE = 200
# In every sample taken with --idle: the HTTP server's loop on the main thread.
_SERVER_LOOP_MARK = "HttpServer.serve_until (service/server.py"
# Frames that every request passes through and that tell nothing about where time goes.
_GENERIC_FRAMES = (
    "(threading.py",
    "(waitress/",
    "(falcon/app.py",
    "(falcon/hooks.py",
    "(<frozen runpy>",
    "(contextlib.py",
    "(service/__main__.py",
    "(service/server.py",
    "proxy_headers.py",
)


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
    return sum(count for stack, count in _folded_stacks(folded) if mark in stack)


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
    inclusive, on_top = _count_functions(folded, requests_only, generic)
    total = on_top.total()
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


def _folded_stacks(folded: Path) -> Iterator[tuple[str, int]]:
    """Yield each stack of a folded-stack file (frames joined by ";") and its samples."""
    for line in folded.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if stack and count_text.isdigit():
            yield stack, int(count_text)


def _count_functions(
    folded: Path, requests_only: bool, generic: tuple[str, ...]
) -> tuple[Counter[str], Counter[str]]:
    """Return the samples per function on the stack (generic ones left out) and on top."""
    inclusive: Counter[str] = Counter()
    on_top: Counter[str] = Counter()
    for stack, count in _folded_stacks(folded):
        if requests_only and _REQUEST_MARK not in stack:
            continue
        names = [_name(frame) for frame in stack.split(";")]
        for name in set(names):
            if not any(part in name for part in generic):
                inclusive[name] += count
        on_top[names[-1]] += count
    return inclusive, on_top


def _name(frame: str) -> str:
    # Line numbers split one function into many entries; keep "function (path)".
    match = _FRAME.match(frame)
    if match is None:
        return frame
    return f"{match['function']} ({match['path']})"


@dataclass(frozen=True)
class _View:
    """One recording: how many connections load the service, and what py-spy samples."""

    connections: int
    name: str
    title: str
    # True: every thread (--idle), narrowed to request threads; False: the GIL holder.
    requests_only: bool


_VIEWS = (
    _View(1, "wall", "1 connection, wall clock of request threads (idle included)", True),
    _View(8, "wall", "8 connections, wall clock of request threads (idle included)", True),
    _View(8, "gil", "8 connections, thread holding the GIL (Python CPU), all threads", False),
)


def profile_service(base: str, pid: int, seconds: float, prefix: Path) -> list[dict]:
    """Profile ``POST /orders`` with py-spy under load and print where the time goes.

    The wall clock of the request threads says where a request's time goes, waits
    included (at 1 connection: latency; at 8: also waits for shared locks); the thread
    holding the GIL says where the Python CPU goes, the ceiling of one Python process.
    py-spy takes CPU itself, so the loads are slower while it samples: read the shares.

    Args:
        base: The service's URL.
        pid: The service's process id.
        seconds: How long each view samples.
        prefix: Results path prefix; each view's folded stacks go beside it.

    Returns:
        One summary per view recorded; fewer if py-spy could not run.
    """
    summaries = []
    for view in _VIEWS:
        print(f"\nprofile: py-spy on PID {pid}, POST /orders x{view.connections} ...")
        path = prefix.with_name(f"{prefix.name}-profile-{view.name}-x{view.connections}.txt")
        summary = _record_under_load(base, pid, seconds, prefix, view, path)
        if summary is None:
            return summaries
        result = _summarise_view(path, view, seconds, summary)
        _print_view(result, view, summary)
        summaries.append({**result.to_json(), "folded_stacks": str(path), "wrk": summary})
    return summaries


def _record_under_load(
    base: str, pid: int, seconds: float, prefix: Path, view: _View, path: Path
) -> dict | None:
    """Record ``view`` into ``path`` while wrk loads the service; return wrk's summary.

    Returns None, once wrk has finished, if py-spy could not record: a missing profiler
    ends the profile, while a failing wrk ends the benchmark.
    """
    # wrk runs 4 s longer than py-spy samples, so the load covers the whole recording.
    load = Load(base + "/orders", view.connections, seconds + 4, order_body(uuid.uuid4()))
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(run_wrk, load, log_path=prefix.with_name(f"{prefix.name}-wrk.log"))
        try:
            record(pid, seconds, path, idle=view.requests_only, gil=not view.requests_only)
        except (ProfilerMissing, RuntimeError) as ex:
            print(f"  no profile: {ex}")
            pending.result()
            return None
        return pending.result()


def _summarise_view(path: Path, view: _View, seconds: float, summary: dict) -> ProfileSummary:
    # With --idle the HTTP server's loop is in every sample: it counts the instants.
    # With --gil only the GIL holder is sampled, so the instants are rate x duration.
    instants = (
        count_instants(path, _SERVER_LOOP_MARK)
        if view.requests_only
        else round(RATE * round(seconds))
    )
    return summarise(
        path,
        view.title,
        instants=instants,
        requests_per_second=summary["requests_per_s"],
        requests_only=view.requests_only,
        generic=_GENERIC_FRAMES,
    )


def _print_view(result: ProfileSummary, view: _View, summary: dict) -> None:
    latency = summary["latency_ms"]
    print(
        f"  wrk meanwhile: {summary['requests_per_s']:,.0f} req/s, "
        f"mean {latency['mean']:.3f} ms, p50 {latency['p50']:.3f} ms"
    )
    print(result.describe())
    if view.requests_only:
        print(
            f"    of a mean request of {latency['mean']:.3f} ms (wrk), "
            f"{result.ms_per_request:.3f} ms are inside the Falcon app and "
            f"{latency['mean'] - result.ms_per_request:.3f} ms outside it (waitress, "
            "hand-offs between its threads, the loopback network, wrk)"
        )
