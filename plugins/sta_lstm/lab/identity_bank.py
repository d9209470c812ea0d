"""Real identity variation for the generator: a bank of real people's neutral landmark shapes.

Why: generator 3 deformed one base face (the astronaut) with smooth bumps, so a model trained on it
learnt that face's neutral geometry, and without a stored baseline a real stranger's strong grimace
came out *mild* (issue 25). The bank holds the MediaPipe 0.10.21 landmarks (468 x 3, centimetres,
frontalised like the base face) of real people photographed at rest, plus the same people smiling,
from freely licensed photo sets (``SOURCES``; landmarks only, never images). People, not photos, are
split: ``train`` people (and a PCA shape model fitted on them, for more faces than the bank holds)
feed the generator; ``calibration`` and ``test`` people are never seen in training and carry the
real-identity evaluation; a second set from another site is test-only.

Build (needs the photo folders; the shipped ``bank.npz`` is its output)::

    python -m plugins.sta_lstm.lab.identity_bank --london DIR --canada DIR
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

BANK_DIR = Path(__file__).with_name("identity_bank")
BANK_FILE = BANK_DIR / "bank.npz"
SOURCES = {
    "london": (
        "Face Research Lab London Set, DeBruine L & Jones B (2017), figshare doi:10.6084/m9.figshare.5047666.v5, "
        "CC BY 4.0; neutral_front (xxx_03) and smiling_front (xxx_08) photographs as redistributed in "
        "github.com/debruine/webmorphR.stim (inst/neutral_front, inst/smiling_front)"
    ),
    "canada": (
        "Young Adult White Faces with Manipulated Versions, DeBruine L & Jones B (2017), figshare "
        "doi:10.6084/m9.figshare.4220517.v1, CC BY 4.0; the unmanipulated photographs as redistributed in "
        "github.com/debruine/webmorphR.stim (inst/canada)"
    ),
}
SPLIT_COUNTS = {"train": 62, "calibration": 10, "test": 30}
"""London people per split (102 in all); every Canada person is ``test`` (another site, other camera)."""
RIGID = (10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 127, 356, 234, 454, 162, 389, 21, 251, 54, 284, 103, 332, 67, 297, 109, 338)
"""Forehead, nose bridge and temples: points a smile barely moves, used to align the smiling photo to the neutral one."""
SHAPE_COMPONENTS = 0.99
"""Share of the train people's shape variance the PCA shape model keeps."""


