"""The tree shows the plan: each floor of ``kb/`` imports only floors below it (or itself),
and ``api/`` sits on top. A module that reached up a floor would make the plan a lie."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Lowest first. The data path (build) sits on the model; stores keep what builds make; the
# SPARQL side reads stores; researchers' tools and derived files use all of it; the CLI and
# the web API are the edges.
FLOORS = [
    {"kb.errors", "kb.display", "kb.cores"},
    {"kb.model"},
    {"kb.build"},
    {"kb.stores", "kb.sparql"},
    {"kb.review", "kb.derive", "kb.imports"},
    {"kb.cli", "api"},  # the two edges: the CLI starts the web API for 'geokb serve'
]


def _floor(module: str) -> int:
    for level, names in enumerate(FLOORS):
        if any(module == n or module.startswith(n + ".") for n in names):
            return level
    raise AssertionError(f"{module} is on no floor: add it to FLOORS")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module in ("kb", "api"):
                found |= {f"{node.module}.{a.name}" for a in node.names}
            elif node.module.split(".")[0] in ("kb", "api"):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] in ("kb", "api")}
    return found


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_module_imports_a_floor_above_its_own() -> None:
    upward = []
    for path in sorted([*(ROOT / "kb").rglob("*.py"), *(ROOT / "api").rglob("*.py")]):
        here = _module(path)
        if here in ("kb", "api"):
            continue
        for imported in _imports(path):
            if _floor(imported) > _floor(here):
                upward.append(f"{here} imports {imported}")
    assert upward == []


def test_the_web_api_does_not_call_the_cli() -> None:
    users = [p.name for p in (ROOT / "api").rglob("*.py") if "kb.cli" in _imports(p)]
    assert users == []


def test_kb_holds_only_its_floors() -> None:
    top = {p.stem for p in (ROOT / "kb").glob("*.py")} - {"__init__"}
    assert top == {"cli", "errors", "display", "cores"}, top
