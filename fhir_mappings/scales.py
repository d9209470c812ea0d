"""Reference pain scales (NRS, PAINAD, CPOT, Abbey, FLACC...) as data: one YAML file per scale.

A scale file names the scale's items with their score ranges, the total's range, the published bands
with their source, the code of the total (LOINC where one exists, else a local code system) and the
site's mapping of the total onto the AI's three levels (``none``/``mild``/``significant``, versioned,
fixed before data collection). The packaged files live in ``fhir_mappings/scales/``; a site adds its
own scale, or replaces a packaged one, with a file of the same shape in a directory of its own
(``PAIN_GATEWAY_PLUGIN_REFERENCE_SCALES_SCALES_DIR``), no code needed.

An inconsistent file (overlapping bands, an item without its range, a mapping that leaves a total
unmapped) stops start-up with ``ScaleError``, whose message names the file and the line, so the person
who edited it finds the mistake without reading a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec
import yaml

from gateway.contract.domain import LEVELS

PACKAGE_DIR = "scales"
LOCAL_SYSTEM = "https://pain-gateway.example.org/fhir/CodeSystem/reference-pain-scales"
"""The gateway's placeholder code system for scales without a LOINC code (a site overrides it)."""

_ID = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
MAX_ITEMS = 32
MAX_ITEM_RANGE = 100


class ScaleError(ValueError):
    """A scale file is inconsistent; the message starts ``<file>:<line>:``."""


