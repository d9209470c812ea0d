"""How far a result can be trusted: its baseline case, the model's evidence for it, unfamiliar windows.

A first visit has no stored neutral face, and the model's measured reliability differs between the two
cases; a face unlike the model's calibration data (low typicality) can get confident probabilities that do
not apply. The API, the FHIR Observation, HL7 v2, the CDS Hooks card, the review page and a caregiver's
summary of one assessment say both, from this one record (``reliability_notes`` for the clinical ones).
"""

from __future__ import annotations

from gateway.contract.domain import BaselineCase, ModelInfo, Reliability, WindowResult


def baseline_case(model: ModelInfo, personalised: bool) -> BaselineCase:
    """``stored`` when the model scored against the patient's neutral face, ``none`` when it would have used one
    but none was stored, ``unused`` when the model does not use one (storing one would change nothing)."""
    if personalised:
        return "stored"
    return "none" if model.uses_baseline else "unused"


def reliability(windows: list[WindowResult], model: ModelInfo, *, personalised: bool, measured_typicality: bool, below: float) -> Reliability:
    case = baseline_case(model, personalised)
    unfamiliar = sum(1 for w in windows if w.scorable and w.typicality is not None and w.typicality < below)
    return Reliability(
        baseline=case,
        measured=model.reliability.get(case),
        unfamiliar_windows=unfamiliar,
        typicality_below=below if measured_typicality else None,
    )


def reliability_notes(record: Reliability | None, scored_windows: int) -> list[str]:
    """Plain sentences for a clinician or an integrator: the baseline case with its measured reliability,
    then unfamiliar windows if any. Empty for assessments stored before reliability was recorded."""
    if record is None:
        return []
    notes = []
    if record.baseline == "none":
        notes.append(
            "No neutral baseline was stored for this patient: scored on the raw face. "
            + (record.measured or "The model's reliability without a baseline was not measured.")
            + " A neutral clip recorded at rest makes later results personal."
        )
    elif record.baseline == "stored":
        notes.append("Scored against this patient's stored neutral face (personalised). " + (record.measured or ""))
    if record.unfamiliar_windows:
        notes.append(
            f"{record.unfamiliar_windows} of {scored_windows} scored windows looked unlike the data the model was calibrated on "
            f"(typicality below {record.typicality_below:g}); their probabilities may not apply."
        )
    return [n.strip() for n in notes]
