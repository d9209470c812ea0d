"""Strict, helpful input: unknown keys are refused by name with the closest known key as a hint, and a
JSON body in another content type is a 415 listing what is accepted.

A typo in an optional key (``image_sise``) would otherwise be ignored and silently change the result
(no aspect correction), so every object of a submission (the body, ``patient``, ``patient.identifier``,
a video's ``metadata``, multipart part names) is checked against the keys it takes; bodies Litestar
decodes into a ``forbid_unknown_fields`` Struct get the same message (``gateway.web.json_bodies``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from datetime import timedelta

from gateway.contract.domain import InputError

JSON = "application/json"


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


_DURATION = re.compile(r"^\s*([0-9]{1,6})\s*([dhm])\s*$", re.ASCII)  # ASCII digits only: "٣h" is not 3 hours
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_duration(text: str, field: str, maximum: timedelta, allow_zero: bool = False) -> timedelta:
    """``90d``, ``24h``, ``30m``: bounded, so a typo cannot mint a token that lives for centuries."""
    match = _DURATION.match(text or "")
    if match is None:
        raise InputError(field, f"must be a number of days, hours or minutes such as 90d, 24h or 30m, got {text!r}")
    value = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if value > maximum or (value <= timedelta(0) and not allow_zero):
        raise InputError(field, f"must be {'0' if allow_zero else 'more than 0'} to {maximum.days} days, got {text!r}")
    return value
