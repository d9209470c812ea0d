"""MODEL_CARD.md in the Hugging Face model-card layout, covering the TRIPOD+AI items of painai §6.

Rendered from the checkpoint's ``model.json`` alone (plus the evaluation report when there is one), so
the card can never disagree with the manifest it ships beside.
"""

from __future__ import annotations

import json
from typing import Any

from gateway import SYNTHETIC_DISCLAIMER

HEADLINE = ("macro_auc", "auc_none_vs_significant", "macro_f1", "kappa_quadratic", "accuracy", "brier", "nll", "ece_top_label", "ece_classwise")

ATTENTION_CAVEATS = """\
Spatial attention (α, here one weight per face region) and temporal attention (β, a softmax over the
window's frames) show where the model weighted its input, not why it decided. Attention can be
uncorrelated with gradient importance and different attention can give the same output (Jain &
Wallace 2019), so it is shown only for a model whose attention passed sanity checks with its own
training preset (`pain-gateway attention-check`, painai §5): planted brow-only and mouth-only signals
must draw >= 2x the uniform share to their region, ranked first; a model trained on shuffled labels must
stay within 0.5-1.5x everywhere; untrained attention is exactly uniform; on its own test patients
brow + eyes (AU4, AU6/7) must draw >= 1.3x. The gateway reports region shares (anchors 226/446/2 excluded), never per-landmark maxima,
and says "not informative" for a model that failed or has no attention (the plain LSTM)."""

TYPICALITY = """\
Every window's result carries a typicality: the share of the calibration patients' windows, seen the same
way (with their baseline, or raw), that looked no more typical to the network (class-conditional Gaussians
on the features its classifier reads; a conformal p-value). The gateway counts a window unfamiliar below
`PAIN_GATEWAY_TYPICALITY_BELOW` (0.01: about 1 % of windows of patients like the calibration patients, in
each case; only about, as the reference comes from a few dozen patients) and says so with the result. It costs no second
network pass (a deep ensemble of M members costs M). The softmax probabilities stay the measure of
uncertainty between levels on faces like the training faces; typicality says whether they apply."""

DEVIATIONS = """\
- Temporal attention β is a softmax over the 30 frames, not ReLU(w·x_t + w_h·h_{t-1}) as in painai
  §1.3: the ReLU gate made confidence depend on face geometry (61 % of frames had β = 0 and a fifth of
  windows came out exactly (1/3, 1/3, 1/3) whatever the face did; training stopped after 2 epochs).
- Spatial attention is over 7 anatomical regions (painai §3.2; the region-level variant §1.3
  recommends) with a zero-initialised score layer scaled by `attention_scale`, so attention starts
  exactly uniform and can move as fast as the main LSTM learns; at landmark level it stayed uniform.
- One small attention LSTM (over a learnt projection of each frame) feeds both attentions, from h_t;
  two full-width attention LSTMs cost 3.5x the plain LSTM's latency."""


def _attention(manifest: dict[str, Any]) -> str:
    record = manifest.get("attention")
    if record is None:
        return "Not checked yet: run `pain-gateway attention-check <checkpoint> <dataset>`; until then it is reported as not checked."
    lines = [f"**Attention {'informative' if record['informative'] else 'not informative'}** ({record['reason']})."]
    for name, check in record.get("checks", {}).items():
        ratios = ", ".join(f"{k} {v:.2f}x" for k, v in check["ratios"].items())
        extra = f"; AUC {check['auc']:.3f}" if "auc" in check else ""
        extra += f"; brow + eyes {check['brow_eyes_ratio']:.2f}x" if "brow_eyes_ratio" in check else ""
        lines.append(f"- {name}: {'passed' if check['passed'] else 'FAILED'}: {ratios}{extra}")
    return "\n".join(lines)


