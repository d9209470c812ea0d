"""The type checker (mypy, settings in pyproject.toml's ``[tool.mypy]``) is clean, strict, on the public
plugin API: ``gateway/plugin_api.py``, ``gateway/__init__.py`` and every module the API imports a name from."""

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _api_modules() -> set[str]:
    """The files the public API takes its names from (``from gateway.ops import metrics`` is the module)."""
    tree = ast.parse((ROOT / "gateway" / "plugin_api.py").read_text(encoding="utf-8"))
    paths = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "gateway":
            base = Path(*node.module.split("."))
            for alias in node.names:
                if (ROOT / base / f"{alias.name}.py").is_file():
                    paths.add((base / f"{alias.name}.py").as_posix())
                elif (ROOT / base.with_suffix(".py")).is_file():
                    paths.add(base.with_suffix(".py").as_posix())
                else:
                    paths.add((base / "__init__.py").as_posix())
    return paths


def test_mypy_strict_is_clean_on_the_public_api(tmp_path):
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    assert config["strict"] is True
    missing = (_api_modules() | {"gateway/__init__.py", "gateway/plugin_api.py"}) - set(config["files"])
    assert not missing, f"gateway/plugin_api.py imports from modules that [tool.mypy] files does not check: {sorted(missing)}"
    result = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy_cache")], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
