"""``one-line``: an assessment as one line of plain text, served by the gateway at ``GET /v1/assessments/{id}/one-line``."""

from __future__ import annotations

from gateway import Assessment, OutputDocument

REVIEWED = ("final", "amended")


class OneLine:
    """An ``Output``: pure and deterministic, rendered whenever the document is read or sent."""

    name = "one-line"
    media_type = "text/plain; charset=utf-8"

    def render(self, assessment: Assessment) -> OutputDocument:
        a = assessment
        level = a.summary.level or "not scorable"
        review = f"reviewed by a clinician: {a.clinician_level or level}" if a.clinical_status in REVIEWED else "not yet reviewed by a clinician"
        line = (
            f"Pain level {level} (AI-asserted, {review}) from {a.summary.scored_windows} scored seconds; "
            f"model {a.model.model_id} version {a.model.version}; the bundled model is trained on synthetic data "
            f"and is not clinically validated. Assessment {a.id}.\n"
        )
        return OutputDocument(self.name, self.media_type, line.encode())
