"""Run every benchmark (`benchmarks/bench_*.py`) in turn: `make bench`."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).parent
only = set(sys.argv[1:])

for path in sorted(HERE.glob("bench_*.py")):
    if only and path.stem not in only:
        continue
    print(f"\n=== {path.name} ===", flush=True)
    runpy.run_path(str(path), run_name="__main__")
