"""Versioned checkpoint directory: ``model.safetensors`` + ``model.json`` + ``MODEL_CARD.md``.

``model.json`` carries identity, provenance, metrics, architecture and the SHA-256 of the weights, so
the gateway can describe a model (API, FHIR Device, logs) without importing torch, and refuses weights
that are not the ones the manifest describes. torch is imported only when weights are read or written.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from gateway.domain import SYNTHETIC_DISCLAIMER

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


def render_model_card(manifest: dict[str, Any], limitations: list[str]) -> str:
    """TRIPOD+AI-shaped card (§6): intended use, data, model, performance, limitations."""
    arch = manifest["architecture"]
    metrics = "\n".join(f"| {k} | {v:.4f} |" for k, v in manifest["metrics"].items())
    limits = "\n".join(f"- {item}" for item in limitations)
    return f"""# Model card: {manifest["name"]}

`{manifest["model_id"]}` version {manifest["version"]}, weights SHA-256 `{manifest["sha256"]}`.

**{SYNTHETIC_DISCLAIMER}**

## Intended use
Decision support for observer-style pain assessment (none / mild / significant) from 1-second windows
of MediaPipe Face Mesh landmarks, reviewed by a clinician. Not for diagnosis, not for autonomous
dosing decisions, not for patients outside the population of a future clinical validation.

## Training data
{manifest["training_data"]}

## Model
{arch["class"]}: spatial attention over {arch["landmarks"]} landmarks from its own LSTM (K·α
rescaling), ReLU temporal gates from their own LSTM, one main LSTM of {arch["hidden"]} units,
β-weighted per-frame class scores, softmax with temperature (1.0 until calibrated). Input: x, y of
each landmark after the similarity normalisation on anchors {arch["masked"]} (masked from attention).
Loss: cross-entropy + λ1 Σ ᾱ² + λ2 mean β² + λ3 Σ|W| with {json.dumps(manifest["training"]["lambdas"])}.

## Performance (synthetic held-out subjects only)
| metric | value |
|---|---|
{metrics}

## Limitations
{limits}
"""


def save_checkpoint(
    directory: str | Path,
    model,
    *,
    model_id: str,
    version: str,
    name: str,
    training_data: str,
    metrics: dict[str, float],
    training: dict[str, Any],
    limitations: list[str],
) -> dict[str, Any]:
    """Write weights, then the manifest that pins their hash, then the card rendered from it."""
    from safetensors.torch import save_file

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / WEIGHTS))
    manifest = {
        "format_version": FORMAT_VERSION,
        "model_id": model_id,
        "version": version,
        "name": name,
        "training_data": training_data,
        "metrics": {k: float(v) for k, v in metrics.items()},
        "architecture": {
            "class": type(model).__name__,
            "landmarks": model.landmarks,
            "coords": model.coords,
            "hidden": model.hidden,
            "classes": model.classes,
            "masked": list(model.masked),
        },
        "training": training,
        "sha256": sha256_file(out / WEIGHTS),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    (out / CARD).write_text(render_model_card(manifest, limitations))
    return manifest


def load_checkpoint(directory: str | Path):
    """Return ``(model in eval mode, manifest)``; raises ``CheckpointError`` if the hash differs."""
    from safetensors.torch import load_file

    from plugins.sta_lstm.network import STALSTM

    manifest = read_manifest(directory)
    weights = Path(directory) / WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"{weights}: missing")
    actual = sha256_file(weights)
    if actual != manifest["sha256"]:
        raise CheckpointError(
            f"{weights}: SHA-256 {actual} does not match model.json ({manifest['sha256']}); "
            "the weights were modified or belong to another checkpoint"
        )
    arch = dict(manifest["architecture"])
    if arch.pop("class") != STALSTM.__name__:
        raise CheckpointError(f"{directory}: architecture {manifest['architecture']['class']!r} is not STALSTM")
    model = STALSTM(**arch)
    model.load_state_dict(load_file(str(weights)))
    return model.eval(), manifest
