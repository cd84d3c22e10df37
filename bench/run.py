"""Benchmark the order service against the raw limit measured in the same run.

Starts the embedded stack (PostgreSQL 35432, Kafka 39092) and the service (38082, chaos
profile), waits for health UP, warms up, runs the 32-connection correctness run (first,
while ``order.created`` is small enough for Tansu to read back), measures the raw limit
(``bench/raw_limit.py``), then loads ``POST /orders`` and ``POST /chaos/phantom-event`` with
wrk at 1 and 8 connections and prints each result next to the raw limit as a ratio; then,
if a target is missed, a py-spy profile of the service under load.
Everything it started is stopped by PID at the end, also on failure or Ctrl-C. Results go
to ``bench/results/`` as JSON.

``--profiles outbox`` runs the service in outbox mode (chaos is always on): the same loads,
plus the relay's delay from an order's creation to its event (``bench/outbox.py``).

Usage: ``python bench/run.py [--seconds 10] [--correctness-seconds 20] ...`` (``--help``)

Exit status: 0 every target met and the correctness run passed; 1 a target missed or the
correctness run failed or the service did not exit 0; 2 the benchmark could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):
    # `python bench/run.py` puts bench/ on the path, not the repository root that holds
    # bench, embedded_stack, evidence and service as packages.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.child_process import spawn, stop
from bench.correctness import CorrectnessResult, run_correctness
from bench.cpu import CLIENT, OTHER, CpuMeter, PhaseCpu
from bench.load import (
    Load,
    LoadToolMissing,
    count_statuses,
    order_body,
    run_wrk,
    wrk_path,
    wrk_version,
)
from bench.outbox import describe as describe_delay
from bench.outbox import histogram_ms, scrape, wait_for_empty_outbox
from bench.profiling import RATE, ProfilerMissing, count_instants, record, summarise
from embedded_stack import EmbeddedStack, StackError, StackSettings

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DATABASE_URL = "postgresql://mars:mars@127.0.0.1:35432/orders_db"
BOOTSTRAP_SERVERS = "127.0.0.1:39092"
HTTP_PORT = 38082
# 8 request threads: at 8 connections no request waits in waitress's queue for a thread,
# so the latency measured is the service's, not a queue's; it stays below the database
# pool (MARS_DB_POOL_SIZE, 10 by default), so no thread waits for a connection either.
# More threads than connections would only add GIL contention on 2 cores.
HTTP_THREADS = 8
P50_TARGET = 1.25
THROUGHPUT_TARGET = 0.6
SCENARIOS = (("POST /orders", "/orders"), ("POST /chaos/phantom-event", "/chaos/phantom-event"))
CHAOS = "chaos"
OUTBOX = "outbox"
SERVICE = "service"
POSTGRES = "postgres"
BROKER = "broker"
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


@dataclass
class LoadResult:
    """One wrk run against one endpoint, and its comparison with the raw limit."""

    scenario: str
    connections: int
    seconds: float
    summary: dict
    cpu: PhaseCpu
    ratio: float = float("nan")
    ratio_vs_phantom_floor: float = float("nan")
    target: str = ""
    passed: bool = False

    @property
    def p50_ms(self) -> float:
        """Return the median latency."""
        return self.summary["latency_ms"]["p50"]

    @property
    def p95_ms(self) -> float:
        """Return the 95th percentile latency."""
        return self.summary["latency_ms"]["p95"]

    @property
    def per_second(self) -> float:
        """Return the requests per second."""
        return self.summary["requests_per_s"]

    @property
    def not_2xx(self) -> int:
        """Return the answers with a status outside 200..299."""
        return self.summary["requests"] - count_statuses(self.summary, 200, 299)

    @property
    def server_errors(self) -> int:
        """Return the 5xx answers."""
        return count_statuses(self.summary, 500, 599)

    def to_json(self) -> dict[str, object]:
        """Return the result as JSON-ready data."""
        return {
            "scenario": self.scenario,
            "connections": self.connections,
            "seconds": self.seconds,
            "wrk": self.summary,
            "cpu": self.cpu.to_json(),
            "ratio": self.ratio,
            "ratio_vs_phantom_floor": self.ratio_vs_phantom_floor,
            "target": self.target,
            "passed": self.passed,
        }


@dataclass
class Run:
    """Everything one benchmark run observed, written to ``bench/results/`` as JSON."""

    run_id: str
    options: dict
    machine: dict
    stack: list[str] = field(default_factory=list)
    raw: dict = field(default_factory=dict)
    raw_cpu: dict = field(default_factory=dict)
    loads: list[LoadResult] = field(default_factory=list)
    correctness: CorrectnessResult | None = None
    profile: list[dict] = field(default_factory=list)
    service_exit: int | None = None
    service_log_findings: dict = field(default_factory=dict)
    error: str | None = None
    relay_delay: dict = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """Return the run as JSON-ready data."""
        return {
            "run_id": self.run_id,
            "options": self.options,
            "machine": self.machine,
            "stack": self.stack,
            "raw_limit": self.raw,
            "raw_limit_cpu": self.raw_cpu,
            "loads": [load.to_json() for load in self.loads],
            "correctness": self.correctness.to_json() if self.correctness else None,
            "profile": self.profile,
            "service_exit": self.service_exit,
            "service_log_findings": self.service_log_findings,
            "error": self.error,
            "relay_delay_ms": self.relay_delay,
        }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10, help="each wrk measurement")
    parser.add_argument("--warm-up-seconds", type=float, default=3, help="per endpoint")
    parser.add_argument("--correctness-seconds", type=float, default=20)
    parser.add_argument("--correctness-connections", type=int, default=32)
    parser.add_argument(
        "--drain-seconds",
        type=float,
        default=5,
        help="after the correctness run's POSTs, so that those in flight are answered",
    )
    parser.add_argument("--raw-n", type=int, default=2000, help="orders per sequential repeat")
    parser.add_argument("--raw-repeats", type=int, default=3)
    parser.add_argument("--http-threads", type=int, default=HTTP_THREADS)
    parser.add_argument(
        "--profiles",
        default=CHAOS,
        help="MARS_PROFILES_ACTIVE of the service (chaos is always added: the phantom-event "
        "load needs it); 'outbox' runs the Transactional Outbox mode",
    )
    parser.add_argument(
        "--profile",
        choices=["auto", "always", "never"],
        default="auto",
        help="py-spy profile under load: auto = only when a target is missed",
    )
    parser.add_argument("--profile-seconds", type=float, default=8)
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(os.environ.get("MARS_STACK_DIR") or BENCH_DIR / ".state"),
        help="the embedded stack's state and PostgreSQL data (MARS_STACK_DIR)",
    )
    parser.add_argument("--results-dir", type=Path, default=BENCH_DIR / "results")
    parser.add_argument(
        "--service-command",
        default=f"{shlex.quote(sys.executable)} -m service",
        help="how to start the service (run from the repository root)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the whole benchmark; return the exit status."""
    options = parse_args(argv)
    try:
        wrk_path()
    except LoadToolMissing as ex:
        print(f"cannot run: {ex}", file=sys.stderr)
        return 2
    options.results_dir.mkdir(parents=True, exist_ok=True)
    run_id = datetime.now(UTC).strftime("run-%Y%m%dT%H%M%SZ")
    prefix = options.results_dir / run_id
    run = Run(run_id=run_id, options=_jsonable(vars(options)), machine=describe_machine())
    print(
        f"{run_id}: {run.machine['cpu_model']}, {run.machine['cores']} cores, "
        f"load average {run.machine['load_average']}"
    )
    settings = StackSettings(DATABASE_URL, BOOTSTRAP_SERVERS, options.state_dir)
    stack = EmbeddedStack(settings)
    service: subprocess.Popen[bytes] | None = None
    try:
        report = stack.up()
        run.stack = report.summary().splitlines()
        print(report.summary())
        service_log = prefix.with_name(f"{run_id}-service.log")
        service = start_service(options, service_log)
        base = f"http://127.0.0.1:{HTTP_PORT}"
        wait_until_up(base, service, timeout=60, log_path=service_log)
        print(
            f"service PID {service.pid} is UP at {base} (MARS_HTTP_THREADS={options.http_threads}, "
            f"MARS_PROFILES_ACTIVE={','.join(sorted(profiles_of(options)))})"
        )
        meter = CpuMeter(
            {
                SERVICE: [service.pid],
                POSTGRES: [report.postgres.pid] if report.postgres.pid else [],
                BROKER: [report.kafka.pid] if report.kafka.pid else [],
            }
        )
        measure_everything(run, options, base, meter, prefix, service.pid)
    except KeyboardInterrupt:
        run.error = "interrupted"
        print("\ninterrupted: stopping what was started", file=sys.stderr)
    except (StackError, RuntimeError, OSError) as ex:
        run.error = str(ex)
        print(f"benchmark failed: {ex}", file=sys.stderr)
    finally:
        if service is not None:
            run.service_exit = stop(service, grace=30)
            print(f"service stopped with SIGTERM: exit status {run.service_exit}")
            run.service_log_findings = scan_service_log(prefix.with_name(f"{run_id}-service.log"))
            print(f"service log: {run.service_log_findings}")
        for line in stack.down():
            print(line.summary())
        result_path = prefix.with_suffix(".json")
        result_path.write_text(json.dumps(run.to_json(), indent=2, default=str))
        print(f"results: {result_path}")
    return exit_status(run)


