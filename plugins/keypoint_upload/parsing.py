"""Parse keypoint submissions into a ``LandmarkClip``; every error names the field to fix.

Parsing is bounded before it allocates: a JSON body's size is checked before decoding and its frame
count before any array is built; a ``.npy`` header (shape, dtype) is read and checked before the data,
and a ``.npz`` member's declared uncompressed size before it is inflated. A file that claims 10^8
frames or inflates 3 MB into a gigabyte is refused having read a few hundred bytes.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from typing import IO, Any

import msgspec
import numpy as np
import simdjson

from gateway import DEFAULT_CLOCK_SKEW_S, LANDMARK_COUNT, InputError, LandmarkClip, UploadedFile, parse_captured_at, parse_patient, refuse_unknown
from plugins.keypoint_upload.limits import PREFIX, KeypointLimits

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
MAX_NPZ_MEMBERS = 16
"""An ``.npz`` holds ``points`` and perhaps a few more arrays; thousands of entries are an attack on the
zip directory reader, refused from the end-of-directory record."""

MAX_DIMENSION = 65_536
FORM_FIELDS = ("keypoints", "patient_system", "patient_value", "patient_reference", "fps", "captured_at", "image_size")
"""The multipart form's parts (``schema.KeypointArrayForm`` documents the same)."""


def parse_fps(raw: Any) -> float:
    try:
        fps = float(raw)
    except (TypeError, ValueError, OverflowError):
        raise InputError("fps", "is required: frames per second of the clip, a number between 5 and 120") from None
    if not np.isfinite(fps):
        raise InputError("fps", "must be a finite number between 5 and 120")
    return fps


def parse_image_size(raw: Any) -> tuple[int, int] | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        raw = raw[:64].replace("x", ",").split(",")
    elif not isinstance(raw, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in raw):
        raw = None  # JSON: numbers must be numbers
    try:
        width, height = (int(v) for v in raw)
    except (TypeError, ValueError, OverflowError):
        raise InputError("image_size", "must be [width, height] in pixels, e.g. [640, 480] or '640,480' in a form") from None
    if width <= 0 or height <= 0:
        raise InputError("image_size", "width and height must be positive")
    if max(width, height) > MAX_DIMENSION:
        raise InputError("image_size", f"width and height are at most {MAX_DIMENSION} pixels")
    return width, height


Point = tuple[float, ...]


class _JsonSubmission(msgspec.Struct, forbid_unknown_fields=True):
    patient: Any = None
    fps: Any = None
    captured_at: Any = None
    frames: list[msgspec.Raw] | None = None  # each frame decoded on its own, after the count is checked
    image_size: Any = None


_Frame = list[Point] | None  # typed: a coordinate that is a string or a boolean is refused


def _frame_error(text: str, index: int) -> InputError:
    where = text.rsplit(" - at `$", 1)[-1].rstrip("`") if " - at `$" in text else ""
    text = text.split(" - at `$", 1)[0]
    location = f"frames[{index}]{where}"
    if "Expected `float`" in text:
        return InputError("frames", f"coordinates must be JSON numbers (not strings, booleans or arrays): {text} at {location}")
    return InputError("frames", f"must be a list of frames, each a list of {LANDMARK_COUNT} [x, y] or [x, y, z] points, or null: {text} at {location}")


def _decode_error(exc: msgspec.ValidationError) -> InputError:
    """A top-level shape error (e.g. ``frames`` not a list), named by its field."""
    text = str(exc)
    where = text.rsplit(" - at `$.", 1)[-1].rstrip("`") if " - at `$." in text else ""
    field = where.split("[", 1)[0].split(".", 1)[0] or "body"
    if field == "frames":
        return _frame_error(text, 0) if "[" in where else InputError("frames", f"must be a list of frames: {text}")
    return InputError(field, text)


def _decode_frame(raw: msgspec.Raw, index: int) -> list | None:
    try:
        return msgspec.json.decode(raw, type=_Frame)
    except msgspec.ValidationError as exc:
        raise _frame_error(str(exc), index) from None
    except RecursionError:
        raise InputError("frames", f"frame {index} is nested too deeply; a frame is a list of [x, y] or [x, y, z] points") from None


