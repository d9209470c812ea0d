"""Every shell block in the README and the getting-started page runs in the shell its fence names: an
``sh`` block is POSIX (no ``< <(...)``, no ``[[``), checked by that shell's own parser (dash for ``sh``)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", ROOT / "docs" / "getting-started.md"]
SHELLS = {"sh": "sh", "bash": "bash", "shell": "sh"}


def blocks() -> list[tuple[str, str, str]]:
    found = []
    for page in PAGES:
        for fence, body in re.findall(r"^```(\w+)\n(.*?)^```", page.read_text(), flags=re.S | re.M):
            if fence in SHELLS:
                found.append((page.name, fence, body))
    return found


def test_the_pages_have_shell_blocks():
    assert len([b for b in blocks() if b[0] == "README.md"]) >= 2


@pytest.mark.parametrize(("page", "fence", "body"), blocks(), ids=lambda v: v if isinstance(v, str) and len(v) < 30 else None)
def test_each_shell_block_parses_in_the_shell_it_names(page, fence, body):
    shell = shutil.which(SHELLS[fence])
    assert shell, f"{SHELLS[fence]} is not installed"
    checked = subprocess.run([shell, "-n", "-c", body], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, f"{page}: a ```{fence} block does not parse in {SHELLS[fence]}: {checked.stderr}"


def test_a_bashism_in_an_sh_block_would_be_caught():
    assert subprocess.run(["sh", "-n", "-c", "read -r A B < <(echo 1 2)"], capture_output=True).returncode != 0