def measure_everything(
    run: Run,
    options: argparse.Namespace,
    base: str,
    meter: CpuMeter,
    prefix: Path,
    service_pid: int,
) -> None:
    """Warm up, check correctness, measure the raw limit and the loads, profile if short."""
    wrk_log = prefix.with_name(f"{prefix.name}-wrk.log")
    for _, path in SCENARIOS:
        run_wrk(
            Load(base + path, 8, options.warm_up_seconds, order_body(uuid.uuid4())),
            log_path=wrk_log,
        )
    # The correctness run comes first, while order.created is small: reading a topic back
    # from Tansu's memory storage slows down sharply past ~12,000 batches per partition,
    # and the loads below add one batch per request.
    print(
        f"\ncorrectness (run first, while order.created is small): "
        f"{options.correctness_connections} connections, "
        f"{options.correctness_seconds:g} s of POST /orders ..."
    )
    outbox = OUTBOX in profiles_of(options)
    run.correctness = run_correctness(
        base + "/orders",
        DATABASE_URL,
        BOOTSTRAP_SERVERS,
        connections=options.correctness_connections,
        post_seconds=options.correctness_seconds,
        drain_seconds=options.drain_seconds,
        log_path=wrk_log,
        # The relay publishes after the 201s: read the topic once it has sent everything.
        before_reading=(lambda: wait_for_empty_outbox(base, 60)) if outbox else None,
    )
    print(run.correctness.describe())
    print("\nmeasuring the raw limit (no HTTP) ...")
    run.raw, run.raw_cpu = measure_raw(options, meter, prefix)
    for scenario, path in SCENARIOS:
        for connections in (1, 8):
            start = meter.snapshot()
            summary = run_wrk(
                Load(base + path, connections, options.seconds, order_body(uuid.uuid4())),
                log_path=wrk_log,
            )
            run.loads.append(
                judge(
                    LoadResult(scenario, connections, options.seconds, summary, meter.since(start)),
                    run.raw,
                )
            )
    print_table(run)
    if outbox:
        wait_for_empty_outbox(base, 60)
        run.relay_delay = histogram_ms(scrape(base))
        print("\nrelay delay, outbox mode (creation to delivery report, whole run):")
        print(describe_delay("/metrics histogram, interpolated in buckets", run.relay_delay))
        print(
            describe_delay(
                "correctness run (32 connections), creation to the record's timestamp",
                run.correctness.event_delay_ms,
            )
        )
    verdict = "PASS" if run.correctness.passed else "FAIL"
    print(
        f"\ncorrectness, {run.correctness.connections} connections "
        f"{run.correctness.post_seconds:g} s (run first, above): {verdict}: "
        f"{run.correctness.ids_201} orderIds in 201s, {run.correctness.rows} new rows, "
        f"{run.correctness.events} new events, {run.correctness.server_errors} 5xx"
    )
    short = not all(load.passed for load in run.loads)
    if options.profile == "always" or (short and options.profile == "auto"):
        run.profile = profile_service(base, service_pid, options.profile_seconds, prefix)