@dataclass(frozen=True)
class IdentityBank:
    people: np.ndarray  # (n,) str person id, e.g. "london-001"
    split: np.ndarray  # (n,) str train / calibration / test
    neutral: np.ndarray  # (n, 468, 3) float32 cm, frontalised, canthi midpoint at the origin
    smile: np.ndarray  # (n, 468, 3) float32 cm: smiling minus neutral after rigid alignment; NaN where no smiling photo

    def of(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.split == split)

    @cached_property
    def shape_model(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean (468, 3), principal components (k, 1404) and their SDs, of the train people's neutral shapes."""
        shapes = self.neutral[self.of("train")].astype(np.float64).reshape(len(self.of("train")), -1)
        mean = shapes.mean(0)
        _, s, vt = np.linalg.svd(shapes - mean, full_matrices=False)
        variance = s**2 / (len(shapes) - 1)
        keep = int(np.searchsorted(np.cumsum(variance) / variance.sum(), SHAPE_COMPONENTS)) + 1
        return mean.reshape(468, 3), vt[:keep], np.sqrt(variance[:keep])

    def sample_shape(self, rng: np.random.Generator) -> np.ndarray:
        """A new face from the PCA shape model of the train people: mean + Σ z_k sd_k PC_k, z ~ N(0, 1) clipped at ±2.5."""
        mean, components, sd = self.shape_model
        z = np.clip(rng.normal(size=len(sd)), -2.5, 2.5)
        return mean + ((z * sd) @ components).reshape(mean.shape)


@lru_cache(maxsize=1)
def load_bank(path: Path = BANK_FILE) -> IdentityBank:
    with np.load(path) as data:
        return IdentityBank(people=data["people"], split=data["split"], neutral=data["neutral"], smile=data["smile"])


def rigid_align(moving: np.ndarray, fixed: np.ndarray, points: tuple[int, ...] = RIGID) -> np.ndarray:
    """``moving`` carried onto ``fixed`` by the similarity fitted on ``points`` (Umeyama 1991)."""
    a, b = moving[list(points)], fixed[list(points)]
    ca, cb = a.mean(0), b.mean(0)
    u, sigma, vt = np.linalg.svd((b - cb).T @ (a - ca))
    flip = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rotation = u @ flip @ vt
    scale = (sigma * np.diag(flip)).sum() / ((a - ca) ** 2).sum()
    return scale * (moving - ca) @ rotation.T + cb


def _photo_points(path: Path) -> np.ndarray | None:
    """Face Mesh landmarks of one photo (long side resized to 640 px) in pixels, z scaled like x."""
    import cv2

    from gateway import landmarks_from_frames

    bgr = cv2.imread(str(path))
    if bgr is None:
        return None
    h, w = bgr.shape[:2]
    s = 640 / max(h, w)
    rgb = cv2.cvtColor(cv2.resize(bgr, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
    points = landmarks_from_frames([rgb] * 3)[-1].astype(np.float64)
    if not np.isfinite(points).all():
        return None
    return points * [rgb.shape[1], rgb.shape[0], rgb.shape[1]]


def build(london: Path, canada: Path | None, seed: int = 0) -> IdentityBank:
    """Landmark every photo, frontalise to cm, split the London people at random (``seed``)."""
    from plugins.sta_lstm.lab.make_base_face import frontalise

    people, neutral, smile, split = [], [], [], []
    ids = sorted(p.name.split("_")[0] for p in (london / "neutral_front").glob("[0-9]*_03.jpg"))
    order = np.random.default_rng(seed).permutation(len(ids))
    cuts = np.cumsum([SPLIT_COUNTS["train"], SPLIT_COUNTS["calibration"]])
    for rank, i in enumerate(order):
        points = _photo_points(london / "neutral_front" / f"{ids[i]}_03.jpg")
        if points is None:
            continue
        face = frontalise(points)
        smiling = _photo_points(london / "smiling_front" / f"{ids[i]}_08.jpg")
        delta = np.full_like(face, np.nan) if smiling is None else rigid_align(frontalise(smiling), face) - face
        people.append(f"london-{ids[i]}")
        neutral.append(face)
        smile.append(delta)
        split.append("train" if rank < cuts[0] else "calibration" if rank < cuts[1] else "test")
    for path in sorted(canada.glob("[0-9]*.jpg")) if canada else []:
        points = _photo_points(path)
        if points is None:
            continue
        people.append(f"canada-{path.stem}")
        neutral.append(frontalise(points))
        smile.append(np.full((468, 3), np.nan))
        split.append("test")
    order_back = np.argsort(people)
    return IdentityBank(
        people=np.asarray(people)[order_back],
        split=np.asarray(split)[order_back],
        neutral=np.asarray(neutral, np.float32)[order_back],
        smile=np.asarray(smile, np.float32)[order_back],
    )


def save(bank: IdentityBank, path: Path = BANK_FILE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, people=bank.people, split=bank.split, neutral=bank.neutral, smile=bank.smile)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--london", type=Path, required=True, help="folder holding neutral_front/ and smiling_front/")
    parser.add_argument("--canada", type=Path, default=None, help="folder of the Canada set's photographs")
    parser.add_argument("--out", type=Path, default=BANK_FILE)
    args = parser.parse_args(argv)
    bank = build(args.london, args.canada)
    save(bank, args.out)
    counts = {s: int((bank.split == s).sum()) for s in ("train", "calibration", "test")}
    print(f"wrote {args.out}: {len(bank.people)} people {counts}")


if __name__ == "__main__":
    main()
