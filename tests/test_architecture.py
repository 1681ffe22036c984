"""The structure of python/mlpcore, checked from its source: the import graph of its modules
(every import statement, those inside functions included) has no cycle, and the layers of
the package keep to their places (the scikit-learn estimators reach neither the NumPy twin
nor the C++ extension; the twin imports nothing of the API above it)."""

import ast
import pathlib

import pytest

import mlpcore
from mlpcore import _common
from mlpcore.reference import losses as twin_losses
from mlpcore.reference import optim as twin_optim

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "python" / "mlpcore"


def _module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules():
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name, path, modules):
    """The mlpcore modules `name` imports (explicitly; a parent package's __init__ only when
    it is imported itself or a name is taken from it)."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [(a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            targets = [(mod, a.name) for a in node.names]
        else:
            continue
        for mod, attr in targets:
            if not mod or not (mod == "mlpcore" or mod.startswith("mlpcore.")):
                continue
            sub = f"{mod}.{attr}" if attr else None
            if (
                sub in modules
                or (attr and sub and sub.endswith("._core"))
                or (sub and sub.endswith("._core_testing"))
            ):
                out.add(sub)  # a submodule (the extension included)
            else:
                out.add(mod)
    out.discard(name)
    return out


def _graph():
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycle(graph):
    """One import cycle as a list of modules, or None."""
    state, stack = {}, []

    def visit(u):
        state[u] = "open"
        stack.append(u)
        for v in sorted(graph.get(u, ())):
            if v not in graph:
                continue
            if state.get(v) == "open":
                return stack[stack.index(v) :] + [v]
            if v not in state:
                found = visit(v)
                if found:
                    return found
        stack.pop()
        state[u] = "done"
        return None

    for u in sorted(graph):
        if u not in state:
            found = visit(u)
            if found:
                return found
    return None


def _reachable(graph, start, skip=()):
    """Modules imported by `start`, directly or through other modules (not through skip)."""
    seen, todo = set(), [start]
    while todo:
        for v in graph.get(todo.pop(), ()):
            if v not in seen and v not in skip:
                seen.add(v)
                todo.append(v)
    return seen


def test_the_graph_is_read():
    graph = _graph()
    assert len(graph) > 30
    assert "mlpcore._record" in graph["mlpcore.sequential"]
    assert "mlpcore.sequential" in graph["mlpcore.estimators._engine"]
    assert "mlpcore._core" in graph["mlpcore.sequential"]  # an import inside a function
    print(f"{len(graph)} modules, {sum(map(len, graph.values()))} imports")


def test_no_import_cycle():
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_cycles():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_estimators_reach_neither_the_twin_nor_the_extension():
    graph = _graph()
    for name in graph:
        if name.startswith("mlpcore.estimators"):
            direct = {
                m
                for m in graph[name]
                if m.startswith("mlpcore.reference") or m.startswith("mlpcore._core")
            }
            assert not direct, f"{name} imports {sorted(direct)}"


@pytest.mark.parametrize(
    "module",
    [
        "mlpcore._checks",
        "mlpcore._training",
        "mlpcore._record",
        "mlpcore.io",
        "mlpcore.callbacks",
        "mlpcore.layers",
        "mlpcore._layout",
        "mlpcore.optimizers",
    ],
)
def test_the_api_does_not_take_facts_from_the_twin(module):
    """Only Sequential and QuantizedSequential (mlpcore.quantization) build the twin
    (backend="numpy"); the checks, the training loop and the record take the shared tables
    from mlpcore._common."""
    reached = _reachable(_graph(), module, skip={"mlpcore.sequential", "mlpcore.quantization"})
    assert not {m for m in reached if m.startswith("mlpcore.reference")}, sorted(reached)


def test_the_twin_imports_nothing_of_the_api():
    graph = _graph()
    for name, deps in graph.items():
        if name.startswith("mlpcore.reference"):
            above = {m for m in deps if not m.startswith("mlpcore.reference")}
            assert above <= {"mlpcore._common"}, f"{name} imports {sorted(above)}"


def test_the_shared_tables_are_the_twins():
    assert set(twin_losses.PAIRS) == set(_common.LOSSES)
    assert twin_optim.NAMES == _common.OPTIMIZERS
    assert set(_common.OPTIMIZER_DEFAULTS["name"] for _ in [0]) <= set(_common.OPTIMIZERS)


def test_the_version_is_written_once():
    assert mlpcore.__version__ == mlpcore._version.__version__
    hits = [p for p in PACKAGE.rglob("*.py") if "__version__ = " in p.read_text()]
    assert [p.name for p in hits] == ["_version.py"]
