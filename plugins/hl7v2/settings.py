"""HL7 v2 settings: MSH identities for every message and the MLLP receivers to send them to.

One receiver comes from ``PAIN_GATEWAY_PLUGIN_HL7V2_HOST`` / ``_PORT`` / ``_TIMEOUT_S`` (or the same
keys under ``[plugins.hl7v2]``); more come from ``[[plugins.hl7v2.destinations]]`` tables. Values
that would corrupt a message (an HL7 delimiter in an application name) or a connection (a port out
of range) stop start-up with the setting named, rather than surfacing as rejected messages later.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import msgspec

ENV = "PAIN_GATEWAY_PLUGIN_HL7V2_"
TOML = "[plugins.hl7v2]"
PROCESSING_IDS = {"P": "production", "T": "training/test", "D": "debugging"}
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_HL7_UNSAFE = re.compile(r"[|^~\\&\r\n]")


def _check(setting: str, ok: bool, message: str, value: object) -> None:
    if not ok:
        raise ValueError(f"{setting}: {message} (got {value!r})")


def _top(field: str) -> str:
    """Name a top-level setting both ways it can be given."""
    return f"{ENV}{field.upper()} ({TOML} {field})"


def _check_receiver(name: Callable[[str], str], host: str, port: int, timeout_s: float) -> None:
    _check(name("port"), 0 < port < 65536, "must be between 1 and 65535", port)
    _check(name("timeout_s"), 0 < timeout_s <= 300, "must be more than 0 and at most 300 seconds", timeout_s)
    _check(name("host"), host == host.strip() and " " not in host, "must be a host name or address without spaces", host)


class MllpReceiver(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One ``[[plugins.hl7v2.destinations]]`` table; it becomes destination ``hl7v2:<name>``."""

    name: str
    host: str
    port: int = 2575
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        def name(field: str) -> str:
            return f"[[plugins.hl7v2.destinations]] {field} of {self.name!r}"

        _check(name("name"), bool(_NAME.match(self.name)), "must be 1-64 letters, digits, '_', '.' or '-'", self.name)
        _check(name("host"), bool(self.host.strip()), "must not be empty", self.host)
        _check_receiver(name, self.host, self.port, self.timeout_s)


class Hl7v2Settings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """MSH-3..6 identities, MSH-11 processing id, and the MLLP receivers.

    ``host`` empty and ``destinations`` empty: the ``hl7v2`` output is still served, nothing is sent.
    ``mappings_path`` (site code overrides) defaults to the ``fhir_observation`` plugin's, so both
    outputs carry the same codes.
    """

    host: str = ""
    port: int = 2575
    timeout_s: float = 10.0
    sending_application: str = "PAIN_GATEWAY"
    sending_facility: str = "PAIN_GATEWAY"
    receiving_application: str = "EMR"
    receiving_facility: str = "EMR"
    processing_id: str = "P"
    mappings_path: str = ""
    destinations: list[MllpReceiver] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        _check_receiver(_top, self.host, self.port, self.timeout_s)
        for field in ("sending_application", "sending_facility", "receiving_application", "receiving_facility"):
            value = getattr(self, field)
            _check(
                _top(field),
                bool(value.strip()) and not _HL7_UNSAFE.search(value) and len(value) <= 180,
                "must be non-empty, at most 180 characters, without HL7 delimiters | ^ ~ \\ &",
                value,
            )
        _check(
            _top("processing_id"),
            self.processing_id in PROCESSING_IDS,
            f"must be one of {', '.join(f'{k} ({v})' for k, v in PROCESSING_IDS.items())}",
            self.processing_id,
        )
        names = [d.name for d in self.destinations]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        _check(f"{TOML} destinations", not duplicates, "names must be unique", duplicates)

    def receivers(self) -> list[tuple[str, MllpReceiver]]:
        """(destination name, receiver) for every configured receiver, the environment one first."""
        found = [("hl7v2", MllpReceiver("env", self.host, self.port, self.timeout_s))] if self.host else []
        return found + [(f"hl7v2:{d.name}", d) for d in self.destinations]
