"""The architecture, checked: the layers of verifier and oracles import only downwards, no
import cycles, and the rules a layer keeps on top of that.

The contracts live in pyproject.toml ([tool.importlinter]) and run through import-linter's
command line, `lint-imports`, one contract a test. Every import counts, those inside
functions too (grimp, import-linter's graph, sees them all); imports of third-party packages
are not in the graph, so a lazy import of an optional heavy dependency is fine. What
import-linter has no contract for is checked here on the same graph (grimp) or on the source
(ast): the root package's __init__ is the top and nothing imports it, every module is in a
layer, no cycle between a package and its own modules, no private name imported from another
module, and the tests use only installed code, never benchmarks/.
"""
from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("verifier", "oracles")
IMPORTLINTER = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
CONTRACTS = {c["id"]: c for c in IMPORTLINTER["contracts"]}

pytest.importorskip("importlinter", reason="needs the 'test' extra: pip install -e '.[test]'")
grimp = pytest.importorskip("grimp", reason="needs the 'test' extra: pip install -e '.[test]'")

# what the `lint-imports` script runs, with this interpreter, wherever pip put the script
LINT_IMPORTS = ("import sys; from importlib.metadata import entry_points; "
                "(ep,) = entry_points(group='console_scripts', name='lint-imports'); sys.exit(ep.load()())")