OUTCOME_SYNTHETIC = (
    "Synthetic labels are PSPI-derived (PSPI = AU4 + max(AU6, AU7) + max(AU9, AU10) + AU43; none 0-1, mild 2-5, "
    "significant >= 6), a design choice, not a clinical rating."
)
OUTCOME_SITE = "Labels as supplied by the site (who labelled, and blinding to the model, must be documented by the site)."
FAIRNESS_SYNTHETIC = "No subgroup analysis is possible on synthetic faces (one base face, designed identity variation)."
FAIRNESS_SITE = "Report performance by age, sex, skin tone, glasses and oxygen masks before use."
FAIRNESS_BANK = (
    "Held-out real identities are reported per site above (London: mixed ethnicity, 18-54 years; Canada: white students, "
    "17-35 years). No older adults, children or faces altered by illness, and too few people per ethnic group for a "
    "subgroup estimate; the expressions on them are synthetic."
)
LIMITATION_FIRST_VISIT = """
- Without a stored baseline the model grades frontal faces of strangers (held-out people above) but not
  every face: on the three older photographs (a smiling portrait, a three-quarter view) it does not, and
  a real smile is called mild for some people. Its calibration on real faces is measured only with synthetic
  expressions carried onto them (ECE above), never on real pain. Typicality (above) flags most windows of
  those photographs without a baseline, not every failure (a real smile called mild is typical to the
  network): store a neutral clip where you can."""
LIMITATION_SYNTHETIC = "Trained and evaluated only on synthetic landmark sequences; performance on real patients is unknown."


def _table(metrics: dict[str, Any]) -> str:
    rows = ["| metric | uncalibrated (95 % CI) | prior-corrected + temperature (95 % CI) |", "|---|---|---|"]
    for name in HEADLINE:
        cells = []
        for variant in ("uncalibrated", "calibrated"):
            m = metrics[variant]
            lo, hi = m["ci95"][name]
            cells.append(f"{m['point'][name]:.3f} ({lo:.3f}-{hi:.3f})")
        rows.append(f"| {name} | {cells[0]} | {cells[1]} |")
    return "\n".join(rows)


def _without_baseline(evaluation: dict[str, Any]) -> str:
    if "without_baseline" not in evaluation:
        return ""
    w = evaluation["without_baseline"]["point"]
    return (
        f"\nThe same patients scored without their baseline (no neutral clip stored): macro AUC {w['macro_auc']:.3f}, "
        f"macro-F1 {w['macro_f1']:.3f}, NLL {w['nll']:.3f}, ECE top-label {w['ece_top_label']:.3f}."
    )


def _seed_study(manifest: dict[str, Any]) -> str:
    record = manifest.get("acceptance")
    if record is None:
        return "Not run for this checkpoint (`pain-gateway acceptance <dataset> --checkpoint <checkpoint>`)."
    from plugins.sta_lstm.lab.acceptance import table

    return f"{record['note']}\n\n{table(record['runs'])}"


def _real_faces(manifest: dict[str, Any]) -> str:
    record = manifest.get("real_faces")
    if record is None:
        return "Not measured yet: run `pain-gateway real-faces <checkpoint>`."
    rows = ["| photo | baseline | PSPI 0 (none, mild, significant) | PSPI 3 | PSPI 7 | graded |", "|---|---|---|---|---|---|"]
    for stored, part in (("stored", record), ("none", record["without_baseline"])):
        for name, doses in part["probabilities"].items():
            cells = " | ".join(", ".join(f"{v:.3f}" for v in doses[str(d)]) for d in (0, 3, 7))
            rows.append(f"| {name} | {stored} | {cells} | {'yes' if part['graded'][name] else 'NO'} |")
    return record["note"] + " Without a stored baseline identity differences between real faces can outweigh the expression.\n\n" + "\n".join(rows)