def measure_raw(options: argparse.Namespace, meter: CpuMeter, prefix: Path) -> tuple[dict, dict]:
    """Run ``bench/raw_limit.py`` for an order and for the phantom floor, in a child each.

    A child of its own keeps this process's threads and imports out of the measurement.
    """
    raw, cpu = {}, {}
    for scenario in ("order", "phantom"):
        out = prefix.with_name(f"{prefix.name}-raw-{scenario}.json")
        argv = [
            sys.executable,
            str(BENCH_DIR / "raw_limit.py"),
            "--database-url",
            DATABASE_URL,
            "--bootstrap-servers",
            BOOTSTRAP_SERVERS,
            "--n",
            str(options.raw_n),
            "--repeats",
            str(options.raw_repeats),
            "--scenario",
            scenario,
            "--json",
            str(out),
        ]
        start = meter.snapshot()
        completed = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
        phase = meter.since(start)
        if completed.returncode != 0:
            raise RuntimeError(f"raw_limit.py failed: {completed.stderr.strip()}")
        print(completed.stdout.rstrip())
        raw[scenario] = json.loads(out.read_text())
        orders = raw[scenario]["orders_total"]
        cpu[scenario] = {
            **phase.to_json(),
            "ms_per_order": {
                owner: phase.ms_per(owner, orders) for owner in (CLIENT, POSTGRES, BROKER)
            },
            "other_percent_of_machine": phase.percent_of_machine(OTHER),
        }
    return raw, cpu