def _lint(contract: str) -> subprocess.CompletedProcess:
    # from the repository root: pyproject.toml is the configuration, and `python -c` puts the
    # working folder first on sys.path, so the graph is of this tree's verifier and oracles
    env = {**os.environ, "COLUMNS": "250"}   # rich wraps at 80 columns off a terminal
    return subprocess.run([sys.executable, "-c", LINT_IMPORTS, "--no-logo", "--no-cache", "--contract", contract],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def graph():
    """The import graph of this tree's packages, as import-linter builds it."""
    saved = list(sys.path)
    sys.path.insert(0, str(ROOT))
    try:
        return grimp.build_graph(*IMPORTLINTER["root_packages"], cache_dir=None)
    finally:
        sys.path[:] = saved


def _where(graph, importer: str, imported: str) -> list[str]:
    """Each import of ``imported`` by ``importer``, as file:line and the line itself."""
    return [f"{_file(importer)}:{d['line_number']}: {d['line_contents']}"
            for d in graph.get_import_details(importer=importer, imported=imported)]


def _cycle_text(graph, cycle: tuple[str, ...]) -> str:
    """A cycle of modules, first = last, one import a line."""
    hops = [line for a, b in zip(cycle, cycle[1:]) for line in _where(graph, a, b)[:1]]
    return f"{' -> '.join(cycle)}:\n    " + "\n    ".join(hops)


def _file(module: str) -> str:
    path = ROOT.joinpath(*module.split("."))
    return str((path / "__init__.py" if path.is_dir() else path.with_suffix(".py")).relative_to(ROOT))


# ── the contracts of pyproject.toml ──────────────────────────────────────────────────────
@pytest.mark.parametrize("contract", list(CONTRACTS))
def test_import_contract(contract, graph):
    run = _lint(contract)
    if run.returncode == 0:
        assert "Contracts: 1 kept, 0 broken." in run.stdout, run.stdout   # it was checked, and kept
        return
    out = run.stdout
    broken = out[out.index("Broken contracts"):] if "Broken contracts" in out else out + run.stderr
    if CONTRACTS[contract]["type"] == "acyclic_siblings":
        # the contract names the sibling packages; these are the imports that make the cycles
        breakers = set()
        for ancestor in CONTRACTS[contract]["ancestors"]:
            for package in [ancestor, *sorted(graph.find_descendants(ancestor))]:
                if graph.find_children(package):
                    breakers |= graph.nominate_cycle_breakers(package)
        broken += "\n\nThe cycles, import by import (the first import of each is import-linter's to remove):\n"
        broken += "\n".join(_cycle_text(graph, (importer, *(graph.find_shortest_chain(imported, importer) or (imported,))))
                             for importer, imported in sorted(breakers))
    pytest.fail(f"{CONTRACTS[contract]['name']}: broken\n{broken.strip()}", pytrace=False)


def test_the_layers_are_in_the_documented_order():
    layers = next(c for c in CONTRACTS.values() if c["type"] == "layers")["layers"]
    assert layers == ["verifier.__main__ | verifier.protocol", "verifier.interfaces", "verifier.report", "verifier.results",
                      "verifier.search", "verifier.checking", "verifier.engines", "verifier.truth", "oracles",
                      "verifier.model", "verifier.floor"]


# ── what import-linter has no contract for ───────────────────────────────────────────────
def test_every_module_of_verifier_is_in_a_layer(graph):
    """A new module beside the layers would be bound by none of them."""
    # a layer of independent siblings is written "a | b"
    layers = {m.strip() for layer in next(c for c in CONTRACTS.values() if c["type"] == "layers")["layers"]
              for m in layer.split("|")}
    assert {"verifier.__main__", "verifier.protocol", "oracles"} <= layers
    outside = sorted(graph.find_children("verifier") - layers)
    assert not outside, f"modules of verifier in no layer of pyproject.toml: {', '.join(outside)}"


def test_nothing_imports_the_root_package(graph):
    """verifier/__init__.py, the lazy public API, sits on top of every layer: a module that
    imports it (`from verifier import X`, not `from verifier.floor import ...`) imports
    upwards, whatever layer it is in."""
    offences = [line for importer in sorted(graph.find_modules_that_directly_import("verifier"))
                if importer != "verifier.__main__" for line in _where(graph, importer, "verifier")]
    assert not offences, "imports of the root package verifier/__init__.py:\n" + "\n".join(offences)


def _cycles(graph) -> list[list[str]]:
    """The strongly connected groups of two modules or more (Tarjan, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def test_no_import_cycle_between_modules(graph):
    """The acyclic contract compares sibling packages; this is every module against every
    other, so a package's __init__ and one of its own modules importing each other count too."""
    found = []
    for group in _cycles(graph):
        members = set(group)
        shortest = {}   # the shortest cycle through each module of the group, once each
        for module in group:
            back = [graph.find_shortest_chain(importer=nxt, imported=module)
                    for nxt in sorted(graph.find_modules_directly_imported_by(module) & members)]
            cycle = (module, *min((c for c in back if c), key=len))
            shortest.setdefault(frozenset(zip(cycle, cycle[1:])), cycle)
        cycles = sorted(shortest.values(), key=lambda c: (len(c), c))
        found.append(f"{len(group)} modules in a cycle: {', '.join(group)}; its shortest cycles:\n"
                     + "\n".join(_cycle_text(graph, c) for c in cycles[:8])
                     + (f"\n... and {len(cycles) - 8} more" if len(cycles) > 8 else ""))
    assert not found, "\n".join(found)


def _python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def _module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_from(node: ast.ImportFrom, path: Path) -> str:
    """The absolute module a ``from ... import`` names, relative ones resolved."""
    if not node.level:
        return node.module or ""
    package = _module_of(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    base = package[:len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_no_private_name_is_imported_from_another_module():
    """A name with a leading underscore is its module's own: another module that imports it
    ties itself to what its owner may change without notice (dunders are not private)."""
    offences = []
    for path in _python_files(*PACKAGES):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ImportFrom):
                continue
            source = _imported_from(node, path)
            if source.split(".")[0] not in PACKAGES:
                continue
            for alias in node.names:
                if _private(alias.name):
                    offences.append(f"{path.relative_to(ROOT)}:{node.lineno}: from {source} import {alias.name}")
    assert not offences, "private names imported from another module:\n" + "\n".join(offences)


# ── the tests use installed code only ────────────────────────────────────────────────────
_BENCHMARK_CODE = re.compile(r"\b(?:from|import)\s+benchmarks\b|\bbenchmarks[/\\]\w+\.py\b")


def _docstrings(tree: ast.AST) -> set[int]:
    return {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}


def test_tests_use_no_benchmark_code():
    """benchmarks/ is not installed: a test that imports from it (or runs one of its files, or
    a script that does) tests what no user has. Fixtures the benchmarks share live in tests/."""
    offences = []
    for path in _python_files("tests"):
        if path == Path(__file__).resolve():   # this file names benchmarks/ only to look for it
            continue
        tree = ast.parse(path.read_text(), str(path))
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
                # a generated script, a path: ROOT / "benchmarks" / "faults.py"
                if node.value == "benchmarks" or _BENCHMARK_CODE.search(node.value):
                    line = next(ln for ln in node.value.splitlines()
                                if ln == "benchmarks" or _BENCHMARK_CODE.search(ln))
                    offences.append(f"{path.relative_to(ROOT)}:{node.lineno}: in a string: {line.strip()!r}")
                continue
            else:
                continue
            offences += [f"{path.relative_to(ROOT)}:{node.lineno}: imports {name}" for name in names
                         if name == "benchmarks" or name.startswith("benchmarks.")]
    assert not offences, "tests that use benchmarks/:\n" + "\n".join(offences)
