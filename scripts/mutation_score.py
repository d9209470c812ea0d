"""Print the mutation score from mutmut's CI stats and fail below the 90 % the project promises.

Killed counts mutants a test caught (including by timeout); every generated mutant is in the total, so a
mutant no test reaches counts against the score rather than being left out of it.
"""

from __future__ import annotations

import json
import sys

TARGET = 0.90


def main(path: str) -> int:
    with open(path) as f:
        stats = json.load(f)
    killed = stats["killed"] + stats["timeout"]
    total = stats["total"]
    score = killed / total if total else 0.0
    print(
        f"mutation score: {killed} / {total} killed ({score:.1%}; {stats['timeout']} of them by timeout); survived {stats['survived']}, "
        f"no tests {stats['no_tests']}, suspicious {stats['suspicious']}, skipped {stats['skipped']}"
    )
    unchecked = total - killed - stats["survived"] - stats["no_tests"] - stats["suspicious"] - stats["skipped"] - stats["segfault"]
    if unchecked > 0:  # an interrupted run: say so, rather than let the unchecked pass as survivors unremarked
        checked = total - unchecked
        print(f"  run incomplete: {checked} of {total} checked, {killed / checked if checked else 0:.1%} of those killed")
    return 0 if score >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
