"""Versioned checkpoint directory: ``model.safetensors`` + ``model.json`` + ``MODEL_CARD.md`` (+ ``typicality.npz``).

``model.json`` carries identity, provenance, metrics, architecture and the SHA-256 of the weights, so
the gateway can describe a model (API, FHIR Device, logs) without importing torch, and refuses weights
that are not the ones the manifest describes. torch is imported only when weights are read or written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

WEIGHTS, MANIFEST, CARD = "model.safetensors", "model.json", "MODEL_CARD.md"
FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """The checkpoint directory is incomplete, of an unknown format, or its weights were altered."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing; is {directory} a checkpoint directory?") from None
    if manifest.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: format_version {manifest.get('format_version')!r}, expected {FORMAT_VERSION}")
    return manifest


def read_model_card(directory: str | Path) -> str:
    return (Path(directory) / CARD).read_text()


def write_manifest(directory: str | Path, manifest: dict[str, Any]) -> None:
    (Path(directory) / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def write_model_card(directory: str | Path, card: str) -> None:
    (Path(directory) / CARD).write_text(card)


def save_checkpoint(directory: str | Path, model, manifest: dict[str, Any], render_card: Callable[[dict[str, Any]], str]) -> dict[str, Any]:
    """Write weights, then the manifest that pins their hash and architecture, then the card rendered from it.

    ``manifest`` needs ``model_id``, ``version``, ``name``, ``training_data`` and ``metrics``; anything
    else (training provenance, splits, calibration) is kept as given.
    """
    from safetensors.torch import save_file

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / WEIGHTS))
    manifest = {
        "format_version": FORMAT_VERSION,
        **manifest,
        "architecture": {"class": type(model).__name__, **model.architecture},
        "sha256": sha256_file(out / WEIGHTS),
    }
    write_manifest(out, manifest)
    write_model_card(out, render_card(manifest))
    return manifest


def load_typicality(directory: str | Path, manifest: dict[str, Any]):
    """The checkpoint's ``FeatureDensity`` (``plugins.sta_lstm.typicality``), hash-checked; None when it has none."""
    from plugins.sta_lstm.typicality import FILE, FeatureDensity

    record = manifest.get("typicality")
    if record is None:
        return None
    path = Path(directory) / FILE
    if not path.is_file():
        raise CheckpointError(f"{path}: missing, but model.json records a typicality reference")
    actual = sha256_file(path)
    if actual != record["sha256"]:
        raise CheckpointError(f"{path}: SHA-256 {actual} does not match model.json ({record['sha256']}); modified, or from another checkpoint")
    density = FeatureDensity.load(path)
    if not density.references:
        raise CheckpointError(f"{path}: no reference_* arrays (written by an older version); re-run pain-gateway typicality {directory}")
    return density


def load_checkpoint(directory: str | Path):
    """Return ``(model in eval mode, manifest)``; raises ``CheckpointError`` if the hash differs."""
    from safetensors.torch import load_file

    from plugins.sta_lstm.network import ARCHITECTURES

    manifest = read_manifest(directory)
    weights = Path(directory) / WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"{weights}: missing")
    actual = sha256_file(weights)
    if actual != manifest["sha256"]:
        raise CheckpointError(
            f"{weights}: SHA-256 {actual} does not match model.json ({manifest['sha256']}); the weights were modified or belong to another checkpoint"
        )
    arch = dict(manifest["architecture"])
    network = ARCHITECTURES.get(arch.pop("class"))
    if network is None:
        raise CheckpointError(f"{directory}: architecture {manifest['architecture']['class']!r} is not one of {sorted(ARCHITECTURES)}")
    model = network(**arch)
    model.load_state_dict(load_file(str(weights)))
    return model.eval(), manifest
