"""Meta-tests: every hook is documented the way plugin authors need and has a test (datasette's rule)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from gateway.contract import hookspecs

HOOKS = sorted(name for name, fn in vars(hookspecs).items() if callable(fn) and hasattr(fn, "pain_gateway_spec"))
TEST_SOURCES = "\n".join(p.read_text() for p in Path(__file__).parent.rglob("test_*.py"))


def test_hooks_are_found():
    assert "register_models" in HOOKS and len(HOOKS) >= 6


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook):
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    assert "Fires" in doc, f"{hook}: say when the hook fires"
    assert "Example::" in doc, f"{hook}: give an example implementation"
    for arg in inspect.signature(getattr(hookspecs, hook)).parameters:
        assert f"``{arg}" in doc, f"{hook}: document argument {arg!r}"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_test(hook):
    tests = [line.split("(")[0] for line in TEST_SOURCES.splitlines() if line.startswith("def test_hook_")]
    assert any(hook.removeprefix("register_") in name for name in tests), f"add a test named test_hook_{hook}"
