"""Personalised baseline: express a patient's landmarks relative to their own neutral face.

Why: faces differ more between people than one face differs between rest and pain, so a model can
mistake a heavy brow or narrow eyes for pain. Subtracting the patient's neutral face (from a clip
recorded at rest) and adding a fixed population template leaves mostly expression. A checkpoint
trained this way stores the template (``manifest["personalisation"]["template"]``) and must be fed
personalised windows; one trained without it must not.
"""

from __future__ import annotations

import numpy as np


def neutral_reference(frames: np.ndarray) -> np.ndarray:
    """(468, 2) mean of a neutral clip's normalised frames or windows (any leading axes; NaN frames ignored)."""
    frames = np.asarray(frames, dtype=np.float64)
    flat = frames.reshape(-1, *frames.shape[-2:])
    flat = flat[np.isfinite(flat).all(axis=(1, 2))]
    if len(flat) == 0:
        raise ValueError("the neutral clip has no frame with a face")
    return flat.mean(axis=0)


def personalise(data: np.ndarray, reference: np.ndarray, template: np.ndarray) -> np.ndarray:
    """``data - reference + template`` on normalised (..., 468, 2) landmarks, as float32."""
    return (np.asarray(data) - np.asarray(reference) + np.asarray(template)).astype(np.float32)