_NUMBER_AND_SPACE = b"0123456789.eE+- \t\r\n"
_SKELETONS = {k: b"[" + b",".join([b"[" + b"," * (k - 1) + b"]"] * LANDMARK_COUNT) + b"]" for k in (2, 3)}
"""A frame with its numbers and whitespace deleted: what a well-formed frame of [x, y] or [x, y, z] points
leaves. ``as_buffer`` flattens any nesting, so only a frame whose skeleton matches is shaped by it."""


def _fast_frame(raw: bytes, parser: simdjson.Parser, coords: int | None) -> np.ndarray | None:
    """A well-formed frame as a (468, k) array without building Python floats, or None for the strict path.

    simdjson validates the JSON (NaN, Infinity and out-of-range numbers fail it), ``as_buffer``
    refuses any non-number leaf (strings, booleans, null, objects), and the skeleton check pins the
    shape; anything else goes to ``_decode_frame`` so that errors and edge cases stay exactly its own.
    """
    skeleton = raw.translate(None, _NUMBER_AND_SPACE)
    k = 3 if skeleton == _SKELETONS[3] else 2 if skeleton == _SKELETONS[2] else None
    if k is None or (coords is not None and k != coords):
        return None
    try:
        array = parser.parse(raw)
        values = np.frombuffer(array.as_buffer(of_type="d"), dtype=np.float64)
    except (ValueError, TypeError, RuntimeError):
        return None
    finally:
        array = None  # the parser refuses to parse again while a proxy into its document is alive
    return values.reshape(LANDMARK_COUNT, k) if values.size == LANDMARK_COUNT * k else None


def _frames_array(frames: list[msgspec.Raw] | None, limits: KeypointLimits, fps: float) -> np.ndarray:
    """Frames as one float64 array, NaN rows for null frames, checked against the limits first.

    Each frame is decoded on its own into a preallocated array, so memory is the body plus the array.
    Well-formed frames take the simdjson fast path (no Python float per coordinate, ~4x faster);
    a frame it does not take is decoded strictly by msgspec, which words every refusal.
    """
    if not isinstance(frames, list) or not frames:
        raise InputError("frames", "must be a non-empty list of frames, each 468 [x, y] or [x, y, z] points or null")
    limits.check_frames(len(frames), fps, "frames")
    parser = simdjson.Parser()  # one per clip: a Parser is not thread-safe
    out = None
    for i, raw in enumerate(frames):
        frames[i] = None
        raw = bytes(raw)
        fast = None if raw == b"null" else _fast_frame(raw, parser, None if out is None else out.shape[2])
        if fast is not None:
            if out is None:
                out = np.full((len(frames), *fast.shape), np.nan)
            out[i] = fast
            continue
        frame = _decode_frame(raw, i)
        if frame is None:
            continue
        if out is None:
            if not frame:
                raise InputError("frames", "a frame must be a list of points or null, not an empty list")
            shape = (len(frames), len(frame), len(frame[0]))
            if shape[1] != LANDMARK_COUNT or shape[2] not in (2, 3):
                raise InputError(
                    "frames",
                    f"expected {LANDMARK_COUNT} points of [x, y] or [x, y, z] per frame; frame {i} has {shape[1]} points of {shape[2]}",
                )
            out = np.full(shape, np.nan)
        try:
            array = np.array(frame, dtype=np.float64)
        except ValueError:
            array = None
        if array is None or array.shape != out.shape[1:]:
            lengths = sorted({len(p) for p in frame})
            raise InputError(
                "frames",
                f"every frame must be a list of {LANDMARK_COUNT} points of equal length ([x, y] or [x, y, z]) or null; "
                f"frame {i} has {len(frame)} points of {lengths} coordinates, the first frame {out.shape[1]} of {out.shape[2]}",
            )
        out[i] = array
    if out is None:
        raise InputError("frames", "every frame is null: no face was found in the clip")
    return out


def _refuse_unknown_keys(body: bytes, message: str) -> None:
    """Name every unknown top-level key with a hint (keys only: the values stay raw), or the one msgspec
    found when the rest of the body does not parse."""
    try:
        keys = list(msgspec.json.decode(body, type=dict[str, msgspec.Raw]))
    except (msgspec.DecodeError, RecursionError):
        keys = [message.split("`")[1]]
    refuse_unknown("", keys, _JsonSubmission.__struct_fields__)


