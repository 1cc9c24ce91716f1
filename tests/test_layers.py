"""Imports only go downward: core <- run layer <- edge (app, tracking, reports, sweeper plugin).

Read from the source with ``ast`` (imports inside functions count too), so a lazy import that
breaks the layering fails here as well.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORE = {
    "errors", "records", "names", "checks", "images", "settings", "features", "losses", "optimize",
    "score", "quiet", "colors", "cache", "tune", "weights",
}  # fmt: skip
RUN_LAYER = {"tracker", "progress", "run"}
EDGE_ONLY = ("hydra", "omegaconf", "mlflow", "optuna", "hydra_plugins")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else ""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = module_name(path) if path.name == "__init__.py" else package
                anchor = ".".join(anchor.split(".")[: len(anchor.split(".")) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def graph() -> dict[str, set[str]]:
    files = [*REPO.glob("nst_sweep/**/*.py"), *REPO.glob("hydra_plugins/**/*.py")]
    modules = {module_name(f): f for f in files}
    return {
        name: {m for m in imports_of(path) if m in modules and m != name}
        for name, path in modules.items()
    }


def short(module: str) -> str:
    return module.removeprefix("nst_sweep.")


def test_no_import_cycle() -> None:
    edges = graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in edges[node]:
            if state.get(nxt) == 1:
                raise AssertionError(f"import cycle: {' -> '.join([*stack, node, nxt])}")
            if state.get(nxt) is None:
                visit(nxt, [*stack, node])
        state[node] = 2

    for node in edges:
        if node not in state:
            visit(node, [])


def test_core_and_run_layer_import_neither_the_edge_nor_hydra_mlflow() -> None:
    for path in REPO.glob("nst_sweep/*.py"):
        name = short(module_name(path))
        if name not in CORE | RUN_LAYER:
            continue
        allowed = CORE if name in CORE else CORE | RUN_LAYER
        for imported in imports_of(path):
            assert not imported.startswith(EDGE_ONLY), f"{name} imports {imported}"
            if imported.startswith("nst_sweep."):
                target = imported.split(".")[1]
                assert target in allowed, f"{name} imports {imported}, a higher layer"


def test_no_private_plugin_module_from_nst_sweep_and_no_nst_sweep_in_the_plugin() -> None:
    for path in REPO.glob("nst_sweep/**/*.py"):
        for imported in imports_of(path):
            parts = imported.split(".")
            private = [p for p in parts[1:] if p.startswith("_")]
            assert not (parts[0] == "hydra_plugins" and private), f"{path.name}: {imported}"
    for path in REPO.glob("hydra_plugins/**/*.py"):
        assert not any(m.startswith("nst_sweep") for m in imports_of(path)), path.name


def test_the_layer_lists_cover_the_package() -> None:
    # A new module must be placed in a layer on purpose (edge modules are the rest).
    edge = {"__init__", "__main__", "app", "callbacks", "tracking", "score_cli", "reports",
            "resolvers", "store_lock", "folders", "dead_runs", "preflight", "stores",
            "connection", "spool", "sync", "links", "swept", "before_work", "job",
            "suggest"}  # fmt: skip
    found = {short(module_name(p)).split(".")[0] for p in REPO.glob("nst_sweep/**/*.py")}
    found.discard("nst_sweep")
    assert found <= CORE | RUN_LAYER | edge, found - (CORE | RUN_LAYER | edge)