def judge(load: LoadResult, raw: dict) -> LoadResult:
    """Set the ratio against the raw limit and the verdict of one load."""
    order, phantom = raw["order"], raw["phantom"]
    if load.connections == 1:
        load.ratio = load.p50_ms / order["sequential"]["p50_ms"]
        load.ratio_vs_phantom_floor = load.p50_ms / phantom["sequential"]["p50_ms"]
        load.target = f"p50 <= {P50_TARGET:.2f}x"
        load.passed = load.ratio <= P50_TARGET
    else:
        load.ratio = load.per_second / order["threaded"]["per_second"]
        load.ratio_vs_phantom_floor = load.per_second / phantom["threaded"]["per_second"]
        load.target = f"req/s >= {THROUGHPUT_TARGET:.2f}x"
        load.passed = load.ratio >= THROUGHPUT_TARGET
    # A load that answered errors is no measurement of the service's work.
    load.passed = load.passed and load.not_2xx == 0
    return load


def print_table(run: Run) -> None:
    """Print the loads next to the raw limit, and where their CPU went."""
    order = run.raw["order"]
    seq, thr = order["sequential"], order["threaded"]
    print(
        f"\nraw limit (order, no HTTP, median of {len(seq['repeats'])}): sequential p50 "
        f"{seq['p50_ms']:.3f} ms, p95 {seq['p95_ms']:.3f} ms, {seq['per_second']:,.0f}/s; "
        f"{thr['threads']} threads {thr['per_second']:,.0f}/s, p50 {thr['p50_ms']:.3f} ms, "
        f"p95 {thr['p95_ms']:.3f} ms"
    )
    header = (
        f"{'scenario':<26} | {'conns':>5} | {'p50 ms':>7} | {'p95 ms':>7} | {'req/s':>7} | "
        f"{'ratio vs raw':>12} | {'target':<15} | {'verdict':<7} | {'non-2xx':>7} | "
        f"{'vs phantom floor':>16}"
    )
    print(header)
    print("-" * len(header))
    for load in run.loads:
        print(
            f"{load.scenario:<26} | {load.connections:>5} | {load.p50_ms:>7.2f} | "
            f"{load.p95_ms:>7.2f} | {load.per_second:>7,.0f} | {load.ratio:>11.2f}x | "
            f"{load.target:<15} | {'PASS' if load.passed else 'SHORT':<7} | "
            f"{load.not_2xx:>7} | {load.ratio_vs_phantom_floor:>15.2f}x"
        )
    print(
        "ratio: 1 connection = service p50 / raw sequential p50; 8 connections = service "
        f"req/s / raw {thr['threads']}-thread orders/s. 'vs phantom floor': the same against "
        "the raw phantom floor (INSERT, publish, ROLLBACK, count on a second connection)."
    )
    print(
        f"\nCPU per request in ms (raw: per order), and CPU of processes not ours "
        f"({run.machine['cores']} cores):"
    )
    print(
        f"{'phase':<32} | {'service':>7} | {'postgres':>8} | {'broker':>6} | "
        f"{'client':>6} | {'not ours':>8}"
    )
    for scenario, cpu in run.raw_cpu.items():
        per = cpu["ms_per_order"]
        print(
            f"{'raw limit ' + scenario:<32} | {'-':>7} | {per[POSTGRES]:>8.3f} | "
            f"{per[BROKER]:>6.3f} | {per[CLIENT]:>6.3f} | "
            f"{cpu['other_percent_of_machine']:>7.0f}%"
        )
    for load in run.loads:
        requests = load.summary["requests"]
        print(
            f"{load.scenario + ' x' + str(load.connections):<32} | "
            f"{load.cpu.ms_per(SERVICE, requests):>7.3f} | "
            f"{load.cpu.ms_per(POSTGRES, requests):>8.3f} | "
            f"{load.cpu.ms_per(BROKER, requests):>6.3f} | "
            f"{load.cpu.ms_per(CLIENT, requests):>6.3f} | "
            f"{load.cpu.percent_of_machine(OTHER):>7.0f}%"
        )


