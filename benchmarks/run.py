"""Run every benchmark in turn: `make bench`."""

from __future__ import annotations

import runpy
from pathlib import Path

HERE = Path(__file__).parent

for name in ("bench_normalise.py", "bench_model.py", "bench_api.py"):
    print(f"\n=== {name} ===", flush=True)
    runpy.run_path(str(HERE / name), run_name="__main__")
