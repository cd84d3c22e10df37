"""Compare two variants of the service in alternating slices of one run: A/B, paired.

On a shared machine the speed of everything can move by 2x within minutes, more than most
changes are worth. Two services run side by side on one stack (A on 38082, B on 38083),
and wrk loads them in turn, in short slices, A B then B A, so that a slow minute falls on
both. Each pair of slices gives a ratio, B against A; the median of those ratios is the
verdict, and how many pairs agree with it says how far to trust it.

Variants differ by their command (``--b-command``), their settings (``--b-env
MARS_HTTP_THREADS=4``), or their code (``--b-root``, another checkout of the repository).

Usage::

    python bench/ab.py --b-root ../other-checkout [--connections 1,8] [--slices 6]
    python bench/ab.py --b-env MARS_HTTP_THREADS=4 --profiles outbox

Everything it started is stopped by PID at the end, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cli import add_service_options, add_where_options
from bench.load import Load, order_body, run_wrk
from bench.locations import HTTP_PORT, REPO_ROOT
from bench.stage import (
    START_TIMEOUT,
    Service,
    Stage,
    spawn_service,
    stop_service,
    wait_until_up,
)
from evidence.markdown_table import markdown_table

_VARIANTS = ("A", "B")


@dataclass(frozen=True)
class Variant:
    """How one side runs: its command, its settings over the benchmark's, its checkout."""

    name: str
    command: str
    env: dict[str, str]
    root: Path

    @classmethod
    def of(cls, name: str, options: argparse.Namespace) -> Variant:
        """Return variant ``name`` ("A" or "B") as the command line describes it.

        Raises:
            ValueError: A setting is not ``NAME=VALUE``.
        """
        prefix = name.lower()
        return cls(
            name,
            getattr(options, f"{prefix}_command") or options.service_command,
            settings_of(getattr(options, f"{prefix}_env")),
            getattr(options, f"{prefix}_root"),
        )


@dataclass(frozen=True)
class Slice:
    """One wrk slice against one variant."""

    variant: str
    connections: int
    p50_ms: float
    requests_per_s: float


@dataclass(frozen=True)
class Comparison:
    """The slices of one connection count, and B against A."""

    connections: int
    slices: list[Slice]

    def of(self, variant: str) -> list[Slice]:
        """Return the slices of ``variant``, in the order they ran."""
        return [s for s in self.slices if s.variant == variant]

    def pairs(self) -> list[tuple[Slice, Slice]]:
        """Return (A, B) slices of the same round."""
        return list(zip(self.of("A"), self.of("B"), strict=True))

    @property
    def p50_ratio(self) -> float:
        """Return the median over pairs of B's p50 ÷ A's (below 1: B answers sooner)."""
        return statistics.median(b.p50_ms / a.p50_ms for a, b in self.pairs())

    @property
    def throughput_ratio(self) -> float:
        """Return the median over pairs of B's req/s ÷ A's (above 1: B serves more)."""
        return statistics.median(b.requests_per_s / a.requests_per_s for a, b in self.pairs())

    def agreeing(self) -> tuple[int, int]:
        """Return how many pairs point the way the median throughput ratio does, of how many."""
        b_more = self.throughput_ratio >= 1
        agree = sum((b.requests_per_s >= a.requests_per_s) == b_more for a, b in self.pairs())
        return agree, len(self.pairs())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    for variant in ("a", "b"):
        parser.add_argument(f"--{variant}-command", help="default: --service-command")
        parser.add_argument(
            f"--{variant}-env",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="a setting of this variant (repeatable)",
        )
        parser.add_argument(
            f"--{variant}-root",
            type=Path,
            default=REPO_ROOT,
            help="the checkout it runs from",
        )
    parser.add_argument("--connections", default="1,8", help="wrk connections, comma-separated")
    parser.add_argument("--slices", type=int, default=6, help="slices per variant and count")
    parser.add_argument("--seconds", type=float, default=5, help="each slice")
    parser.add_argument("--warm-up-seconds", type=float, default=3)
    parser.add_argument("--path", default="/orders", help="the endpoint POSTed to")
    add_service_options(parser)
    add_where_options(parser)
    return parser.parse_args(argv)


