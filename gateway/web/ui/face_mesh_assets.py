"""Vendors the pinned ``@mediapipe/face_mesh`` npm files for the live page, so browsers never load a CDN.

Run at build time (``make mediapipe``, the Dockerfile) as a plain script with the standard library only:
it downloads the npm tarball, checks the registry's sha512 integrity, and extracts each file the
page loads, checking its own sha256. An existing, intact copy is kept, so a rerun needs no network.
The npm ``latest`` tag (0.4.1657299874) aborts in its graph (google-ai-edge/mediapipe#3504): keep the pin.
"""

from __future__ import annotations

import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

VERSION = "0.4.1633559619"
TARBALL = f"https://registry.npmjs.org/@mediapipe/face_mesh/-/face_mesh-{VERSION}.tgz"
INTEGRITY = "sha512-Vc8cdjxS5+O2gnjWH9KncYpUCVXT0h714KlWAsyqJvJbIgUJBqpppbIx8yWcAzBDxm/5cYSuBI5p5ySIPxzcEg=="
FILES = {
    "face_mesh.js": "5db8555ac80ca2ad7366fbb3ea53c0d0959609fc9abb7b8be37a74ec1ac4ba9c",
    "face_mesh.binarypb": "139546bf05aebb33e2611b6b945f3a1629c316ca924e33cec1547c85ddef9f53",
    "face_mesh_solution_packed_assets.data": "dbe5905c582c0462cdaea17e7e6ecea92edaa8cccc515c5e2e7291f2cbb5fb99",
    "face_mesh_solution_packed_assets_loader.js": "e5de8685b299184813f7cec668e499023937ae521b70f60cd0fc4832930446e0",
    "face_mesh_solution_simd_wasm_bin.js": "ca291877afb9c13308cf6be42f23cd39f1adf0036bb63ecad2ce16073bcf07c7",
    "face_mesh_solution_simd_wasm_bin.wasm": "fb9e9cfe8b83a914e40eab2efd3b0d92a61f82a7c968589f223ab2a7e331d314",
    "face_mesh_solution_wasm_bin.js": "0a532ae8450e7e5f2788cc92ad190210f721446d3fd9cb259fdda958e66102c1",
    "face_mesh_solution_wasm_bin.wasm": "54522fa25c505bf094242f969b4e4919125eb0dadccb568f2af171bbd65865f9",
    "package.json": "e279c3b6774049f9f3147e5e2a47998a6114774c2ba6fa7a323f8fd505bd8109",  # names the version and licence
}
"""Each vendored file and its sha256; the page loads all but ``package.json``."""

DIRECTORY = Path(__file__).resolve().parent / "static" / "mediapipe"
MAX_TARBALL = 16 * 1024 * 1024  # the tarball is 7.3 MB; a larger answer is not the pinned package


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def missing(directory: Path | None = None) -> list[str]:
    """The vendored files that are absent or differ from the pin (empty when the page can run)."""
    directory = directory or DIRECTORY
    return [name for name, digest in FILES.items() if not (directory / name).is_file() or _sha256(directory / name) != digest]


def present() -> bool:
    """Whether every file is there (cheap, for each page view; ``missing`` checks the bytes at build)."""
    return all((DIRECTORY / name).is_file() for name in FILES)


def fetch(directory: Path = DIRECTORY, url: str = TARBALL) -> None:
    """Download the pinned tarball, verify it, and write the files; nothing is written unless all check out."""
    with urllib.request.urlopen(url, timeout=60) as response:
        blob = response.read(MAX_TARBALL + 1)
    if len(blob) > MAX_TARBALL:
        raise RuntimeError(f"{url} is larger than {MAX_TARBALL} bytes: not the pinned package")
    algorithm, expected = INTEGRITY.split("-", 1)
    if base64.b64encode(hashlib.new(algorithm, blob).digest()).decode() != expected:
        raise RuntimeError(f"{url} does not match the pinned integrity {INTEGRITY}")
    contents = {}
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as archive:
        for name, digest in FILES.items():
            data = archive.extractfile(f"package/{name}").read()
            if hashlib.sha256(data).hexdigest() != digest:
                raise RuntimeError(f"{name} in {url} does not match its pinned sha256")
            contents[name] = data
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in contents.items():
        (directory / name).write_bytes(data)


def ensure(directory: Path = DIRECTORY) -> None:
    """Fetch unless an intact copy is already there."""
    if missing(directory):
        fetch(directory)


if __name__ == "__main__":
    ensure(Path(sys.argv[1]) if len(sys.argv) > 1 else DIRECTORY)
    print(f"@mediapipe/face_mesh@{VERSION} in {DIRECTORY if len(sys.argv) < 2 else sys.argv[1]}")
