"""Imports point inward (style guide, "Layout and direction"), read from the source with ``ast``.

- The domain imports the standard library and itself, nothing else: no Falcon, driver,
  adapter, API, nor any other module of ours.
- The API (``service.api``, and ``service.chaos``, whose resource is API too) imports no
  driver, no adapter, and not the composition root.
- An adapter imports the domain and the shared helpers, never another adapter, except the
  few same-technology siblings listed below, each with the reason it has no better place.
- The shared helpers import none of the layers above the domain.

Only ``service.app`` and ``service.bootstrap`` (the composition root), ``service.__main__``,
``service.config`` and ``service.server`` are not checked. Every import counts, also one
inside a function or an ``if TYPE_CHECKING:`` block.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import service

SERVICE_DIR = Path(service.__file__).parent
DRIVERS = ("psycopg2", "confluent_kafka")
COMPOSITION_ROOT = ("service.app", "service.bootstrap", "service.__main__")
# Modules beside the layers that both the API and the adapters may use.
SHARED = (
    "service.json_forms",
    "service.monitoring",
    "service.log_text",
    "service.conninfo",
    "service.health",
)
# The only sideways imports between adapters: two modules of one technology each, where
# the shared thing is that technology itself (a pool of PostgreSQL connections and their
# options; the Kafka loop's own decisions, kept free of Kafka so they are tested without a
# broker).
SAME_TECHNOLOGY = {
    "service.adapters.postgres": {"service.adapters.postgres_connections"},
    "service.adapters.postgres_notifications": {"service.adapters.postgres_connections"},
    "service.adapters.cancellation_consumer": {"service.adapters.cancellation_processing"},
}


def module_name(path: Path) -> str:
    """Return the dotted name of a module file under ``service/``."""
    parts = path.relative_to(SERVICE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(source: str, module: str, *, is_package: bool = False) -> set[str]:
    """Return every module name ``source`` imports, relative imports made absolute.

    ``from a.b import c`` yields ``a.b`` and ``a.b.c``: ``c`` may be a module.
    """
    package = module if is_package else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _within(name: str, *prefixes: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def _adapter_module(name: str) -> str | None:
    parts = name.split(".")
    return ".".join(parts[:3]) if len(parts) >= 3 and parts[:2] == ["service", "adapters"] else None


def _domain_problem(module: str, name: str) -> str | None:
    top = name.partition(".")[0]
    if top == "service" and not _within(name, "service.domain"):
        return "the domain imports nothing of ours outside it"
    if top != "service" and top not in sys.stdlib_module_names:
        return "the domain imports only the standard library"
    return None


def _api_problem(module: str, name: str) -> str | None:
    if _within(name, *DRIVERS):
        return "the API imports no driver (the unit of work turns driver errors into ours)"
    if _within(name, "service.adapters", *COMPOSITION_ROOT):
        return "the API is given its adapters, it imports none"
    if _within(module, "service.api") and _within(name, "service.chaos"):
        return "chaos is wired by the app, with its profile only"
    return None


def _adapter_problem(module: str, name: str) -> str | None:
    other = _adapter_module(name)
    if other is not None and other != module and other not in SAME_TECHNOLOGY.get(module, ()):
        return "an adapter imports no other adapter (move the shared thing inward)"
    if name.partition(".")[0] == "service" and not _within(
        name, "service.domain", "service.adapters", *SHARED
    ):
        return "an adapter imports only the domain and the shared helpers"
    return None


def _shared_problem(module: str, name: str) -> str | None:
    outer = ("falcon", *DRIVERS, "service.adapters", "service.api", "service.chaos")
    if _within(name, *outer, *COMPOSITION_ROOT, "service.config"):
        return "a shared helper imports no layer above the domain"
    return None


def violations(module: str, names: set[str]) -> list[str]:
    """Return the imports of ``module`` that point the wrong way, each with the rule broken."""
    if _within(module, "service.domain"):
        rule = _domain_problem
    elif _within(module, "service.api", "service.chaos"):
        rule = _api_problem
    elif _within(module, "service.adapters"):
        rule = _adapter_problem
    elif module in SHARED:
        rule = _shared_problem
    else:
        return []
    return [
        f"{module} imports {name}: {problem}"
        for name in sorted(names)
        if (problem := rule(module, name)) is not None
    ]


def service_modules() -> list[tuple[str, set[str]]]:
    """Return every module of ``service`` with the names it imports."""
    modules = []
    for path in sorted(SERVICE_DIR.rglob("*.py")):
        module = module_name(path)
        source = path.read_text(encoding="utf-8")
        modules.append((module, imported_names(source, module, is_package=path.stem == "__init__")))
    return modules


def _modules_of(*prefixes: str) -> list[tuple[str, set[str]]]:
    chosen = [(m, names) for m, names in service_modules() if _within(m, *prefixes)]
    assert chosen, f"no module found under {prefixes}"
    return chosen


@pytest.mark.parametrize(
    "layer",
    [
        ("service.domain",),
        ("service.api", "service.chaos"),
        ("service.adapters",),
        SHARED,
    ],
    ids=["domain", "api", "adapters", "shared"],
)
def test_imports_of_the_layer_point_inward(layer):
    found = [line for module, names in _modules_of(*layer) for line in violations(module, names)]

    assert found == []


def test_every_same_technology_exception_is_still_used():
    imports = dict(service_modules())

    for module, siblings in SAME_TECHNOLOGY.items():
        used = {_adapter_module(name) for name in imports[module]}
        assert siblings <= used, f"{module} no longer imports {siblings - used}: drop the exception"


# The checks above pass only if they can fail: each rule, fed the import it forbids.
@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("service.domain.model", "import falcon"),
        ("service.domain.model", "def load():\n    import psycopg2\n"),
        ("service.domain.ports", "from confluent_kafka import Producer"),
        ("service.domain.ports", "from service.adapters.kafka import TopicSpec"),
        ("service.domain.events", "from service.api.schemas import UUID_SCHEMA"),
        ("service.domain.events", "from service import json_forms"),
        ("service.domain.use_cases", "import pydantic"),
        ("service.api.errors", "import psycopg2.errors"),
        ("service.api.errors", "from confluent_kafka import KafkaException"),
        ("service.api.resources.orders", "from service.adapters.postgres import RowCount"),
        ("service.api.resources.orders", "from ...adapters import kafka"),
        ("service.api.app_glue", "from service.bootstrap import start_runtime"),
        ("service.api.openapi", "from service.chaos.resource import report_json"),
        ("service.chaos.resource", "import psycopg2"),
        ("service.chaos.service", "from service.adapters.postgres import COUNT_ORDER_ROWS"),
        ("service.adapters.postgres", "from service.adapters.kafka import TopicSpec"),
        ("service.adapters.outbox", "from service.adapters.postgres import read_outbox_backlog"),
        ("service.adapters.prometheus", "from .outbox import OutboxRelay"),
        ("service.adapters.kafka", "from service.adapters import postgres"),
        ("service.adapters.kafka", "from service.api.errors import RETRY_AFTER_SECONDS"),
        ("service.adapters.kafka", "from service.config import Config"),
        ("service.json_forms", "from service.adapters.kafka import TopicSpec"),
        ("service.monitoring", "import falcon"),
    ],
)
def test_a_forbidden_import_is_found(module, source):
    names = imported_names(source, module)

    assert violations(module, names) != []


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("service.domain.model", "import enum\nfrom .errors import InvalidOrder"),
        ("service.api.resources.orders", "from service.json_forms import items_json"),
        ("service.chaos.resource", "from service.api.hooks import require_json_body"),
        ("service.adapters.postgres", "from service.adapters.postgres_connections import X"),
        ("service.adapters.kafka", "from service.domain.events import ORDER_CREATED_TOPIC"),
        ("service.adapters.outbox", "from service.monitoring import RelayStatus"),
    ],
)
def test_an_inward_import_is_allowed(module, source):
    assert violations(module, imported_names(source, module)) == []
