"""The layout a newcomer relies on: small modules, imports that only go down, engines that never
import each other, clients without torch (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PRODUCT = ("cli", "daemon", "shared", "krita_plugin", "gimp_plugin")
MAX_LINES = 600
# daemon's folders from the bottom up: a module may import its own folder and those before it
DAEMON_LAYERS = [
    {"daemon", "daemon.devices", "daemon.tiling", "daemon.logs", "daemon.nets", "daemon.io"},
    {"daemon.imaging", "daemon.optim", "daemon.catalogue"},
    {"daemon.engines"},
    {"daemon.plan", "daemon.sequences", "daemon.pipeline", "daemon.worker", "daemon.security"},
    {"daemon.server", "daemon.training", "daemon.learning"},
]


def modules() -> dict[str, Path]:
    found = {}
    for top in PRODUCT:
        for path in (ROOT / top).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports(path: Path, known: dict[str, Path], top_level_only: bool) -> set[str]:
    """The product modules `path` imports (outside `if TYPE_CHECKING:`; with `top_level_only`,
    not inside functions either)."""
    tree = ast.parse(path.read_text())
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found: set[str] = set()

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import) and not (top_level_only and in_function):
                found.update(a.name for a in child.names if a.name in known)
            elif isinstance(child, ast.ImportFrom) and not (top_level_only and in_function):
                base = child.module or ""
                if child.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - child.level + 1])
                    base = f"{base}.{child.module}" if child.module else base
                for alias in child.names:
                    sub = f"{base}.{alias.name}"
                    found.add(sub if sub in known else base)
            visit(child, nested)

    visit(tree, False)
    return {m for m in found if m in known}


def test_no_product_module_is_longer_than_600_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in modules().values()
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, long


def test_module_level_imports_have_no_circle():
    known = modules()
    graph = {name: imports(path, known, top_level_only=True) for name, path in known.items()}
    # a package imports its own submodules freely, and they it (Python resolves that order)
    for name in graph:
        graph[name] = {
            m for m in graph[name] if not (m.startswith(name + ".") or name.startswith(m + "."))
        }
    state: dict[str, int] = {}

    def cycle_from(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path + [node, nxt]
            if nxt not in state and (found := cycle_from(nxt, path + [node])):
                return found
        state[node] = 2
        return None

    for name in sorted(graph):
        if name not in state:
            assert (found := cycle_from(name, [])) is None, " -> ".join(found)


def _layer(name: str) -> int | None:
    for i, layer in enumerate(DAEMON_LAYERS):
        if any(name == top or name.startswith(top + ".") for top in layer if top != "daemon"):
            return i
    return 0 if name.startswith("daemon.") and name.count(".") == 1 else None


def test_daemon_modules_import_only_their_own_folder_or_below():
    known = modules()
    wrong = []
    for name, path in known.items():
        if not name.startswith("daemon.") or (mine := _layer(name)) is None:
            continue
        for dep in imports(path, known, top_level_only=False):
            theirs = _layer(dep) if dep.startswith("daemon.") else None
            if theirs is not None and theirs > mine:
                wrong.append(f"{name} -> {dep}")
    assert not wrong, wrong


def test_engines_never_import_each_other():
    known = modules()
    engines = {n for n in known if n.startswith("daemon.engines.")}
    for name in engines:
        others = imports(known[name], known, top_level_only=False) & (engines - {name})
        assert not others, f"{name} imports {others}"


def test_clients_and_the_contract_never_import_the_daemon_at_module_level():
    known = modules()
    for name, path in known.items():
        if name.split(".")[0] in ("shared", "krita_plugin", "gimp_plugin"):
            assert not {d for d in imports(path, known, True) if d.startswith(("daemon", "cli"))}
        if name.startswith("cli"):  # only the torch-free file readers and the key names
            deps = {d for d in imports(path, known, True) if d.startswith("daemon")}
            assert deps <= {"daemon", "daemon.io", "daemon.nets", "daemon.nets.stems"}, deps