def profile_service(base: str, pid: int, seconds: float, prefix: Path) -> list[dict]:
    """Profile ``POST /orders`` with py-spy under load and print where the time goes.

    The wall clock of the request threads says where a request's time goes, waits
    included (at 1 connection: latency; at 8: also waits for shared locks); the thread
    holding the GIL says where the Python CPU goes, the ceiling of one Python process.
    py-spy takes CPU itself, so the loads are slower while it samples: read the shares.
    """
    views = (
        (1, "wall", "1 connection, wall clock of request threads (idle included)", True),
        (8, "wall", "8 connections, wall clock of request threads (idle included)", True),
        (8, "gil", "8 connections, thread holding the GIL (Python CPU), all threads", False),
    )
    summaries = []
    for connections, name, title, requests_only in views:
        print(f"\nprofile: py-spy on PID {pid}, POST /orders x{connections} ...")
        path = prefix.with_name(f"{prefix.name}-profile-{name}-x{connections}.txt")
        load = Load(base + "/orders", connections, seconds + 4, order_body(uuid.uuid4()))
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(
                run_wrk, load, log_path=prefix.with_name(f"{prefix.name}-wrk.log")
            )
            try:
                record(pid, seconds, path, idle=requests_only, gil=not requests_only)
            except (ProfilerMissing, RuntimeError) as ex:
                print(f"  no profile: {ex}")
                pending.result()
                return summaries
            summary = pending.result()
        # With --idle the HTTP server's loop is in every sample: it counts the instants.
        # With --gil only the GIL holder is sampled, so the instants are rate x duration.
        instants = (
            count_instants(path, _SERVER_LOOP_MARK)
            if requests_only
            else round(RATE * round(seconds))
        )
        result = summarise(
            path,
            title,
            instants=instants,
            requests_per_second=summary["requests_per_s"],
            requests_only=requests_only,
            generic=_GENERIC_FRAMES,
        )
        latency = summary["latency_ms"]
        print(
            f"  wrk meanwhile: {summary['requests_per_s']:,.0f} req/s, "
            f"mean {latency['mean']:.3f} ms, p50 {latency['p50']:.3f} ms"
        )
        print(result.describe())
        if requests_only:
            print(
                f"    of a mean request of {latency['mean']:.3f} ms (wrk), "
                f"{result.ms_per_request:.3f} ms are inside the Falcon app and "
                f"{latency['mean'] - result.ms_per_request:.3f} ms outside it (waitress, "
                "hand-offs between its threads, the loopback network, wrk)"
            )
        summaries.append({**result.to_json(), "folded_stacks": str(path), "wrk": summary})
    return summaries


