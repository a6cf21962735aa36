"""The layering rules of docs/architecture.md, checked by reading every module's imports (its top-level and
its function-level ones): which way imports point, what stays light, and no cycles."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from tests.helpers.paths import REPO_ROOT

PACKAGES = ("services", "training_jobs")
HEAVY = ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "tokenizers")
# Lines a module may have; past it, split it (docs/architecture.md). The generated table is data.
MAX_LINES = 400
LONGER_ALLOWED = {"services.domain.job_params.trl_fields"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for package in PACKAGES
        for path in sorted((REPO_ROOT / package).rglob("*.py"))
    }


def _imported(tree: ast.AST) -> Iterator[str]:
    """Dotted names imported: `from a.b import c` is a.b.c when that is a module of ours, else a.b."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                yield submodule if submodule in modules() else node.module


@cache
def imports(module: str) -> frozenset[str]:
    """What a module imports: project modules by their module name, others by their top-level package."""
    found = set()
    for name in _imported(ast.parse(modules()[module].read_text())):
        if name.split(".")[0] in PACKAGES:
            while name not in modules() and "." in name:
                name = name.rsplit(".", 1)[0]
            if name in modules() and name != module:
                found.add(name)
        else:
            found.add(name.split(".")[0])
    return frozenset(found)


def violations(importer_prefix: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{module} imports {name}"
        for module in modules()
        if module == importer_prefix or module.startswith(importer_prefix + ".")
        for name in sorted(imports(module))
        if any(name == prefix or name.startswith(prefix + ".") for prefix in forbidden)
    ]


@pytest.mark.parametrize(
    ("importer", "forbidden", "why"),
    [
        ("services", ("training_jobs",), "services never import worker code (the CLI names the worker app)"),
        (
            "training_jobs",
            ("services.collector", "services.inference", "services.cli", "services.client", "services.stack"),
            "worker code uses core, domain, modeling and queue, never the services' HTTP layers",
        ),
        ("training_jobs", ("fastapi", "starlette", "uvicorn"), "training code never imports a web framework"),
        ("services.domain", ("services.collector", "services.inference", "services.cli"), "domain < API"),
        (
            "services.core",
            ("services.domain", "services.collector", "services.queue", "services.modeling"),
            "core",
        ),
        ("services.queue", ("services.collector", "services.inference", "services.cli"), "queue < API"),
        ("services.modeling", ("services.domain", "services.collector", "services.inference"), "modeling"),
        ("services.collector", HEAVY, "the collector never loads ML libraries"),
        ("services.domain", HEAVY, "the domain is light: the collector imports it"),
        ("services.queue", HEAVY, "the queue is light: the collector imports it"),
        ("services.core", HEAVY, "core is light: every process imports it"),
        ("services.client", HEAVY, "the client is light"),
    ],
)
def test_imports_point_one_way(importer: str, forbidden: tuple[str, ...], why: str):
    assert violations(importer, forbidden) == [], why


def test_no_import_cycles_between_modules():
    cycles = []
    state: dict[str, str] = {}  # module -> "visiting" | "done"
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = "visiting"
        stack.append(module)
        for name in sorted(imports(module)):
            if name not in modules():
                continue
            if state.get(name) == "visiting":
                cycles.append(" -> ".join(stack[stack.index(name) :] + [name]))
            elif name not in state:
                visit(name)
        stack.pop()
        state[module] = "done"

    for module in modules():
        if module not in state:
            visit(module)
    assert cycles == []


def test_modules_stay_small():
    long = {
        module: length
        for module, path in modules().items()
        if (length := len(path.read_text().splitlines())) > MAX_LINES and module not in LONGER_ALLOWED
    }
    assert long == {}, "split these modules (docs/architecture.md)"
