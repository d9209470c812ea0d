"""Test helpers importable from any test module (pytest pythonpath = tests)."""
