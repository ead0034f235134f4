"""The package's structure, checked: a layer imports only the layers below it (at module level or inside a
function), no import cycle anywhere, no module over 300 lines, no study writes Markdown, and every results file is
read through the typed module."""
import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "problem2"
LAYERS = ["core", "figures", "models", "data", "training", "experiments", "studies", "report", "pipeline"]  # bottom to top
TOP = {"__main__", "dataset", "model", "train", "evaluate", "baseline", "predict"}  # the command line and the front doors
MAX_LINES = 300


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py") if "results" not in p.relative_to(PACKAGE).parts[:1]}


def imports(path: Path) -> set:
    """Every problem2 module a file imports, at any depth of the file (functions included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("problem2"):
            base = node.module.removeprefix("problem2").lstrip(".")
            names = [base] + [f"{base}.{a.name}".lstrip(".") for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name.removeprefix("problem2").lstrip(".") for a in node.names if a.name.startswith("problem2")]
        found |= {n for n in names if n in MODULES}
    return found - {""}


def layer(module: str) -> int:
    head = module.split(".")[0]
    return len(LAYERS) if head in TOP else LAYERS.index(head)


def test_every_module_belongs_to_a_layer():
    assert {m.split(".")[0] for m in MODULES if m} <= set(LAYERS) | TOP


def test_no_layer_imports_one_above_it():
    upward = [f"{m} -> {d}" for m in MODULES if m for d in imports(MODULES[m]) if layer(d) > layer(m)]
    assert upward == []


def test_no_import_cycle():
    graph = {m: imports(p) - {m} for m, p in MODULES.items()}
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for nxt in graph.get(node, ()):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for m in graph:
        if m not in state:
            visit(m, [m])
    assert cycles == []


def test_no_module_is_over_300_lines():
    assert {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES} == {}


def test_only_the_report_layer_renders_markdown():
    """Markdown tables are made by report/markdown.py's table(); no module below the report builds one."""
    makers = [m for m, p in MODULES.items() if m and layer(m) < LAYERS.index("report")
              and re.search(r'"\|---|\|---\|', p.read_text())]
    assert makers == []


def test_results_files_are_read_through_the_typed_module():
    """Below the pipeline, a results file (RESULTS/*.json) is read by results' typed classes, never load_json."""
    raw = []
    for m, p in MODULES.items():
        if not m or layer(m) >= LAYERS.index("pipeline") or m.startswith("core"):
            continue
        for line in p.read_text().splitlines():
            if re.search(r"load_json\([^)]*\b(metrics|studies|diagnosis|failure_cases|bench_train|heads|ablation\w*|"
                         r"robustness|data_efficiency)\.json", line):
                raw.append(f"{m}: {line.strip()}")
    assert raw == []


def named_paths(text: str) -> tuple[list, list]:
    """(dotted names 'problem2.x.y', file paths 'dir/x.py') that a docstring, comment or message mentions."""
    dotted = re.findall(r"\bproblem2(?:\.[A-Za-z_]+)+", text)
    files = re.findall(r"(?<![\w./-])((?:[a-z_0-9]+/)+[a-z_0-9]+\.(?:py|md|sh))", text)
    return dotted, files


def test_every_module_and_file_the_package_and_docs_name_exists():
    import importlib
    root = PACKAGE.parent
    texts = [*PACKAGE.rglob("*.py"), *(root / "docs").glob("*.md"), root / "README.md"]
    missing = []
    for path in texts:
        dotted, files = named_paths(path.read_text())
        for name in dotted:
            parts = name.split(".")
            for i in range(len(parts), 0, -1):  # the longest importable prefix, then attributes
                try:
                    obj = importlib.import_module(".".join(parts[:i]))
                    break
                except ImportError:
                    continue
            for attr in parts[i:]:
                obj = getattr(obj, attr, None)
            if obj is None:
                missing.append(f"{path.relative_to(root)}: {name}")
        missing += [f"{path.relative_to(root)}: {f}" for f in files  # from the root, the package or the file's folder
                    if not ((root / f).exists() or (PACKAGE / f).exists() or (path.parent / f).exists())]
    assert missing == []
