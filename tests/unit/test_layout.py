"""The package layout: stages import only lower stages, no module imports itself in a circle.

Every ``import`` / ``from ... import`` of a ``pebal`` module is read from the source (lazy imports
inside functions included), so a circle that today only works because one side imports late
still fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pebal

PACKAGE = Path(pebal.__file__).parent

#: Stages from the bottom up. A module may import modules of its own stage or a lower one.
LAYERS = (
    ("atomic", "paths", "errors", "labels", "config", "config_validation", "threads"),
    ("energy",),
    ("losses", "scores", "model"),
    ("models", "metrics", "data"),
    ("baselines",),
    ("training", "inference"),
    ("evaluation",),
    ("experiments",),
    ("cli", "__main__"),
)
LAYER_OF = {name: i for i, names in enumerate(LAYERS) for name in names}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The pebal modules a file imports; ``from pkg import submodule`` counts as the submodule."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pebal"):
            names = {f"{node.module}.{a.name}" for a in node.names}
            submodules = names & modules
            found.update(submodules)
            if submodules != names:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("pebal"))
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in _imports(path, set(modules)) if m in modules and m != name}
            for name, path in modules.items()}


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_top_level_module_has_a_stage():
    top = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
           if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))}
    top.discard("__init__")
    assert top <= set(LAYER_OF), f"modules without a stage: {sorted(top - set(LAYER_OF))}"


def test_no_stage_imports_a_higher_stage():
    bad = []
    for module, imported in _graph().items():
        if module == "pebal":
            continue  # the lazy top-level API names the stages it re-exports
        for target in imported:
            if target != "pebal" and LAYER_OF[_stage(target)] > LAYER_OF[_stage(module)]:
                bad.append(f"{module} -> {target}")
    assert not bad, "lower stage imports a higher one:\n" + "\n".join(sorted(bad))


def test_no_import_circles():
    graph = _graph()
    graph.pop("pebal", None)
    for deps in graph.values():
        deps.discard("pebal")
    state: dict[str, int] = {}
    cycles: list[str] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert not cycles, "import circles:\n" + "\n".join(cycles)
