"""Real video of people talking, none in pain: the false-alarm set (issue 25).

Why: a long calm conversation was summarised as *mild* in 4 of 6 runs; talking, smiling and turning
the head are the ordinary no-pain behaviour a bedside or telehealth camera sees. The shipped set is
the MediaPipe 0.10.21 landmarks (never the video) of the GRID audiovisual sentence corpus samples
that travel with github.com/rizkiarm/LipNet (MIT; the corpus itself: Cooke, Barker, Cunningham & Shao
2006, CC BY 4.0, doi:10.5281/zenodo.3625687): 11 sentences of 3 s at 25 fps, frontal speakers reading
aloud. It is small (33 s), so it is an evaluation set only, never training data; the generator's
synthetic talking and smiling distractors and the identity bank's real smiles stand in for it there.
Every second is a *none* second.

Build (needs the .mpg files; the shipped ``grid.npz`` is its output)::

    python -m plugins.sta_lstm.lab.real_video DIR
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from gateway import LandmarkClip, PatientRef

VIDEO_FILE = Path(__file__).with_name("real_video") / "grid.npz"
SOURCE = (
    "GRID audiovisual sentence corpus (Cooke M, Barker J, Cunningham S, Shao X 2006; CC BY 4.0, "
    "doi:10.5281/zenodo.3625687), the sample .mpg files in github.com/rizkiarm/LipNet evaluation/samples (MIT)"
)


def extract(directory: Path) -> dict[str, np.ndarray]:
    """Face Mesh landmarks (frames, 468, 2), normalised like MediaPipe, of every .mpg under ``directory``."""
    import cv2

    from gateway import FaceMeshTracker

    out = {}
    for path in sorted(directory.rglob("*.mpg")):
        capture = cv2.VideoCapture(str(path))
        rows = []
        with FaceMeshTracker() as tracker:
            while True:
                ok, bgr = capture.read()
                if not ok:
                    break
                rows.append(tracker.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
        out[path.stem] = np.asarray(rows, np.float32)[..., :2]  # x, y: all the model reads
        out[f"{path.stem}.fps"] = np.float32(capture.get(cv2.CAP_PROP_FPS))
        out[f"{path.stem}.size"] = np.asarray([capture.get(3), capture.get(4)], np.int32)
    return out


def clips(path: Path = VIDEO_FILE) -> list[LandmarkClip]:
    """The shipped videos as gateway clips (one patient per video: the speakers are not identified)."""
    with np.load(path) as data:
        names = sorted(k for k in data.files if "." not in k)
        return [
            LandmarkClip(
                PatientRef(system="urn:pain-gateway:real-video", value=name),
                datetime(2026, 1, 1, tzinfo=UTC),
                float(data[f"{name}.fps"]),
                data[name],
                (int(data[f"{name}.size"][0]), int(data[f"{name}.size"][1])),
            )
            for name in names
        ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--out", type=Path, default=VIDEO_FILE)
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **extract(args.directory))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
