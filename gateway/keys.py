"""Unknown keys are refused by name with the closest known key as a hint.

A typo in an optional key (``image_sise``) would otherwise be ignored and silently change the result
(no aspect correction), so every object of a submission (the body, ``patient``, ``patient.identifier``,
a video's ``metadata``, multipart part names) is checked against the keys it takes.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from gateway.domain import InputError


def suggestion(key: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def refuse_unknown(where: str, given: Iterable[str], known: Iterable[str], hint: str = "") -> None:
    """Raise ``InputError`` naming every key of ``given`` not in ``known`` (``where``: the object's field path)."""
    known = list(known)
    unknown = [key for key in given if key not in known]
    if not unknown:
        return
    listed = ", ".join(f"'{key[:64]}'{suggestion(key, known)}" for key in unknown[:10])
    place = f" in {where}" if where else ""
    message = f"unknown key{'s' if len(unknown) > 1 else ''} {listed}{place}; known: {', '.join(known)}" + (f"; {hint}" if hint else "")
    raise InputError(f"{where}.{unknown[0][:64]}" if where else unknown[0][:64], message)
