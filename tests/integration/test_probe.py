"""`make probe` in the suite: schemathesis with every check and the stateful phase against a real ``pain-gateway serve``,
bounded here to a few examples per operation and 60 s of generation (``make probe`` runs longer)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_probe():
    spec = importlib.util.spec_from_file_location("probe", ROOT / "scripts" / "probe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_probe_finds_no_5xx_and_no_break_of_the_document(tmp_path):
    probe = load_probe()
    code, counts, output = probe.probe(tmp_path, max_examples=5, max_time=60, seed_value=20)
    print(f"probe: {counts}")
    assert counts["operations"] >= 40 and counts["requests"] > 0 and counts["checks"] > 0, output[-5000:]
    assert code == 0, output[-20000:]