def _refuse_duplicate_keys(body: bytes) -> None:
    """A key given twice in one object (a second ``fps``, a second identifier ``value``) would silently win
    over the first, so two submissions that read alike could be two patients: refused, naming the key. Only
    objects are walked (the frames are arrays of numbers); simdjson keeps duplicates where msgspec keeps one."""

    def walk(node: simdjson.Object, path: str) -> None:
        seen: set[str] = set()
        for key in node.keys():
            if key in seen:
                raise InputError(f"{path}{key}", "is given twice in one JSON object; send each key once")
            seen.add(key)
        for key in seen:
            child = node[key]
            if isinstance(child, simdjson.Object):
                walk(child, f"{path}{key}.")

    try:
        document = simdjson.Parser().parse(body)
    except (ValueError, RuntimeError):  # numbers simdjson will not read (past float64, big integers): a slower walk
        json.loads(body, object_pairs_hook=_unique_pairs, parse_int=_number, parse_float=_number, parse_constant=_number)
        return
    if isinstance(document, simdjson.Object):
        walk(document, "")


def _number(text: str) -> int:
    """Numbers are not needed to find a repeated key: never converted (no digit limit, no cost)."""
    return 0


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    for key in keys:
        if keys.count(key) > 1:
            raise InputError(key, "is given twice in one JSON object; send each key once")
    return dict(pairs)


def clip_from_json(body: bytes, limits: KeypointLimits | None = None, max_clock_skew_s: float = DEFAULT_CLOCK_SKEW_S) -> LandmarkClip:
    limits = limits or KeypointLimits()
    if len(body) > limits.max_json_mb * 1024 * 1024:
        raise InputError(
            "body",
            f"keypoint JSON of {len(body) / 2**20:.1f} MB exceeds the {limits.max_json_mb} MB limit ({PREFIX}MAX_JSON_MB); "
            "send long clips as a .npy or .npz file (3-4x smaller)",
        )
    try:
        raw = msgspec.json.decode(body, type=_JsonSubmission)
    except msgspec.ValidationError as exc:
        if str(exc).startswith("Object contains unknown field"):
            _refuse_unknown_keys(body, str(exc))
        raise _decode_error(exc) from None
    except msgspec.DecodeError as exc:
        if any(token in body for token in (b"NaN", b"Infinity")):
            raise InputError("frames", "contains NaN or Infinity, which JSON does not allow; send null for a frame without a face") from None
        raise InputError("body", f"is not a JSON object of the keypoint form: {exc}") from None
    except RecursionError:
        raise InputError("body", "JSON is nested too deeply; the keypoint form nests at most 5 levels") from None
    _refuse_duplicate_keys(body)
    fps = parse_fps(raw.fps)
    return LandmarkClip(
        patient=parse_patient(raw.patient),
        captured_at=parse_captured_at(raw.captured_at, max_clock_skew_s),
        fps=fps,
        points=_frames_array(raw.frames, limits, fps),
        image_size=parse_image_size(raw.image_size),
        source="keypoints/json",
    )


def _check_header(shape: tuple, fortran: bool, dtype: np.dtype, limits: KeypointLimits, fps: float) -> int:
    """Refuse what the array header declares before any data is read; return the data's byte count."""
    if dtype.hasobject:
        raise InputError("keypoints", "object arrays (pickled Python objects) are not accepted; save a float32 or float64 array")
    if dtype.kind not in "fiu" or dtype.itemsize > 8 or dtype.fields is not None:
        raise InputError("keypoints", f"array must be numeric (float32 or float64), got dtype {dtype}")
    if len(shape) != 3 or shape[0] < 1 or shape[1] != LANDMARK_COUNT or shape[2] not in (2, 3):
        raise InputError(
            "keypoints",
            f"expected shape (frames, {LANDMARK_COUNT}, 2 or 3) with at least one frame — {LANDMARK_COUNT} Face Mesh landmarks of [x, y] "
            f"or [x, y, z] per frame — got {tuple(shape)}",
        )
    limits.check_frames(shape[0], fps, "keypoints")
    return shape[0] * shape[1] * shape[2] * dtype.itemsize


