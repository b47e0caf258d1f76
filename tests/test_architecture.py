"""The house: every module has a room, stages import only downwards, and no imports run in a circle.

The imports are read from the package's own source (every ``import`` statement, those inside
functions and under TYPE_CHECKING included: a lazy import is still a dependency), not from a list
kept by hand. A layer may import only the layers below it; two stages of one layer do not import
each other; a stage's modules may import each other but never in a circle.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "octo_mlx"

# Lowest first. Each entry is a top-level module or package of octo_mlx (a stage, or a ground helper).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("__init__", "errors"),  # ground: the one exception for bad input
    ("files", "stats"),  # ground: durable files and the cache root; rates and their intervals
    ("runtime",),  # where and how fast MLX runs
    ("generation",),  # batched generation over mlx-lm, the one list of end markers
    ("functions", "models", "resolver"),  # the tool contract; models and their files; step -> function
    ("domains", "syntax"),  # the bundled domains, their world, the catalog; the action model's call text
    ("data",),  # planner datasets (they name their domains)
    ("action_data",),  # action-model datasets (the planner data's format machinery, reused)
    ("llm", "adapters"),  # the one OpenAI-compatible client; what trains beside a frozen base
    ("resident",),  # one base in memory, adapters switched per request
    ("train", "synth", "planner", "action"),  # making planners and their data; planning; calls
    ("imports",),  # other function-calling datasets in (their calls written as steps), ours out
    ("eval",),  # scoring planners (may run everything below)
    ("agent",),  # plan, act, observe, re-plan: the loop, its events and traces
    ("bench",),  # timing against named peers
    ("serve",),  # an OpenAI-compatible server over the resident adapters
    ("ui",),  # everything the terminal shows
    ("cli",),  # the one command
    ("__main__",),  # python -m octo_mlx
)


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def read_imports(root: Path) -> dict[str, set[str]]:
    """Module -> the octo_mlx modules it imports, from the source (nothing is run)."""
    modules = {module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolve against this module's package
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for a in node.names:  # `from pkg import module` depends on the module itself
                    targets.add(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def stage_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def layer_of(stage: str) -> int | None:
    return next((i for i, layer in enumerate(LAYERS) if stage in layer), None)


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import that breaks the house's rules, in words."""
    problems = []
    for module in sorted(graph):
        stage = stage_of(module)
        if layer_of(stage) is None:
            problems.append(f"{module}: stage {stage!r} has no room in LAYERS")
            continue
        for target in sorted(graph[module]):
            other = stage_of(target)
            if other == stage or layer_of(other) is None:
                continue
            if layer_of(other) > layer_of(stage):
                problems.append(f"{module} imports {target}: {stage} must not import {other} (a layer above)")
            elif layer_of(other) == layer_of(stage):
                problems.append(f"{module} imports {target}: {stage} and {other} are sibling stages")
    problems += [f"import circle: {' -> '.join(c)}" for c in circles(graph)]
    return problems


def test_the_package_imports_in_one_direction_without_circles():
    graph = read_imports(PACKAGE)
    assert len(graph) > 50 and any(graph.values())  # the reader found the package and its imports
    assert violations(graph) == []


def test_each_layer_holds_only_stages_that_exist():
    present = {
        p.stem if p.is_file() else p.name for p in PACKAGE.iterdir() if p.suffix == ".py" or p.is_dir()
    }
    present.discard("__pycache__")
    listed = {stage for layer in LAYERS for stage in layer}
    assert listed == present, (listed - present, present - listed)


@pytest.mark.parametrize(
    "plant, expected",
    [
        ("octo_mlx/data.py", "data must not import cli"),  # upwards, to the CLI
        ("octo_mlx/train/loop.py", "train must not import eval"),  # the trainer never scores
        ("octo_mlx/planner.py", "planner and synth are sibling stages"),
        ("octo_mlx/files.py", "import circle"),  # ground importing a stage that imports it
    ],
)
def test_a_wrong_import_in_the_source_is_caught(tmp_path, plant, expected):
    """The test above can fail: the same reader on a copy of the package with one bad import planted."""
    copy = tmp_path / "octo_mlx"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    bad = {
        "octo_mlx/data.py": "def _planted():\n    from octo_mlx.cli import main\n",
        "octo_mlx/train/loop.py": "def _planted():\n    from octo_mlx.eval import run\n",
        "octo_mlx/planner.py": "def _planted():\n    from octo_mlx.synth.config import SynthConfig\n",
        "octo_mlx/files.py": "def _planted():\n    import octo_mlx.llm\n",
    }[plant]
    target = tmp_path / plant
    target.write_text(target.read_text() + "\n\n" + bad)
    found = violations(read_imports(copy))
    assert any(expected in v for v in found), found
    assert violations(read_imports(PACKAGE)) == []  # the real package is untouched


def test_only_the_cli_imports_the_ui():
    graph = read_imports(PACKAGE)
    users = {m for m, targets in graph.items() if "octo_mlx.ui" in targets}
    assert users and all(stage_of(m) == "cli" for m in users), users


def test_logic_never_prints():
    """Only the UI and the CLI write to the terminal; every other module returns data."""
    printing = []
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path, PACKAGE)
        if stage_of(name) in ("ui", "cli"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                printing.append(f"{name}:{node.lineno}")
    assert printing == []
