"""store/ is the headless core: importing it must not pull in the UI or heavy libraries."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _modules_after(statement: str) -> set[str]:
    code = f"{statement}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


def _store_modules() -> list[str]:
    files = (p.relative_to(ROOT).with_suffix("") for p in (ROOT / "store").rglob("*.py"))
    return sorted(".".join(f.parts[:-1] if f.name == "__init__" else f.parts) for f in files)


def test_store_never_imports_textual_or_tui() -> None:
    statement = "\n".join(f"import {name}" for name in ["store", *_store_modules()])
    loaded = _modules_after(statement)
    assert not {m for m in loaded if m == "textual" or m.startswith(("textual.", "tui"))}


def test_import_store_stays_light() -> None:
    loaded = _modules_after("import store")
    heavy = {"sklearn", "textual", "watchdog", "numpy", "scipy", "joblib"}
    assert not heavy & {m.split(".")[0] for m in loaded}


def test_store_sources_do_not_mention_tui() -> None:
    for path in (ROOT / "store").rglob("*.py"):
        text = path.read_text()
        assert "import textual" not in text and "from textual" not in text, path
        assert "import tui" not in text and "from tui" not in text, path


# -- the seam: nothing above the backend reaches below it ----------------------------------------------

import ast  # noqa: E402  (kept with the tests that use it)

BACKENDS = ROOT / "store" / "backends"
TABLES = {"models", "versions", "live", "history"}
TABLE_CONSTANTS = {"MODELS", "VERSIONS", "LIVE", "HISTORY"}
BELOW_THE_SEAM = {"storage", "db", "journal", "index"}  # what Registry once exposed of its storage


def _sources(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def _above_the_seam() -> list[Path]:
    return [p for p in _sources("store", "tui") if BACKENDS not in p.parents]


def _registry_privates() -> set[str]:
    """Private names of Registry and of the parts it inherits (store/references.py, editing.py...)."""
    classes = {n.name: n for path in _sources("store") for n in ast.parse(path.read_text()).body if isinstance(n, ast.ClassDef)}
    registry = classes["Registry"]
    parts = [registry, *(classes[b.id] for b in registry.bases if isinstance(b, ast.Name))]
    names: set[str] = set()
    for cls in parts:
        names |= {n.name for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        targets = [t for n in ast.walk(cls) if isinstance(n, ast.Assign) for t in n.targets]
        targets += [n.target for n in ast.walk(cls) if isinstance(n, ast.AnnAssign)]
        names |= {t.attr for t in targets if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self"}
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def _names_registry(node: ast.expr) -> bool:
    """``registry``, ``reg``, ``self.registry``, ``app.registry``..."""
    name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
    return "registry" in name.lower() or name == "reg"


def _seam_violations(path: Path, privates: set[str]) -> list[str]:
    tree = ast.parse(path.read_text())
    where = path.relative_to(ROOT) if ROOT in path.parents else path.name
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            own = isinstance(node.value, ast.Name) and node.value.id == "self"  # Registry and its parts
            if node.attr == "storage" or (node.attr in BELOW_THE_SEAM and _names_registry(node.value)):
                found.append(f"{where}:{node.lineno} reaches .{node.attr}")
            elif node.attr in privates and not own:
                found.append(f"{where}:{node.lineno} calls Registry's private {node.attr}")
            elif node.attr.startswith("_") and not node.attr.startswith("__") and _names_registry(node.value):
                found.append(f"{where}:{node.lineno} reaches a private attribute {node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "table":
            if node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value in TABLES:
                found.append(f"{where}:{node.lineno} reads the table {node.args[0].value!r}")
        elif isinstance(node, ast.ImportFrom):
            named = {alias.name for alias in node.names}
            if named & TABLE_CONSTANTS:
                found.append(f"{where}:{node.lineno} imports table names {sorted(named & TABLE_CONSTANTS)}")
            if (node.module or "").startswith("store.backends.local.journal"):
                found.append(f"{where}:{node.lineno} imports the journal")
    return found


def test_nothing_above_the_seam_touches_storage_registry_privates_or_tables() -> None:
    privates = _registry_privates()
    assert {"_resolve", "_require_model", "_version_doc", "_backend", "_change"} <= privates  # it knows what to look for
    violations = [v for path in _above_the_seam() for v in _seam_violations(path, privates)]
    assert violations == []


def test_the_seam_check_catches_a_module_that_reaches_past_registry(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from store.backends.local.backend import VERSIONS\n"
        "def f(registry):\n"
        "    with registry.storage.lock:\n"
        "        registry._resolve('m:v1')\n"
        "        return registry.index.by_model, registry._backend.table('versions')\n"
    )
    found = _seam_violations(bad, _registry_privates())
    assert len(found) == 6, found  # table names, storage, _resolve, index, _backend, 'versions'


# -- no import circles ------------------------------------------------------------------------------


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, known: set[str]) -> set[str]:
    """Every module ``path`` imports, wherever the import is (a function body too), except
    imports made only for type checking: those never run."""
    tree = ast.parse(path.read_text())
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                # ``from store.deploy import deploy`` names a module; ``from store.deploy.deploy import deploy`` a function.
                full = f"{node.module}.{alias.name}"
                found.add(full if full in known else node.module)
    return found & known


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                result.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return result


def _import_graph() -> dict[str, set[str]]:
    paths = _sources("store", "tui")
    known = {_module_name(p) for p in paths}
    return {_module_name(p): _imports(p, known) - {_module_name(p)} for p in paths}


def test_no_import_circles_in_store_or_tui() -> None:
    graph = _import_graph()
    assert "store.deploy.deploy" in graph["store.registry"]  # the graph sees imports inside functions too
    assert _cycles(graph) == []


def test_the_circle_check_finds_a_circle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# -- the layout -------------------------------------------------------------------------------------

# No module over the size a reader takes in at one sitting: split by concept past this.
MAX_LINES = 400


def test_store_modules_stay_readable_in_one_sitting() -> None:
    for path in _sources("store"):
        name = str(path.relative_to(ROOT))
        lines = len(path.read_text().splitlines())
        assert lines <= MAX_LINES, f"{name} has {lines} lines"


def test_every_store_package_says_what_lives_there() -> None:
    for init in (ROOT / "store").rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert doc and len(doc.splitlines()) <= 3, init


def test_a_local_registry_loads_no_server_client_and_no_loader() -> None:
    """`import store` stays light, and a local registry never loads a server's client: the MLflow
    backend (and http.client under it) and fsspec load only for an http(s):// registry or a URL;
    the restricted loader (and zipfile) not at import, only when something is scanned or deployed."""
    loaded = ("import json; print(json.dumps(sorted(m for m in sys.modules if m in ('http.client', 'zipfile', 'pickle')"
              " or m.startswith(('store.backends.mlflow.backend', 'store.safety.loader', 'fsspec')))))")

    def modules_after(code: str) -> list[str]:
        out = subprocess.run([sys.executable, "-c", f"import sys\n{code}\n{loaded}"], cwd=ROOT,
                             capture_output=True, text=True, check=True)
        return json.loads(out.stdout)

    assert modules_after("import store") == []
    opened = modules_after("import tempfile\nfrom store import Registry\nRegistry(tempfile.mkdtemp())")
    assert not {"http.client", "store.backends.mlflow.backend"} & set(opened)
    assert not [m for m in opened if m.startswith("fsspec")]