def _read_npy(stream: IO[bytes], limits: KeypointLimits, fps: float, available: int) -> np.ndarray:
    """One ``.npy`` from ``stream``: header checked, then exactly the declared bytes read."""
    try:
        version = np.lib.format.read_magic(stream)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = reader(stream)
    except (ValueError, SyntaxError, TypeError, OSError, EOFError) as exc:
        raise InputError("keypoints", f"has an unreadable .npy header ({type(exc).__name__}: {exc})") from None
    nbytes = _check_header(shape, fortran, dtype, limits, fps)
    if nbytes > available:
        raise InputError("keypoints", f"is truncated: its header declares {nbytes} bytes of data but at most {available} follow")
    flat = np.empty(nbytes // dtype.itemsize, dtype=dtype)
    view, done = memoryview(flat).cast("B"), 0
    while done < nbytes:
        got = stream.readinto(view[done:])
        if not got:
            raise InputError("keypoints", f"is truncated: its header declares {nbytes} bytes of data but {done} follow")
        done += got
    return flat.reshape(shape, order="F" if fortran else "C").astype(np.float64, copy=False)


def _zip_entries(path) -> int:
    """Entry count from the end-of-central-directory record, read before ``zipfile`` parses the directory."""
    with open(path, "rb") as f:
        f.seek(0, io.SEEK_END)
        size = f.tell()
        f.seek(max(size - 65_557, 0))
        tail = f.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise InputError("keypoints", "is not a readable .npz file (no zip directory: truncated?)")
    return struct.unpack("<H", tail[at + 10 : at + 12])[0]


def _read_npz(upload: UploadedFile, limits: KeypointLimits, fps: float) -> np.ndarray:
    entries = _zip_entries(upload.path)
    if entries > MAX_NPZ_MEMBERS:
        raise InputError("keypoints", f".npz holds {entries} arrays; at most {MAX_NPZ_MEMBERS} are read (send 'points' alone)")
    try:
        with zipfile.ZipFile(upload.path) as archive:
            names = archive.namelist()
            if "points.npy" not in names:
                arrays = [n.removesuffix(".npy") for n in names][:MAX_NPZ_MEMBERS]
                raise InputError("keypoints", f".npz must contain an array named 'points'; it has {arrays}")
            info = archive.getinfo("points.npy")
            limit = limits.max_array_bytes(fps) + 65_536  # the data plus a generous header
            if info.file_size > limit:
                raise InputError(
                    "keypoints",
                    f".npz member 'points' declares {info.file_size / 2**20:.0f} MB uncompressed, more than a clip within the limits "
                    f"({limits.describe()}) can take ({limit / 2**20:.0f} MB)",
                )
            # zipfile stops inflating at the declared size (and checks the CRC), so the size holds.
            with archive.open(info) as member:
                return _read_npy(member, limits, fps, info.file_size)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, EOFError) as exc:
        raise InputError("keypoints", f"is not a readable .npz file ({type(exc).__name__}: {exc})") from None


def _load_array(upload: UploadedFile, limits: KeypointLimits, fps: float) -> np.ndarray:
    with open(upload.path, "rb") as f:
        head = f.read(8)
        if head.startswith(NPY_MAGIC):
            f.seek(0, io.SEEK_END)
            size = f.tell()
            f.seek(0)
            return _read_npy(f, limits, fps, size)
    if head.startswith(ZIP_MAGICS):
        return _read_npz(upload, limits, fps)
    if head.lstrip()[:1] in (b"{", b"["):
        raise InputError(
            "keypoints",
            "is JSON, not a .npy or .npz array; send JSON keypoints as the request body with Content-Type: application/json",
        )
    raise InputError("keypoints", "is not a .npy or .npz file (numpy.save / numpy.savez of a (frames, 468, 2|3) array)")


def clip_from_arrays_form(
    fields: dict[str, str], upload: UploadedFile, limits: KeypointLimits | None = None, max_clock_skew_s: float = DEFAULT_CLOCK_SKEW_S
) -> LandmarkClip:
    limits = limits or KeypointLimits()
    refuse_unknown("", fields, FORM_FIELDS)
    if fields.get("patient_reference"):
        patient = parse_patient({"reference": fields["patient_reference"]})
    elif fields.get("patient_system") or fields.get("patient_value"):
        patient = parse_patient({"identifier": {"system": fields.get("patient_system"), "value": fields.get("patient_value")}})
    else:
        raise InputError("patient", "form needs patient_system and patient_value, or patient_reference")
    fps = parse_fps(fields.get("fps"))
    return LandmarkClip(
        patient=patient,
        captured_at=parse_captured_at(fields.get("captured_at"), max_clock_skew_s),
        fps=fps,
        points=_load_array(upload, limits, fps),
        image_size=parse_image_size(fields.get("image_size")),
        source="keypoints/array",
    )
