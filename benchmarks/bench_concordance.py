"""The concordance figures' cost: the patient-clustered bootstrap (1000 resamples, the shipped setting)
as the plugin computes it (every resample at once, as weights per pair), against the same bootstrap
calling scikit-learn and SciPy for every resample (the baseline, same process, same pairs); both give
the same intervals.

``python benchmarks/bench_concordance.py [PAIRS] [PATIENTS]`` (defaults: 400 pairs of 40 patients).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from plugins.reference_scales.statistics import PairArrays, cluster_bootstrap, cluster_bootstrap_batched, headline

RESAMPLES = 1000


def pairs(n: int, patients: int) -> PairArrays:
    rng = np.random.default_rng(3)
    reference = rng.integers(0, 3, n)
    ai = np.clip(reference + rng.integers(-1, 2, n), 0, 2)
    return PairArrays.of(ai, reference, reference * 3 + rng.integers(0, 3, n), rng.dirichlet([1, 1, 1], n), [f"p{i % patients}" for i in range(n)])


def timed(run) -> tuple[float, tuple[np.ndarray, np.ndarray]]:
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    patients = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    data = pairs(n, patients)
    library_s, (low_l, high_l) = timed(lambda: cluster_bootstrap(data, headline, RESAMPLES))
    fast_s, (low_f, high_f) = timed(lambda: cluster_bootstrap_batched(data, RESAMPLES))
    same = np.allclose(low_l, low_f, equal_nan=True) and np.allclose(high_l, high_f, equal_nan=True)
    print(f"{n} pairs, {patients} patients, {RESAMPLES} resamples")
    print(f"baseline (scikit-learn/SciPy per resample): {library_s:.2f} s")
    print(f"plugin (all resamples at once, weights):   {fast_s:.3f} s  ({library_s / fast_s:.1f}x faster; same intervals: {same})")


if __name__ == "__main__":
    main()
