"""The layering rules of docs/architecture.md, checked over the source with `ast`.

- no import cycles between our modules;
- no SQL in the adapters (web/, workers/): no sqlalchemy statement builders, no session.execute;
- settings are read at the edges only: no get_settings() in rule modules.

`python scripts/check_layers.py` prints every breach and exits 1 when there is one that
KNOWN_BREACHES does not list; tests/test_layers.py runs it in CI. KNOWN_BREACHES may only shrink.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("alerts", "book", "geo", "greenchannel", "identity", "store", "workers", "web", "cli", "config", "devtools")
ADAPTERS = ("web", "workers")
RULE_PACKAGES = ("alerts", "book", "geo", "greenchannel")
SQL_BUILDERS = {"select", "update", "insert", "delete", "text", "func"}

# Breaches that predate the check, by (rule, module). All are mended; keep it empty.
KNOWN_BREACHES: set[tuple[str, str]] = set()


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imports_of(name: str, tree: ast.Module, known: dict[str, Path]) -> set[str]:
    """Our modules this module imports at import time or inside functions."""
    targets = set()
    package = name if known[name].name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            candidates = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in known:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                targets.add(candidate)
    return targets


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def sql_calls(tree: ast.Module) -> Iterator[int]:
    sqlalchemy_names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            sqlalchemy_names |= {alias.asname or alias.name for alias in node.names}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        builds_sql = isinstance(func, ast.Name) and func.id in SQL_BUILDERS & sqlalchemy_names
        runs_sql = (isinstance(func, ast.Attribute) and func.attr in {"execute", "scalars", "scalar"}
                    and isinstance(func.value, ast.Name) and func.value.id in {"session", "connection", "conn", "db"})
        if builds_sql or runs_sql:
            yield node.lineno


def settings_reads(tree: ast.Module) -> Iterator[int]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name | ast.Attribute):
            called = node.func.id if isinstance(node.func, ast.Name) else node.func.attr
            if called == "get_settings":
                yield node.lineno


def breaches() -> list[tuple[str, str, str]]:
    """(rule, module, detail) for every breach found."""
    known = modules()
    trees = {name: ast.parse(path.read_text(encoding="utf-8"), str(path)) for name, path in known.items()}
    found = []
    graph = {name: imports_of(name, tree, known) for name, tree in trees.items()}
    for component in cycles(graph):
        found.append(("import-cycle", component[0], " <-> ".join(component)))
    for name, tree in trees.items():
        top = name.split(".")[0]
        if top in ADAPTERS:
            lines = sorted(set(sql_calls(tree)))
            if lines:
                found.append(("sql-in-adapter", name, f"lines {', '.join(map(str, lines))}"))
        if top in RULE_PACKAGES:
            lines = sorted(set(settings_reads(tree)))
            if lines:
                found.append(("settings-in-rules", name, f"lines {', '.join(map(str, lines))}"))
    return found


def main() -> int:
    new = 0
    for rule, module, detail in breaches():
        listed = (rule, module) in KNOWN_BREACHES
        new += not listed
        print(f"{'known' if listed else 'NEW  '} {rule:18} {module:32} {detail}")
    return 1 if new else 0


if __name__ == "__main__":
    sys.exit(main())
