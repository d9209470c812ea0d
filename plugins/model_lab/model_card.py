"""MODEL_CARD.md in the Hugging Face model-card layout, covering the TRIPOD+AI items of painai §6.

Rendered from the checkpoint's ``model.json`` alone (plus the evaluation report when there is one), so
the card can never disagree with the manifest it ships beside.
"""

from __future__ import annotations

import json
from typing import Any

from gateway.domain import SYNTHETIC_DISCLAIMER

HEADLINE = ("macro_auc", "auc_none_vs_significant", "macro_f1", "kappa_quadratic", "accuracy", "brier", "ece_top_label", "ece_classwise")

ATTENTION_CAVEATS = """\
Spatial attention (α, per landmark) and temporal gates (β) show where the model weighted its input,
not why it decided. Attention can be uncorrelated with gradient importance and different attention can
give the same output (Jain & Wallace 2019); saliency must pass parameter- and label-randomisation
checks (Adebayo et al. 2018). The λα term pushes time-averaged attention towards uniform, which blurs
maps. The gateway therefore reports region mass ratios (share of attention over share of landmarks,
anchors 226/446/2 excluded), never per-landmark maxima, and tests them on synthetic data with a known
signal (brow-only and mouth-only signals must reach >= 2x on their region; a randomised model stays
near 1x). Those checks train the attention branch at 10x the learning rate; with the presets (1x) a
trained model's attention can stay near uniform (the bundled synthetic model: every region
0.99-1.02x), i.e. carry no explanation at all. The plain-LSTM baseline has no attention: its α is
uniform by construction."""


def _table(metrics: dict[str, Any]) -> str:
    rows = ["| metric | uncalibrated (95 % CI) | temperature-scaled (95 % CI) |", "|---|---|---|"]
    for name in HEADLINE:
        cells = []
        for variant in ("uncalibrated", "calibrated"):
            m = metrics[variant]
            lo, hi = m["ci95"][name]
            cells.append(f"{m['point'][name]:.3f} ({lo:.3f}-{hi:.3f})")
        rows.append(f"| {name} | {cells[0]} | {cells[1]} |")
    return "\n".join(rows)


def _performance(evaluation: dict[str, Any] | None) -> str:
    if evaluation is None:
        return "Not evaluated yet: run `pain-gateway evaluate <checkpoint> <dataset>`."
    c = evaluation["calibrated"]["point"]
    per_class = "\n".join(
        f"| {level} | {evaluation['prevalence'][level]} | {c[f'auc_{level}']:.3f} | {c[f'recall_{level}']:.3f} | {c[f'precision_{level}']:.3f} |"
        for level in evaluation["prevalence"]
    )
    return f"""Internal validation on held-out patients ({evaluation['patients']} patients, {evaluation['windows']}
one-second windows, split `{evaluation['split']}`); 95 % CIs from {evaluation['bootstrap']} patient-level
bootstrap resamples (all windows of a resampled patient move together). Temperature scaling never
changes the predicted level (F1, kappa, recall); one-vs-rest AUCs can shift slightly; calibration changes.

{_table(evaluation)}

| level | windows | AUC one-vs-rest | recall | precision |
|---|---|---|---|---|
{per_class}

Confusion matrix (rows true none/mild/significant, columns predicted): `{evaluation['confusion_matrix']}`.
Reliability diagrams: `reliability_top_label.png`, `reliability_classwise.png`; all figures in
`metrics.json`."""


