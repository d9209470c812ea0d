"""Personalised baseline: express a patient's landmarks relative to their own neutral face.

Why: faces differ more between people than one face differs between rest and pain, so a model can
mistake a heavy brow or narrow eyes for pain. Subtracting the patient's neutral face (from a clip
recorded at rest) and adding a fixed population template leaves mostly expression. A checkpoint
trained this way stores the template (``manifest["personalisation"]["template"]``) and must be fed
personalised windows; one trained without it must not. The patient's reference is
``gateway.storage.baselines.neutral_reference`` of a neutral clip, stored by ``PUT /v1/patients/baseline``.
"""

from __future__ import annotations

import numpy as np


def personalise(data: np.ndarray, reference: np.ndarray, template: np.ndarray) -> np.ndarray:
    """``data - reference + template`` on normalised (..., 468, 2) landmarks, as float32."""
    return (np.asarray(data) - np.asarray(reference) + np.asarray(template)).astype(np.float32)
