"""The public plugin API is one documented list: every name resolves, has a docstring, and is the same
object the core uses (a plugin and the gateway never see two versions of a type)."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import gateway
from gateway import plugin_api

ROOT = Path(__file__).resolve().parents[2]


def _attribute_docstrings() -> dict[str, str]:
    """``NAME = value`` followed by a string literal, anywhere in gateway/: Sphinx-style attribute docstrings."""
    found: dict[str, str] = {}
    for path in (ROOT / "gateway").rglob("*.py"):
        body = ast.parse(path.read_text()).body
        for node, following in zip(body, body[1:], strict=False):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
            is_doc = isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant) and isinstance(following.value.value, str)
            for target in targets:
                if isinstance(target, ast.Name) and is_doc:
                    found[target.id] = following.value.value
    return found


def test_the_package_exports_exactly_the_api():
    assert gateway.__all__ == plugin_api.__all__
    assert len(set(plugin_api.__all__)) == len(plugin_api.__all__), "a name listed twice"
    for name in plugin_api.__all__:
        assert getattr(gateway, name) is getattr(plugin_api, name), name
    assert re.fullmatch(r"\d+\.\d+", plugin_api.PLUGIN_API_VERSION)


def _source_names() -> dict[str, str]:
    """API name -> the name in its defining module (``from m import NOTICE as EXPLANATION_NOTICE``)."""
    tree = ast.parse((ROOT / "gateway" / "plugin_api.py").read_text())
    return {a.asname or a.name: a.name for node in tree.body if isinstance(node, ast.ImportFrom) for a in node.names}


def test_every_name_of_the_api_is_documented():
    attribute_docs, source = _attribute_docstrings(), _source_names()
    undocumented = []
    for name in plugin_api.__all__:
        obj = getattr(plugin_api, name)
        if inspect.isclass(obj):
            doc = obj.__dict__.get("__doc__")  # its own, not one inherited
        elif inspect.isfunction(obj) or hasattr(obj, "__wrapped__"):
            doc = obj.__doc__
        else:
            doc = attribute_docs.get(source.get(name, name))
        if not (doc or "").strip():
            undocumented.append(name)
    assert not undocumented, "give these a docstring (attribute docstring for values): " + ", ".join(undocumented)