def _real_identities(manifest: dict[str, Any]) -> str:
    record = manifest.get("real_identities")
    if record is None:
        return "Not measured yet: run `pain-gateway real-identities <checkpoint>`."
    rows = [
        "| baseline | people | neutral -> none | PSPI 3 -> mild | PSPI 8 -> significant | PSPI 10 -> significant "
        "| expected level rising | real smile -> none | ECE top-label |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for case, label in (("with_baseline", "stored"), ("without_baseline", "none")):
        for site, m in [("all", record[case]), *record[case]["sites"].items()]:
            smile = f"{m['smile_none']:.0%} of {m['smile_people']}" if m["smile_people"] else "n/a"
            rows.append(
                f"| {label} ({site}) | {m['people']} | {m['neutral_none']:.0%} | {m['pspi3_mild']:.0%} | {m['pspi8_significant']:.0%} "
                f"| {m['pspi10_significant']:.0%} | {m['expected_level_rising']:.0%} | {smile} | {m['ece_top_label']:.3f} |"
            )
    return record["note"] + "\n\n" + "\n".join(rows)


def _probabilities(mean: list[float]) -> str:
    """A cell of mean (none, mild, significant) probabilities, as every table of the card writes them."""
    return ", ".join(f"{v:.3f}" for v in mean)


def _real_calibration(manifest: dict[str, Any]) -> str:
    record = manifest.get("real_calibration")
    if record is None:
        return "Not measured yet: run `pain-gateway real-calibration <checkpoint>`."
    from plugins.sta_lstm.lab.real_calibration import CASES, TARGETS

    doses = [
        "| dose | level | with baseline: mean P (none, mild, significant) | called right | without baseline: mean P | called right |",
        "|---|---|---|---|---|---|",
    ]
    for dose, row in record["per_dose"]["with_baseline"].items():
        other = record["per_dose"]["without_baseline"][dose]
        name = "real smile" if dose == "smile" else f"PSPI {dose}"
        doses.append(
            f"| {name} | {row['level']} | {_probabilities(row['mean'])} | {row['right']:.0%} | {_probabilities(other['mean'])} | {other['right']:.0%} |"
        )
    held = [
        "| held intensities (AU4, AU6/7, AU9/10) | with distractors: mean P | called significant | frontal and steady: mean P | called significant |",
        "|---|---|---|---|---|",
    ]
    for name, row in record["boundary"]["distractors"].items():
        calm = record["boundary"]["calm"][name]
        held.append(f"| {name} | {_probabilities(row['mean'])} | {row['significant']:.0%} | {_probabilities(calm['mean'])} | {calm['significant']:.0%} |")
    fits = [
        "| calibration | τ, bias (mild, significant) with / without baseline | real ECE, cross-validated on the calibration people "
        "| real ECE, evaluation people | synthetic test ECE | synthetic test macro-F1 "
        "| evaluation people, no baseline: neutral none / PSPI 3 mild / PSPI 8 significant | meets both targets |",
        "|---|---|---|---|---|---|---|---|",
    ]
    stored_shift = record["candidates"]["stored"]["with_baseline"]["shift"]
    for name, c in record["candidates"].items():
        params = " / ".join(
            f"{c[case]['temperature']:.2f}, ({c[case]['shift'][1] - stored_shift[1]:+.2f}, {c[case]['shift'][2] - stored_shift[2]:+.2f})" for case in CASES
        )
        cv = " / ".join(f"{c['cross_validated_real_ece'][case]:.3f}" for case in CASES) if "cross_validated_real_ece" in c else "—"
        first = c["without_baseline"]["real"]

        def both(part: str, key: str, c=c) -> str:
            return " / ".join(f"{c[case][part][key]:.3f}" for case in CASES)

        fits.append(
            f"| {name} | {params} | {cv} | {both('real', 'ece_top_label')} | {both('synthetic_test', 'ece_top_label')} "
            f"| {both('synthetic_test', 'macro_f1')} | {first['neutral_none']:.0%} / {first['pspi3_mild']:.0%} / "
            f"{first['pspi8_significant']:.0%} | {'yes' if c['meets_targets'] else 'no'} |"
        )
    passing = [name for name, c in record["candidates"].items() if c["meets_targets"]]
    targets = f"real-identity ECE <= {TARGETS['real']} in both cases and synthetic test ECE <= {TARGETS['synthetic']} with a baseline"
    if "stored" in passing:
        verdict = (
            f"The stored calibration (fitted on synthetic calibration patients only) meets both targets ({targets}), so it ships "
            f"and no calibration fitted on real people is needed. Candidates meeting both targets: {', '.join(passing)}."
        )
    elif passing:
        verdict = f"Candidates meeting both targets: {', '.join(passing)}."
    else:
        verdict = f"No candidate meets both targets ({targets}), so the stored calibration stays: its real-identity ECE above is the model's."
    people = record["people"]
    return f"""`pain-gateway real-calibration` (`plugins/sta_lstm/lab/real_calibration.py`). The held-out real people are
split by person with seed {record["split_seed"]}: {people["calibration"]} calibration people (the bank's `calibration` people and
half of each site's `test` people) and {people["evaluation"]} evaluation people (listed in `model.json`); nothing is fitted
on the evaluation people. Synthetic expressions on real faces.

**Where the error sits** (evaluation people, stored calibration; ECE labels each dose by its PSPI level):

{chr(10).join(doses)}

**Boundary doses**: doses held for every second on the generator's own test patients, with their baseline and the stored
calibration, once with the generator's distractors (head pose and turns, jitter, talking, smiles) and once frontal
and steady. A mild/significant boundary that moves with the recording conditions or with eye closure (AU43, absent
from the real-identity doses, whose clips are frontal and steady) cannot be followed by a temperature and a class
bias; generator 4's model moved it (docs/model/evidence.md), this table says where this checkpoint's boundary sits.

{chr(10).join(held)}

**Calibration fitted on real people**: τ and a class bias added to the stored prior correction, minimising the mean
of the synthetic calibration patients' and the real calibration people's NLL; one for both input cases ("shared")
or one per case ("per_case"). Cells are "with / without baseline".

{chr(10).join(fits)}

{verdict}"""


def _clip_rule(manifest: dict[str, Any]) -> str:
    record = manifest.get("clip_rules")
    if record is None:
        return "Not measured yet: run `pain-gateway clip-rules <checkpoint>`."
    from plugins.sta_lstm.lab.clip_rules import table

    return table(record)


def _typicality(manifest: dict[str, Any]) -> str:
    record = manifest.get("typicality")
    if record is None or "evaluation" not in record:
        return "Not measured yet: run `pain-gateway typicality <checkpoint>`; until then results carry no typicality."
    from plugins.sta_lstm.lab.off_distribution import table

    return TYPICALITY + "\n\n" + table(record)


def _frame_rates(manifest: dict[str, Any]) -> str:
    record = manifest.get("frame_rates")
    if record is None:
        return "Not measured yet: run `pain-gateway frame-rates <checkpoint> <dataset>`."
    from plugins.sta_lstm.lab.frame_rates import table

    return table(record)


def _performance(evaluation: dict[str, Any] | None) -> str:
    if evaluation is None:
        return "Not evaluated yet: run `pain-gateway evaluate <checkpoint> <dataset>`."
    c, p = evaluation["calibrated"]["point"], evaluation["prior_corrected"]["point"]
    per_class = "\n".join(
        f"| {level} | {evaluation['prevalence'][level]} | {c[f'auc_{level}']:.3f} | {c[f'recall_{level}']:.3f} | {c[f'precision_{level}']:.3f} |"
        for level in evaluation["prevalence"]
    )
    baseline = " each scored relative to the patient's stored neutral clip;" if evaluation.get("scored_with_baseline") else ""
    return f"""Internal validation on held-out patients ({evaluation["patients"]} patients, {evaluation["windows"]}
one-second windows, split `{evaluation["split"]}`;{baseline} 95 % CIs from {evaluation["bootstrap"]} patient-level
bootstrap resamples (all windows of a resampled patient move together). "Uncalibrated" is the raw
network (balanced training prior, τ = 1). The prior correction can change the predicted level; the
temperature never does.

{_table(evaluation)}

Prior correction alone (τ = 1): NLL {p["nll"]:.3f}, ECE top-label {p["ece_top_label"]:.3f}. Stored τ {evaluation["temperature"]:.3f}
against τ {evaluation["test_fitted_temperature"]:.3f} fitted on these test patients themselves. Windows whose output
does not move when the input is nudged: {evaluation["unresponsive_windows"]}.{_without_baseline(evaluation)}

| level | windows | AUC one-vs-rest | recall | precision |
|---|---|---|---|---|
{per_class}

Confusion matrix (rows true none/mild/significant, columns predicted): `{evaluation["confusion_matrix"]}`.
Reliability diagrams: `reliability_top_label.png`, `reliability_classwise.png`; all figures in
`metrics.json`."""


def render_model_card(manifest: dict[str, Any], evaluation: dict[str, Any] | None = None) -> str:
    training, arch, cal = manifest["training"], manifest["architecture"], manifest["calibration"]
    synthetic = training["dataset"]["synthetic"]
    preset = training["config"]["preset_values"]
    share = training["config"].get("without_baseline", 0.0)
    personal = "no"
    if manifest.get("personalisation"):
        personal = "yes: landmarks relative to each patient's neutral clip when one is stored" + (
            f"; {share:.0%} of training clips were left without it, so patients without one are scored on their raw face" if share else ""
        )
    return f"""---
license: apache-2.0
library_name: pytorch
tags: [pain-assessment, facial-landmarks, mediapipe, sta-lstm, decision-support{", synthetic-data" if synthetic else ""}]
pipeline_tag: video-classification
---

# {manifest["name"]}

`{manifest["model_id"]}` version {manifest["version"]}; weights `model.safetensors`, SHA-256 `{manifest["sha256"]}`.

**{SYNTHETIC_DISCLAIMER if synthetic else "Decision support; not clinically validated unless this card says otherwise."}**

## Model details
- Architecture: {arch["class"]} ({arch["hidden"]} hidden units, {arch["landmarks"]} landmarks x {arch["coords"]} coordinates,
  {arch["classes"]} classes); anchors {arch["masked"]} masked from attention. STA-LSTM: region-level spatial
  attention (K·α rescaling, so uniform attention is the identity) and softmax temporal attention from one
  small attention LSTM, one main LSTM, β-weighted per-frame scores. Plain LSTM: last hidden state of one LSTM.
- Output: probabilities of none / mild / significant for each 1-second, 30-frame window:
  softmax(z / τ + log(π / π_train)) with τ = {cal["temperature"]:.3f} ({cal["fitted_on"]}), training prior
  π_train = {[round(v, 3) for v in cal["training_prior"]]} (balanced training) and deployment prevalence
  π = {cal["prevalence"]} ({cal["prevalence_source"]}; a site sets its own with
  `PAIN_GATEWAY_PLUGIN_STA_LSTM_PREVALENCE`, e.g. `0.7,0.2,0.1`).
- Personalised baseline: {personal}.

## Intended use
Decision support for observer-style pain assessment of adults from front-facing video landmarks, with
a clinician reviewing every result. Users: clinical staff through the Pain Gateway. Out of scope:
diagnosis, autonomous analgesic dosing, children, faces with conditions altering expression, and any
population not covered by a local validation.

## Training data
{manifest["training_data"]}
- Outcome: per-second level 0 none, 1 mild, 2 significant. {OUTCOME_SYNTHETIC if synthetic else OUTCOME_SITE}
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

## Frame rates (live scoring)
{_frame_rates(manifest)}

## Seed study (STA-LSTM against the plain LSTM)
{_seed_study(manifest)}

## Real faces (dose-response)
{_real_faces(manifest)}

## Held-out real people (first visit and follow-up)
{_real_identities(manifest)}

## Calibration on held-out real people
{_real_calibration(manifest)}

## Real no-pain video and the clip rule
{_clip_rule(manifest)}

## Off-distribution (typicality)
{_typicality(manifest)}

## Deviations from the study's STA-LSTM (painai §1.3)
{DEVIATIONS if arch["class"] == "STALSTM" else "Not an STA-LSTM: the plain-LSTM baseline it is compared with."}

## Explanations (attention)
{ATTENTION_CAVEATS}

{_attention(manifest)}

## Fairness and subgroups
{(FAIRNESS_BANK if manifest.get("real_identities") else FAIRNESS_SYNTHETIC) if synthetic else FAIRNESS_SITE}

## Limitations
- {LIMITATION_SYNTHETIC if synthetic else "Internal validation only; external validation is required."}
- Normalisation assumes the anchors 226/446/2 do not move. The synthetic action units are built to
  leave them still (since generator 3); on real faces AU6/7 and AU10 can move them a little, which the
  similarity transform then partly absorbs.{LIMITATION_FIRST_VISIT if manifest.get("real_identities") else ""}
- Windows are 1 second; expressions longer or slower than that are seen piecewise.

## Updating and monitoring
Retrain with `pain-gateway train`, re-evaluate with `pain-gateway evaluate`; monitor the share of
unscorable windows and the class distribution of outputs in service; set the local prevalence and recalibrate τ on local patients.

## Code, data and involvement
Code: this repository (`plugins/sta_lstm/lab`, `plugins/sta_lstm`). Data: {"regenerated by the command above" if synthetic else "held by the site"}.
Patient and public involvement: none in this synthetic development.
"""
