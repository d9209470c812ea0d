"""Receive a submission without holding uploads in memory: multipart file parts stream to disk.

Litestar's own form parsing reads the whole body first, which a 500 MB video must never do. Each
submission gets its own directory under ``<data_dir>/uploads``; the caller removes it when the
submission is refused or no longer needs its files.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from litestar import Request
from litestar.exceptions import ClientException
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from gateway.contract.domain import InputError
from gateway.contract.protocols import CaptureRequest, UploadedFile
from gateway.ops.settings import Settings

MAX_FIELD_BYTES = 1024 * 1024
_SAFE_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,8}$")


class _Parts:
    """python-multipart callbacks: small fields to memory, file parts to their own file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.fields: dict[str, str] = {}
        self.files: dict[str, UploadedFile] = {}
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._name = ""
        self._buffer = bytearray()
        self._file = None
        self.complete = False

    def on_end(self) -> None:
        self.complete = True

    def on_part_begin(self) -> None:
        self._headers, self._buffer, self._file = {}, bytearray(), None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field, self._header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        if not self._name:
            raise InputError("body", "every multipart part needs a Content-Disposition name")
        if b"filename" in options:
            filename = Path(options[b"filename"].decode("utf-8", "replace")).name
            suffix = Path(filename).suffix if _SAFE_SUFFIX.match(Path(filename).suffix) else ""
            path = self.directory / f"{uuid.uuid4().hex}{suffix.lower()}"
            content_type = self._headers.get(b"content-type", b"application/octet-stream").decode("latin-1")
            self.files[self._name] = UploadedFile(filename, content_type, path)
            self._file = path.open("wb")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None:
            self._file.write(data[start:end])
            return
        self._buffer += data[start:end]
        if len(self._buffer) > MAX_FIELD_BYTES:
            raise InputError(self._name, f"form field is larger than {MAX_FIELD_BYTES // 1024} KiB; send large data as a file part")

    def on_part_end(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        else:
            try:
                self.fields[self._name] = self._buffer.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(self._name, "form field must be UTF-8 text") from None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def new_upload_dir(data_dir: str) -> Path:
    directory = Path(data_dir) / "uploads" / uuid.uuid4().hex
    directory.mkdir(parents=True)
    return directory


class Upload:
    """A received submission whose files are removed on leaving the ``received`` block, unless kept."""

    def __init__(self, request: CaptureRequest) -> None:
        self.request = request
        self.kept = False

    def keep(self) -> None:
        """A background job owns the files now; it removes them when done."""
        self.kept = True


@asynccontextmanager
async def received(request: Request, settings: Settings) -> AsyncIterator[Upload]:
    """Receive a submission into its own upload directory and clean it up on every path out."""
    directory = new_upload_dir(settings.data_dir)
    upload = Upload(await receive(request, directory, settings.max_upload_mb * 1024 * 1024))
    try:
        yield upload
    finally:
        if not upload.kept:
            shutil.rmtree(directory, ignore_errors=True)


async def receive(request: Request, directory: Path, max_bytes: int) -> CaptureRequest:
    """Read the request into a ``CaptureRequest``; file parts land in ``directory``.

    Raises 413 past ``max_bytes``; on any error the partial files are removed with ``directory``.
    """
    media_type, options = parse_options_header(request.headers.get("content-type", ""))
    media_type_text = media_type.decode("latin-1").lower()
    total = 0
    try:
        if media_type_text != "multipart/form-data":
            chunks = []
            async for chunk in request.stream():
                total += len(chunk)
                if total > max_bytes:
                    raise _too_large(max_bytes)
                chunks.append(chunk)
            return CaptureRequest(media_type_text, body=b"".join(chunks))
        if b"boundary" not in options:
            raise InputError("content-type", "multipart/form-data needs a boundary parameter")
        parts = _Parts(directory)
        parser = MultipartParser(
            options[b"boundary"],
            callbacks={
                name: getattr(parts, name)
                for name in (
                    "on_part_begin",
                    "on_header_field",
                    "on_header_value",
                    "on_header_end",
                    "on_headers_finished",
                    "on_part_data",
                    "on_part_end",
                    "on_end",
                )
            },
        )
        try:
            async for chunk in request.stream():
                total += len(chunk)
                if total > max_bytes:
                    raise _too_large(max_bytes)
                parser.write(chunk)
            parser.finalize()
        except MultipartParseError as exc:
            raise InputError(
                "body", f"the multipart body is malformed ({_first_line(exc)}); send it as multipart/form-data with CRLF-ended part headers"
            ) from None
        finally:
            parts.close()
        if not parts.complete:  # python-multipart's finalize() does not check for the closing boundary
            raise InputError("body", "the multipart body ends before its closing boundary (upload cut short); send it again")
        return CaptureRequest(media_type_text, fields=parts.fields, files=parts.files)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise


def _first_line(exc: Exception) -> str:
    """python-multipart's message, on one line and short (it may quote the client's bytes)."""
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__


def _too_large(max_bytes: int) -> ClientException:
    return ClientException(
        f"upload exceeds the {max_bytes // (1024 * 1024)} MB limit (PAIN_GATEWAY_MAX_UPLOAD_MB); send a shorter clip",
        status_code=413,
    )
