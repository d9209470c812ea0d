"""Whether this run is CI, where a missing service is a failure, never a skip."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NoReturn

import pytest

FALSE = {"", "0", "false", "no", "off", "n", "f"}


def under_ci(environ: Mapping[str, str] | None = None) -> bool:
    """Any truthy ``CI`` (``true``, ``1``, ``yes``, ``True``...): CI runners do not agree on the spelling, and
    a fixture that checked only ``true`` would quietly skip the PostgreSQL or EMR proof on the others."""
    environ = os.environ if environ is None else environ
    return environ.get("CI", "").strip().lower() not in FALSE


def service_missing(reason: str, under_ci_hint: str) -> NoReturn:
    """Skip with ``reason`` off CI; under CI fail, naming what should have provided the service."""
    if under_ci():
        pytest.fail(f"{reason}; {under_ci_hint}")
    pytest.skip(reason)
