"""The shape of the library, checked from its source with ``ast`` (nothing is imported).

Rules (DEVELOPERS.md, "Rooms"):
- imports run one way: front ends -> engine -> search / indexing / demo -> store / features ->
  types, config, errors; inside a layer, only within the same room (features never imports store);
- no import cycle between modules;
- only the front door (``engine.py``) and ``store/`` itself open a store, build the index spec or
  load the PANNs model;
- no function-local import of the project's own modules, unless its line says why (``# lazy: ...``);
- no module over 600 lines, no function over 100 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "hum_search"
FRONT_END_SCRIPTS = [REPO / "app.py", *sorted((REPO / "indexer").glob("*.py"))]
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 100

# (layer, room) of each module, by the longest matching prefix
ROOMS = {
    "hum_search": (0, "package"),
    "hum_search.errors": (0, "errors"),
    "hum_search.types": (1, "types"),
    "hum_search.config": (1, "config"),
    "hum_search.jit": (1, "jit"),
    "hum_search.features": (2, "features"),
    "hum_search.store": (2, "store"),
    "hum_search.search": (3, "search"),
    "hum_search.indexing": (3, "indexing"),
    "hum_search.demo": (3, "demo"),
    "hum_search.engine": (4, "engine"),
    "hum_search.commands": (5, "commands"),
    "hum_search.cli": (5, "cli"),
    "hum_search.__main__": (5, "main"),
    "hum_search.evaluate": (5, "evaluate"),
    "hum_search.web": (5, "web"),
    "app": (6, "app"),
    "indexer": (6, "indexer"),
}
# front-end rooms that may use each other: the CLI dispatches to the commands, `eval` runs evaluate
SIDEWAYS = {("main", "cli"), ("cli", "commands"), ("commands", "evaluate"), ("indexer", "commands"),
            ("indexer", "cli")}
OPENERS = {"open_store", "current_spec", "EmbeddedStore", "ElasticsearchStore"}
OPENER_HOMES = ("hum_search.engine", "hum_search.store", "hum_search.features.extract")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def library_files() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)


def room_of(module: str) -> tuple[int, str]:
    best = max((k for k in ROOMS if module == k or module.startswith(k + ".")), key=len)
    return ROOMS[best]


def resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """The absolute project modules an ImportFrom refers to (a name that is a module counts too)."""
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if not (target == "hum_search" or target.startswith("hum_search.")):
        return []
    out = [target]
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        if (REPO / (sub.replace(".", "/") + ".py")).exists() or (REPO / sub.replace(".", "/")).is_dir():
            out.append(sub)
    return out


def imports_of(path: Path) -> list[tuple[str, ast.AST, bool]]:
    """(imported module, node, at module level) for every project import in a file."""
    module, tree = module_name(path), ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    in_function = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                   for n in ast.walk(f)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            targets = resolve(module, is_package, node)
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names if a.name.startswith("hum_search")]
        else:
            continue
        for t in targets:
            found.append((t, node, id(node) not in in_function))
    return found


ALL_FILES = library_files() + FRONT_END_SCRIPTS


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_imports_run_one_way(path):
    src_layer, src_room = room_of(module_name(path))
    wrong = []
    for target, node, _ in imports_of(path):
        layer, room = room_of(target)
        if target == "hum_search":
            continue
        if layer < src_layer or room == src_room or (src_room, room) in SIDEWAYS:
            continue
        wrong.append(f"line {node.lineno}: {src_room} (layer {src_layer}) imports {target} ({room}, layer {layer})")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle():
    graph: dict[str, set[str]] = {}
    for path in library_files():
        mod = module_name(path)
        graph.setdefault(mod, set()).update(t for t, _, _ in imports_of(path) if t != mod and t != "hum_search")
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in list(graph):
        if v not in index:
            visit(v)
    # a package importing its own submodules to re-export them is not a cycle of roles
    cycles = [c for c in cycles if not all(m.startswith(min(c, key=len) + ".") or m == min(c, key=len) for m in c)]
    assert not cycles, f"import cycles: {cycles}"


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_only_the_front_door_opens_stores_and_models(path):
    mod = module_name(path)
    if mod.startswith(OPENER_HOMES):
        return
    calls = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
        owner = f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else None
        if name in OPENERS or (name == "load" and owner == "SoundEmbedder"):
            calls.append(f"line {node.lineno}: {owner + '.' if owner else ''}{name}()")
    assert not calls, f"{mod} opens a store or a model itself (ask hum_search.engine): {calls}"


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_hidden_function_local_imports(path):
    lines = path.read_text().splitlines()
    hidden = [f"line {node.lineno}: {ast.unparse(node)}" for target, node, top in imports_of(path)
              if not top and "# lazy:" not in lines[node.lineno - 1]]
    assert not hidden, "function-local imports of the project's own modules (move them to the top, or say " \
                       "why on the line with '# lazy: reason'):\n" + "\n".join(sorted(set(hidden)))


@pytest.mark.parametrize("path", library_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_module_and_function_sizes(path):
    src = path.read_text()
    n_lines = len(src.splitlines())
    assert n_lines <= MAX_MODULE_LINES, f"{n_lines} lines (at most {MAX_MODULE_LINES}): split it by role"
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for node in ast.walk(ast.parse(src)) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_features_never_import_the_store():
    offenders = [f"{module_name(p)}: {t}" for p in (PKG / "features").rglob("*.py")
                 for t, _, _ in imports_of(p) if t.startswith("hum_search.store")]
    assert not offenders, offenders


def test_the_room_map_is_not_vacuous():
    """The checks are not vacuous: the room map puts features and store side by side (so an import
    between them is refused) and the engine above the search."""
    assert room_of("hum_search.features.pitch") == (2, "features")
    assert room_of("hum_search.store.elastic.query") == (2, "store")
    layer, room = room_of("hum_search.store.base")
    assert room != "features" and layer == 2
    assert room_of("hum_search.engine")[0] > room_of("hum_search.search.searcher")[0]