def start_service(options: argparse.Namespace, log_path: Path) -> subprocess.Popen[bytes]:
    """Start the service with the chaos profile on the benchmark's ports."""
    env = {
        **os.environ,
        "MARS_DATABASE_URL": DATABASE_URL,
        "MARS_KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP_SERVERS,
        "MARS_HTTP_HOST": "127.0.0.1",
        "MARS_HTTP_PORT": str(HTTP_PORT),
        "MARS_PROFILES_ACTIVE": ",".join(sorted(profiles_of(options))),
        "MARS_HTTP_THREADS": str(options.http_threads),
        # Every request thread, the consumer and the relay hold a connection at once: the
        # service refuses to start with fewer.
        "MARS_DB_POOL_SIZE": str(max(10, options.http_threads + 2)),
    }
    return spawn(shlex.split(options.service_command), env=env, output=log_path, cwd=REPO_ROOT)


def profiles_of(options: argparse.Namespace) -> set[str]:
    """Return the service's profiles: those asked for, plus chaos."""
    return {CHAOS} | {p.strip() for p in options.profiles.split(",") if p.strip()}


def wait_until_up(
    base: str, service: subprocess.Popen[bytes], timeout: float, log_path: Path
) -> None:
    """Poll the health endpoint until it answers UP; fail if the service exits or time is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.poll() is not None:
            raise RuntimeError(
                f"the service exited with status {service.returncode} at start; see {log_path}"
            )
        try:
            with urllib.request.urlopen(f"{base}/actuator/health", timeout=5) as response:
                if json.loads(response.read()).get("status") == "UP":
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the service was not UP within {timeout:g} s; see {log_path}")


def scan_service_log(path: Path) -> dict[str, int]:
    """Count the lines of the service's log that signal trouble under load."""
    marks = {
        "tracebacks": "Traceback",
        "errors": " ERROR ",
        "dual_write_failures": "DUAL WRITE FAILURE",
        "database_unavailable": "DatabaseUnavailable",
        "outbox_relay_failures": "outbox relay:",
    }
    counts = dict.fromkeys(marks, 0)
    if not path.exists():
        return counts
    with path.open(errors="replace") as log:
        for line in log:
            for name, mark in marks.items():
                if mark in line:
                    counts[name] += 1
    return counts


def describe_machine() -> dict[str, object]:
    """Return what the results depend on: CPU, load, versions, the code measured."""
    model = "unknown CPU"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "service"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpu_model": model,
        "cores": os.cpu_count(),
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "wrk": wrk_version(),
        "git_commit": commit,
        "service_has_uncommitted_changes": bool(dirty),
    }


def exit_status(run: Run) -> int:
    """Return 0 all good, 1 a target missed or a check failed, 2 no complete run."""
    if run.error or run.correctness is None or len(run.loads) < 2 * len(SCENARIOS):
        return 2
    ok = all(load.passed for load in run.loads) and run.correctness.passed and run.service_exit == 0
    return 0 if ok else 1


def _jsonable(values: dict) -> dict:
    return {key: str(value) if isinstance(value, Path) else value for key, value in values.items()}


if __name__ == "__main__":
    sys.exit(main())