def settings_of(pairs: list[str]) -> dict[str, str]:
    """Return ``NAME=VALUE`` items as a dict; raise ValueError naming a malformed one."""
    settings = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"not NAME=VALUE: {pair!r}")
        settings[name] = value
    return settings


def compare(services: dict[str, Service], options: argparse.Namespace) -> list[Comparison]:
    """Load the two services in alternating slices, for each connection count."""
    body = order_body(uuid.uuid4())
    counts = [int(c) for c in options.connections.split(",")]
    for service in services.values():
        run_wrk(Load(service.url + options.path, max(counts), options.warm_up_seconds, body))
    comparisons = []
    for connections in counts:
        slices = []
        for round_ in range(options.slices):
            # A B, then B A: a trend over the run weighs on both alike.
            order = _VARIANTS if round_ % 2 == 0 else _VARIANTS[::-1]
            for variant in order:
                url = services[variant].url + options.path
                summary = run_wrk(Load(url, connections, options.seconds, body))
                slices.append(
                    Slice(
                        variant,
                        connections,
                        summary["latency_ms"]["p50"],
                        summary["requests_per_s"],
                    )
                )
        comparisons.append(Comparison(connections, slices))
    return comparisons


def describe(comparisons: list[Comparison]) -> list[str]:
    """Return the Markdown table of the comparison."""
    rows = []
    for c in comparisons:
        agree, pairs = c.agreeing()
        rows.append(
            [
                c.connections,
                f"{statistics.median(s.p50_ms for s in c.of('A')):.2f}",
                f"{statistics.median(s.p50_ms for s in c.of('B')):.2f}",
                f"{c.p50_ratio:.3f}",
                f"{statistics.median(s.requests_per_s for s in c.of('A')):,.0f}",
                f"{statistics.median(s.requests_per_s for s in c.of('B')):,.0f}",
                f"{c.throughput_ratio:.3f}",
                f"{agree} of {pairs}",
            ]
        )
    return markdown_table(
        [
            "conns",
            "A p50 ms",
            "B p50 ms",
            "B/A p50 (paired median)",
            "A req/s",
            "B req/s",
            "B/A req/s (paired median)",
            "pairs agreeing on req/s",
        ],
        rows,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; return 0, or 2 if it could not run."""
    options = parse_args(argv)
    try:
        variants = [Variant.of(name, options) for name in _VARIANTS]
    except ValueError as ex:
        print(f"cannot run: {ex}", file=sys.stderr)
        return 2
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    options.results_dir.mkdir(parents=True, exist_ok=True)
    prefix = options.results_dir / f"ab-{stamp}"
    stage = Stage(options.state_dir)
    services: dict[str, Service] = {}
    try:
        print(stage.start_stack().summary())
        for offset, variant in enumerate(variants):
            services[variant.name] = spawn_service(
                options,
                prefix.with_name(f"{prefix.name}-{variant.name}.log"),
                command=variant.command,
                port=HTTP_PORT + offset,
                extra_env=variant.env,
                root=variant.root,
            )
        for variant, service in services.items():
            wait_until_up(service, timeout=START_TIMEOUT)
            print(f"{variant}: PID {service.process.pid} UP at {service.url}")
        comparisons = compare(services, options)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping what was started", file=sys.stderr)
        return 2
    except (RuntimeError, OSError) as ex:
        print(f"comparison failed: {ex}", file=sys.stderr)
        return 2
    finally:
        for service in services.values():
            stop_service(service)
        stage.stop_stack()
    print("\n".join(describe(comparisons)))
    record = {
        "variants": [asdict(variant) for variant in variants],
        "comparisons": [[asdict(s) for s in c.slices] for c in comparisons],
    }
    path = prefix.with_suffix(".json")
    path.write_text(json.dumps(record, indent=2, default=str))
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