class Range(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    min: int
    max: int

    def holds(self, value: int) -> bool:
        return self.min <= value <= self.max


class Item(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """One observed behaviour (or the single self-reported number), scored ``min``..``max``."""

    key: str
    label: str
    min: int
    max: int
    anchors: list[str] = msgspec.field(default_factory=list)


class Band(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    label: str
    min: int
    max: int


class Bands(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    source: str
    ranges: list[Band]


class Code(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    system: str
    code: str
    display: str


class LevelMapping(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The total's mapping onto the AI's levels; ``version`` is stored with every recorded score."""

    version: str
    none: Range
    mild: Range
    significant: Range

    def level(self, total: int) -> str:
        for level in LEVELS:
            if getattr(self, level).holds(total):
                return level
        raise ValueError(f"total {total} is outside the mapping {self.version}")


class Scale(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    name: str
    population: str
    self_report: bool
    code: Code
    items: list[Item]
    total: Range
    bands: Bands
    levels: LevelMapping
    source_file: str = ""

    def band(self, total: int) -> str:
        return next(b.label for b in self.bands.ranges if b.min <= total <= b.max)

    def item_code(self, key: str) -> Code:
        """The code of one item's component: always the local system (no LOINC for single items here)."""
        item = next(i for i in self.items if i.key == key)
        return Code(LOCAL_SYSTEM, f"{self.id}-{key}", f"{self.name}: {item.label}")


def _lines(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    """Each key path's 1-based line in the file, from the composed YAML node tree."""
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            out[(*path, key.value)] = key.start_mark.line + 1
            _lines(value, (*path, key.value), out)
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            _lines(value, (*path, index), out)


class _Checker:
    """Checks one parsed file, raising ``ScaleError`` at the line of the offending key."""

    def __init__(self, source: str, lines: dict[tuple[Any, ...], int]) -> None:
        self.source = source
        self.lines = lines

    def fail(self, path: tuple[Any, ...], message: str) -> ScaleError:
        while path and path not in self.lines:
            path = path[:-1]
        return ScaleError(f"{self.source}:{self.lines.get(path, 1)}: {message}")

    def ranges(self, where: tuple[Any, ...], named: list[tuple[str, Range]], total: Range, what: str) -> None:
        """``named`` ranges lie inside ``total``, do not overlap and leave no total uncovered."""
        for index, (label, r) in enumerate(named):
            if r.min > r.max:
                raise self.fail((*where, index), f"{what} {label!r}: min {r.min} is above max {r.max}")
            if r.min < total.min or r.max > total.max:
                raise self.fail((*where, index), f"{what} {label!r} ({r.min}-{r.max}) lies outside the total's range {total.min}-{total.max}")
        order = sorted(range(len(named)), key=lambda i: named[i][1].min)
        expected = total.min
        for index in order:
            label, r = named[index]
            if r.min < expected:
                raise self.fail((*where, index), f"{what} {label!r} ({r.min}-{r.max}) overlaps another at {r.min}")
            if r.min > expected:
                raise self.fail((*where, index), f"no {what} holds the total {expected} (next one, {label!r}, starts at {r.min})")
            expected = r.max + 1
        if expected <= total.max:
            raise self.fail(where, f"no {what} holds the totals {expected}-{total.max}")

    def check(self, scale: Scale) -> None:
        if not _ID.match(scale.id):
            raise self.fail(("id",), f"id {scale.id!r} must be lower-case letters, digits or '_' (up to 32), starting with a letter")
        if not 1 <= len(scale.items) <= MAX_ITEMS:
            raise self.fail(("items",), f"a scale has 1 to {MAX_ITEMS} items, not {len(scale.items)}")
        seen: set[str] = set()
        for index, item in enumerate(scale.items):
            at = ("items", index)
            if not _KEY.match(item.key):
                raise self.fail((*at, "key"), f"item key {item.key!r} must be lower-case letters, digits or '_', starting with a letter")
            if item.key in seen:
                raise self.fail((*at, "key"), f"item key {item.key!r} appears twice")
            seen.add(item.key)
            if item.min > item.max or item.max - item.min > MAX_ITEM_RANGE:
                raise self.fail((*at, "min"), f"item {item.key!r}: range {item.min}-{item.max} must run upwards, at most {MAX_ITEM_RANGE} steps")
            if item.anchors and len(item.anchors) != item.max - item.min + 1:
                raise self.fail((*at, "anchors"), f"item {item.key!r}: {len(item.anchors)} anchors for {item.max - item.min + 1} scores")
        low, high = sum(i.min for i in scale.items), sum(i.max for i in scale.items)
        if (scale.total.min, scale.total.max) != (low, high):
            raise self.fail(("total",), f"the total's range {scale.total.min}-{scale.total.max} is not the items' sum {low}-{high}")
        if not scale.bands.ranges:
            raise self.fail(("bands", "ranges"), "name at least one band")
        self.ranges(("bands", "ranges"), [(b.label, Range(b.min, b.max)) for b in scale.bands.ranges], scale.total, "band")
        mapping = [(level, getattr(scale.levels, level)) for level in LEVELS]
        self.ranges(("levels",), mapping, scale.total, "level")
        if not scale.levels.version.strip():
            raise self.fail(("levels", "version"), "the mapping needs a version (kept with every recorded score)")


def _missing_field(exc: msgspec.ValidationError) -> tuple[tuple[Any, ...], str]:
    """The key path msgspec's message points at (``- at `$.items[0]```), as a tuple, and the message."""
    message = str(exc)
    match = re.search(r" - at `\$(.*)`$", message)
    path: tuple[Any, ...] = ()
    if match:
        for name, index in re.findall(r"\.([A-Za-z_0-9]+)|\[(\d+)\]", match.group(1)):
            path = (*path, name if name else int(index))
        message = message[: match.start()]
    return path, message


def parse_scale(text: str, source: str) -> Scale:
    """One scale file's text as a checked ``Scale``; ``ScaleError`` naming ``source`` and the line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ScaleError(f"{source}:{mark.line + 1 if mark else 1}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    lines: dict[tuple[Any, ...], int] = {}
    if node is not None:
        _lines(node, (), lines)
    checker = _Checker(source, lines)
    if not isinstance(data, dict):
        raise checker.fail((), "a scale file is a mapping (id, name, items, total, bands, levels...)")
    try:
        scale = msgspec.convert(data, Scale)
    except msgspec.ValidationError as exc:
        path, message = _missing_field(exc)
        if message.startswith("Object missing required field"):
            field = message.split("`")[1]
            raise checker.fail(path, f"missing {'.'.join(map(str, (*path, field)))}: {message}") from None
        raise checker.fail(path, f"{'.'.join(map(str, path)) or 'file'}: {message}") from None
    checker.check(scale)
    return msgspec.structs.replace(scale, source_file=source)


def _packaged() -> Iterable[tuple[str, str]]:
    folder = resources.files(__name__.rpartition(".")[0]).joinpath(PACKAGE_DIR)
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith((".yaml", ".yml")):
            yield f"fhir_mappings/{PACKAGE_DIR}/{entry.name}", entry.read_text("utf-8")


def load_scales(site_dir: str | None = None) -> dict[str, Scale]:
    """The packaged scales, then the site's (``*.yaml`` in ``site_dir``): a site file with a packaged
    scale's id replaces it, any other id adds a scale. Two files with one id in the same place stop it."""
    scales: dict[str, Scale] = {}
    origin: dict[str, str] = {}

    def add(source: str, text: str, place: str) -> None:
        scale = parse_scale(text, source)
        if scale.id in scales and origin[scale.id] == place:
            raise ScaleError(f"{source}:1: scale id {scale.id!r} is already defined by {scales[scale.id].source_file}")
        scales[scale.id] = scale
        origin[scale.id] = place

    for source, text in _packaged():
        add(source, text, "package")
    if site_dir:
        folder = Path(site_dir)
        if not folder.is_dir():
            raise ScaleError(f"{site_dir}:1: the site's scales directory does not exist")
        for path in sorted(folder.glob("*.y*ml")):
            try:
                text = path.read_text("utf-8")
            except OSError as exc:
                raise ScaleError(f"{path}:1: cannot read: {exc}") from None
            add(str(path), text, "site")
    return scales