def render_model_card(manifest: dict[str, Any], evaluation: dict[str, Any] | None = None) -> str:
    training, arch = manifest["training"], manifest["architecture"]
    synthetic = training["dataset"]["synthetic"]
    preset = training["config"]["preset_values"]
    personal = "yes: landmarks relative to each patient's neutral clip" if manifest.get("personalisation") else "no"
    return f"""---
license: apache-2.0
library_name: pytorch
tags: [pain-assessment, facial-landmarks, mediapipe, sta-lstm, decision-support{', synthetic-data' if synthetic else ''}]
pipeline_tag: video-classification
---

# {manifest["name"]}

`{manifest["model_id"]}` version {manifest["version"]}; weights `model.safetensors`, SHA-256 `{manifest["sha256"]}`.

**{SYNTHETIC_DISCLAIMER if synthetic else "Decision support; not clinically validated unless this card says otherwise."}**

## Model details
- Architecture: {arch["class"]} ({arch["hidden"]} hidden units, {arch["landmarks"]} landmarks x {arch["coords"]} coordinates,
  {arch["classes"]} classes); anchors {arch["masked"]} masked from attention. STA-LSTM: spatial attention over
  landmarks from its own LSTM (K·α rescaling), ReLU temporal gates from their own LSTM, one main LSTM,
  β-weighted per-frame scores. Plain LSTM: last hidden state of one LSTM.
- Output: probabilities of none / mild / significant for each 1-second, 30-frame window, softmax with
  temperature τ = {manifest["calibration"]["temperature"]:.3f} ({manifest["calibration"]["fitted_on"]}).
- Personalised baseline: {personal}.

## Intended use
Decision support for observer-style pain assessment of adults from front-facing video landmarks, with
a clinician reviewing every result. Users: clinical staff through the Pain Gateway. Out of scope:
diagnosis, autonomous analgesic dosing, children, faces with conditions altering expression, and any
population not covered by a local validation.

## Training data
{manifest["training_data"]}
- Outcome: per-second level 0 none, 1 mild, 2 significant. {"Synthetic labels are PSPI-derived (PSPI = AU4 + max(AU6, AU7) + max(AU9, AU10) + AU43; none 0-1, mild 2-5, significant >= 6), a design choice, not a clinical rating." if synthetic else "Labels as supplied by the site (who labelled, and blinding to the model, must be documented by the site)."}
- Predictors: MediaPipe Face Mesh 0.10.21 landmarks (x, y), resampled to 30 fps, gaps up to 5 frames
  interpolated, similarity-normalised on landmarks 226, 446, 2; windows with a missing face are skipped
  (missing data), neutral-baseline clips are references only.
- Patient-level split (seed {training["config"]["seed"]}): {", ".join(f"{k} {len(v)}" for k, v in training["splits"].items())} patients.
- Generator settings: `{json.dumps(synthetic["config"]) if synthetic else "n/a"}`.

## Training procedure
Preset `{training["config"]["preset"]}`: Adam lr {preset["lr"]}, weight decay {preset["weight_decay"]}, batch {preset["batch"]},
lr halved every {preset["halve_every"]} epochs, early stopping (patience {preset["patience"]}) on class-balanced validation loss;
best epoch {training["best_epoch"]} of {len(training["history"])}. Class imbalance: adaptive-stride resampling (stride in frames per
level {training["adaptive_strides_frames"]}) and class weights {json.dumps({k: round(v, 3) for k, v in training["class_weights"].items()})}.
Loss: weighted CE + λα Σ ᾱ² + λβ mean β² + λ1 Σ|W| with {json.dumps(training["lambdas"])}.
Reproduce: `{training["command"]}`.

## Evaluation
{_performance(evaluation)}

## Explanations (attention)
{ATTENTION_CAVEATS}

## Fairness and subgroups
{"No subgroup analysis is possible on synthetic faces (one base face, designed identity variation)." if synthetic else "Report performance by age, sex, skin tone, glasses and oxygen masks before use."}

## Limitations
- {"Trained and evaluated only on synthetic landmark sequences; performance on real patients is unknown." if synthetic else "Internal validation only; external validation is required."}
- The normalisation anchors 226/446/2 move with AU6/7 and AU10, which partly absorbs those expressions.
- Windows are 1 second; expressions longer or slower than that are seen piecewise.

## Updating and monitoring
Retrain with `pain-gateway train`, re-evaluate with `pain-gateway evaluate`; monitor the share of
unscorable windows and the class distribution of outputs in service; recalibrate τ on local patients.

## Code, data and involvement
Code: this repository (`plugins/model_lab`, `plugins/sta_lstm`). Data: {"regenerated by the command above" if synthetic else "held by the site"}.
Patient and public involvement: none in this synthetic development.
"""
