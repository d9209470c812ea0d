"""The layout is the architecture: layers import only downwards, the core has no import circle, and
plugins (built-in or not) see the gateway only through its public API."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("ops", "contract", "pipeline", "storage", "service", "web")
"""Bottom to top; ``gateway/cli.py`` (with ``__main__.py``) and ``gateway/plugin_api.py`` sit above them all."""


def _module(path: Path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, inside functions too (``from a import b`` counts ``a.b`` as well)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _gateway_modules() -> dict[str, Path]:
    return {_module(p): p for p in (ROOT / "gateway").rglob("*.py") if "migrations" not in p.parts}


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in LAYERS:
        return LAYERS.index(parts[1])
    return None


def test_the_gateway_is_grouped_in_layers_that_import_only_downwards():
    modules = _gateway_modules()
    loose = sorted(m for m in modules if m.count(".") == 1 and _layer(m) is None)
    assert loose == ["gateway.__main__", "gateway.cli", "gateway.plugin_api"], "a core module belongs in one layer folder: " + ", ".join(LAYERS)
    upward = []
    for name, path in modules.items():
        own = _layer(name)
        if own is None:
            continue
        for imported in _imports(path):
            if imported in ("gateway", "gateway.plugin_api"):
                upward.append(f"{name} imports the public API {imported} (core modules import the module they need)")
            other = _layer(imported) if imported.startswith("gateway.") else None
            if other is not None and other > own:
                upward.append(f"{name} ({LAYERS[own]}) imports {imported} ({LAYERS[other]})")
    assert not upward, "imports point down the layers:\n" + "\n".join(sorted(set(upward)))


def test_the_core_never_imports_a_plugin():
    """Plugins depend on the gateway, never the other way round: the core works with none installed."""
    found = sorted(
        f"{name} imports {imported}" for name, path in _gateway_modules().items() for imported in _imports(path) if imported.split(".")[0] == "plugins"
    )
    assert not found, "\n".join(found)


def test_the_core_has_no_import_circle():
    modules = _gateway_modules()
    graph = {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}
    for name in graph:  # importing a package's module runs the package too, but a package runs none of its children
        graph[name] = {dep for dep in graph[name] if not name.startswith(dep + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                circles.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


def plugin_import_problems(plugins_dir: Path) -> list[str]:
    """Imports of anything but ``gateway`` (the public API) from the gateway, and of another plugin's modules."""
    problems = []
    for path in sorted(plugins_dir.rglob("*.py")):
        plugin = path.relative_to(plugins_dir).parts[0]
        if plugin == "__init__.py":
            continue
        for imported in sorted(_imports(path)):
            top = imported.split(".")
            if top[0] == "gateway" and imported != "gateway" and not _is_public_name(imported):
                problems.append(f"{path.relative_to(plugins_dir.parent)} imports {imported}; plugins import only `from gateway import ...`")
            if top[0] == "plugins" and len(top) > 1 and top[1] != plugin and not _is_name_in(f"plugins.{plugin}", imported):
                problems.append(f"{path.relative_to(plugins_dir.parent)} imports {imported}, another plugin's module")
    return problems


def _is_public_name(imported: str) -> bool:
    """``from gateway import hookimpl`` is recorded as ``gateway.hookimpl``: a name of the API, not a module."""
    import gateway

    head, _, name = imported.partition(".")
    return head == "gateway" and "." not in name and name in gateway.__all__


def _is_name_in(package: str, imported: str) -> bool:
    return imported.startswith(package + ".") or imported == package


def test_plugins_import_only_the_public_api_and_never_each_other():
    problems = plugin_import_problems(ROOT / "plugins")
    assert not problems, "\n".join(problems)


def test_the_import_check_catches_a_private_import_and_a_cross_plugin_import(tmp_path):
    (tmp_path / "alpha").mkdir()
    (tmp_path / "alpha" / "__init__.py").write_text("from gateway import hookimpl\nfrom gateway.storage.tables import Base\n")
    (tmp_path / "beta").mkdir()
    (tmp_path / "beta" / "__init__.py").write_text("from plugins.alpha import thing\n")
    problems = plugin_import_problems(tmp_path)
    assert any("gateway.storage.tables" in p for p in problems)
    assert any("another plugin" in p for p in problems)
    assert not any("gateway.hookimpl" in p for p in problems)
