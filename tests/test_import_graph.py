"""The package's import graph has no cycle (issue 13), read from the source with ``ast``.

Every ``import``/``from ... import`` of a motionpair module counts, at module level AND
inside functions (a function-local import is still an edge: it only moves the cycle to
run time), except those under ``if TYPE_CHECKING:`` (never executed). Importing
``motionpair.a.b`` also runs ``motionpair.a``'s ``__init__``, so a module depends on the
packages above what it imports. Function-local imports of motionpair modules are allowed
only where they are not needed to dodge a cycle: the graph with them must be acyclic too.
Third-party imports are not edges (deferring torch/matplotlib/pyarrow is fine).
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = "motionpair"


def module_files(src: Path = SRC) -> dict[str, Path]:
    """``{dotted module name: file}`` of every module of the package."""
    out = {}
    for f in sorted((src / PKG).rglob("*.py")):
        parts = list(f.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, bool]]:
    """``(imported motionpair module, function-local?)`` for each import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    found: list[tuple[str, bool]] = []

    def resolve(mod: str, level: int) -> str:
        if not level:
            return mod
        base = name.split(".") if is_pkg else name.split(".")[:-1]
        base = base[:len(base) - (level - 1)]
        return ".".join([*base, mod] if mod else base)

    def add(target: str, local: bool) -> None:
        # the module itself, or the nearest package/module above it that exists
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target.startswith(PKG) and target != name:
            found.append((target, local))

    def visit(node: ast.AST, local: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for c in child.orelse:
                    visit(c, local)
                continue
            if isinstance(child, ast.Import):
                for a in child.names:
                    add(a.name, local)
            elif isinstance(child, ast.ImportFrom):
                base = resolve(child.module or "", child.level)
                for a in child.names:  # ``from motionpair import audio``: the submodule
                    full = f"{base}.{a.name}"
                    add(full if full in modules else base, local)
            inner = local or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef
                                        | ast.Lambda)
            visit(child, inner)

    visit(tree, False)
    return found


Graph = dict[str, set[str]]


def import_graph(src: Path = SRC) -> tuple[Graph, list[tuple[str, str]]]:
    """The graph (module -> what importing it runs) and the function-local edges."""
    modules = module_files(src)
    g: Graph = {}
    local_edges = []
    for name, path in modules.items():
        edges = g.setdefault(name, set())
        for target, local in imports_of(name, path, modules):
            edges.add(target)
            up = target.rpartition(".")[0]  # importing a.b.c runs a.b's __init__ first
            while up.startswith(PKG) and up != PKG and not name.startswith(up + ".") \
                    and up != name:
                edges.add(up)
                up = up.rpartition(".")[0]
            if local:
                local_edges.append((name, target))
    return g, local_edges


def find_cycle(g: Graph) -> list[str] | None:
    """One cycle of ``g`` (graphlib's), or None."""
    try:
        tuple(TopologicalSorter(g).static_order())
    except CycleError as exc:
        return list(exc.args[1])
    return None


def test_no_import_cycle():
    """No cycle among the package's modules (the root ``motionpair/__init__`` left out: it
    only holds the version; a package's ``__init__`` importing its own submodules is how
    packages work, so a submodule's implicit edge to its own package is not drawn)."""
    g, local = import_graph()
    g = {m: {t for t in ts if t != PKG} for m, ts in g.items() if m != PKG}
    cycle = find_cycle(g)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)
    print(f"{len(g)} modules, {sum(map(len, g.values()))} edges, "
          f"{len(local)} function-local motionpair imports")


def test_graph_sees_function_local_imports(tmp_path):
    """The reader counts a function-local import (and skips TYPE_CHECKING ones)."""
    pkg = tmp_path / PKG
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from motionpair import b\n")
    (pkg / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                              "    from motionpair import c\nimport motionpair.a\n")
    (pkg / "c.py").write_text("")
    g, local = import_graph(tmp_path)
    assert ("motionpair.a", "motionpair.b") in local
    assert g["motionpair.b"] == {"motionpair.a"}  # the TYPE_CHECKING import is no edge
    assert find_cycle(g) is not None


def test_memo_is_generic():
    """memo.py imports nothing above the cache: callers wrap their own memoised steps."""
    g, _ = import_graph()
    assert g["motionpair.memo"] <= {"motionpair.cache"}


#: Stages in data-flow order (docs/architecture.md): a module imports only its own stage or
#: earlier ones. Top-level modules not named here are the shared vocabulary (stage 0).
STAGES = {"sources": 1, "features": 2, "align": 3, "windows": 4, "build": 5, "consumers": 6,
          "capture": 7, "model": 7, "commands": 8, "cli": 8, "doctor": 8, "torch": 8,
          "__main__": 8}


def stage_of(module: str) -> int:
    parts = module.split(".")
    return STAGES.get(parts[1], 0) if len(parts) > 1 else 0


def test_data_flows_one_way():
    """sources -> features -> align -> windows -> build -> consumers -> model/capture -> CLI:
    no module imports a later stage, so each stage can be read (and tested) without the ones
    after it."""
    g, _ = import_graph()
    upward = sorted(f"{m} (stage {stage_of(m)}) imports {t} (stage {stage_of(t)})"
                    for m, ts in g.items() for t in ts
                    if t != PKG and stage_of(t) > stage_of(m))
    assert not upward, "imports against the data flow:\n" + "\n".join(upward)
