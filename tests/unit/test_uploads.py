"""Receiving a submission through a real Litestar app: multipart file parts stream to their own files,
small fields to text, limits are 4xx naming the part, and nothing is left behind on any refusal."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar, Request, post
from litestar.testing import TestClient

from gateway.contract.domain import InputError
from gateway.ops.settings import Settings
from gateway.web import problems
from gateway.web.uploads import MAX_FIELD_BYTES, received

LIMIT_MB = 2


@post("/upload", status_code=200)
async def upload(request: Request, keep: bool = False) -> dict:
    """Echo what ``received`` made of the request (the transport the assessment routes use)."""
    settings: Settings = request.app.state.settings
    async with received(request, settings) as got:
        if keep:
            got.keep()
        capture = got.request
        return {
            "media_type": capture.media_type,
            "body": capture.body.decode(),
            "fields": capture.fields,
            "files": {
                name: {
                    "filename": f.filename,
                    "content_type": f.content_type,
                    "stored_as": f.path.name,
                    "data": f.read().decode(),
                    "in_upload_dir": f.path.parent.parent == Path(settings.data_dir) / "uploads",
                }
                for name, f in capture.files.items()
            },
        }


@pytest.fixture
def client(tmp_path):
    app = Litestar([upload], exception_handlers=problems.HANDLERS, debug=False)
    app.state.settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db", data_dir=str(tmp_path), max_upload_mb=LIMIT_MB)
    with TestClient(app) as test_client:
        test_client.uploads = tmp_path / "uploads"
        yield test_client


def leftovers(client) -> list[Path]:
    return [p for p in client.uploads.rglob("*") if p.is_file()] if client.uploads.exists() else []


def multipart(*parts: bytes, boundary: str = "b0undary", closed: bool = True) -> tuple[bytes, dict]:
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts)
    body += (b"--" + boundary.encode() + b"--\r\n") if closed else b""
    return body, {"content-type": f"multipart/form-data; boundary={boundary}"}


def part(name: str | None, data: bytes, filename: str | None = None, content_type: str | None = None) -> bytes:
    disposition = b"Content-Disposition: form-data" + (f'; name="{name}"'.encode() if name is not None else b"")
    disposition += f'; filename="{filename}"'.encode() if filename is not None else b""
    headers = disposition + (f"\r\nContent-Type: {content_type}".encode() if content_type else b"")
    return headers + b"\r\n\r\n" + data


def test_fields_are_text_and_files_are_streamed_to_disk_then_removed(client):
    body, headers = multipart(part("metadata", '{"a": "é"}'.encode()), part("video", b"frames...", "../../etc/Visit.MP4", "video/mp4"))
    response = client.post("/upload", content=body, headers=headers)
    assert response.status_code == 200, response.text
    got = response.json()
    assert got["media_type"] == "multipart/form-data" and got["body"] == ""
    assert got["fields"] == {"metadata": '{"a": "é"}'}
    video = got["files"]["video"]
    assert video["filename"] == "Visit.MP4" and video["content_type"] == "video/mp4" and video["data"] == "frames..."
    assert video["stored_as"].endswith(".mp4") and len(video["stored_as"]) == 32 + 4 and video["in_upload_dir"]  # our name, its suffix
    assert leftovers(client) == []  # not kept: removed when the block ends


def test_parts_split_across_network_chunks_are_whole(tmp_path):
    """python-multipart hands data over per chunk received: a field or file must be the sum of them."""
    from python_multipart.multipart import MultipartParser

    from gateway.web.uploads import _Parts

    text = "line 1\r\nline 2\r\n" + "é" * 3000
    body, _ = multipart(part("notes", text.encode()), part("video", b"v" * 5000, "a.mp4"))
    parts = _Parts(tmp_path)
    names = ("on_part_begin", "on_header_field", "on_header_value", "on_header_end", "on_headers_finished", "on_part_data", "on_part_end", "on_end")
    parser = MultipartParser(b"b0undary", callbacks={name: getattr(parts, name) for name in names})
    for i in range(0, len(body), 7):  # even a header name or value may arrive in pieces
        parser.write(body[i : i + 7])
    parser.finalize()
    assert parts.complete and parts.fields == {"notes": text} and parts.files["video"].read() == b"v" * 5000


def test_a_kept_upload_stays_for_its_job(client):
    body, headers = multipart(part("video", b"x", "a.webm"))
    assert client.post("/upload?keep=true", content=body, headers=headers).status_code == 200
    assert [p.read_bytes() for p in leftovers(client)] == [b"x"]


@pytest.mark.parametrize(
    ("filename", "suffix"),
    [("clip", ""), ("clip.exe;rm", ""), ("clip.toolongsuffix", ""), ("clip.", ""), ("clip.A1b2C3d4", ".a1b2c3d4")],
)
def test_only_a_short_alphanumeric_suffix_is_kept(client, filename, suffix):
    body, headers = multipart(part("video", b"x", filename))
    stored = client.post("/upload", content=body, headers=headers).json()["files"]["video"]["stored_as"]
    assert stored == stored[:32] + suffix and len(stored) == 32 + len(suffix)


def test_a_file_part_without_a_content_type_is_octet_stream(client):
    body, headers = multipart(part("video", b"x", "a.mp4"))
    assert client.post("/upload", content=body, headers=headers).json()["files"]["video"]["content_type"] == "application/octet-stream"


def test_a_plain_body_is_read_whole(client):
    response = client.post("/upload", content=b'{"frames": []}', headers={"content-type": "Application/JSON; charset=utf-8"})
    assert response.json() == {"media_type": "application/json", "body": '{"frames": []}', "fields": {}, "files": {}}


def test_a_body_exactly_at_the_limit_is_accepted_and_one_byte_more_is_413(client):
    limit = LIMIT_MB * 1024 * 1024
    assert client.post("/upload", content=b"x" * limit, headers={"content-type": "text/plain"}).status_code == 200
    response = client.post("/upload", content=b"x" * (limit + 1), headers={"content-type": "text/plain"})
    assert response.status_code == 413
    assert response.json()["detail"] == f"upload exceeds the {LIMIT_MB} MB limit (PAIN_GATEWAY_MAX_UPLOAD_MB); send a shorter clip"


def test_a_multipart_body_over_the_limit_is_413_and_leaves_nothing(client):
    limit = LIMIT_MB * 1024 * 1024
    body, headers = multipart(part("video", b"x" * limit, "a.mp4"))
    response = client.post("/upload", content=body, headers=headers)
    assert response.status_code == 413 and "MB limit" in response.json()["detail"]
    assert leftovers(client) == []
    small, headers = multipart(part("video", b"x" * (limit - 200), "a.mp4"))
    assert client.post("/upload", content=small, headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("body", "content_type", "field", "words"),
    [
        (b"x", "multipart/form-data", "content-type", "multipart/form-data needs a boundary parameter"),
        (
            multipart(part("video", b"x", "a.mp4"), closed=False)[0],
            None,
            "body",
            "the multipart body ends before its closing boundary (upload cut short); send it again",
        ),
        (multipart(part(None, b"x"))[0], None, "body", "every multipart part needs a Content-Disposition name"),
        (multipart(part("", b"x"))[0], None, "body", "every multipart part needs a Content-Disposition name"),
        (multipart(part("metadata", b"\xff\xfe"))[0], None, "metadata", "form field must be UTF-8 text"),
        (
            multipart(part("metadata", b"x" * (MAX_FIELD_BYTES + 1)))[0],
            None,
            "metadata",
            "form field is larger than 1024 KiB; send large data as a file part",
        ),
    ],
)
def test_malformed_multipart_is_422_naming_the_part_and_leaves_nothing(client, body, content_type, field, words):
    headers = {"content-type": content_type or "multipart/form-data; boundary=b0undary"}
    response = client.post("/upload", content=body, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field and response.json()["detail"] == words
    assert leftovers(client) == []
    assert not client.uploads.exists() or list(client.uploads.iterdir()) == []


@pytest.mark.parametrize(
    "body",
    [
        b"--b0undary\r\n100001--b0undary--\r\n",  # a header line without a colon
        b'--b0undary\r\nContent-Disposition: form-data; name="a\rb"\r\n\r\nx\r\n--b0undary--\r\n',  # a bare CR in a header
    ],
)
def test_a_malformed_part_header_is_422_on_the_body_not_a_500(client, body):
    response = client.post("/upload", content=body, headers={"content-type": "multipart/form-data; boundary=b0undary"})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "body" and response.json()["detail"].startswith("the multipart body is malformed")
    assert leftovers(client) == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=40),
            st.sampled_from([b"--b0undary", b"\r\n", b"\r", b"\n", b"--", b"Content-Disposition: form-data; name=", b'"k"', b"; filename=", b":"]),
        ),
        max_size=14,
    )
)
def test_no_multipart_body_however_malformed_is_a_5xx_or_leaves_a_file(client, pieces):
    response = client.post("/upload", content=b"".join(pieces), headers={"content-type": "multipart/form-data; boundary=b0undary"})
    assert response.status_code in (200, 413, 422), response.text
    assert leftovers(client) == []


def test_a_field_exactly_at_its_limit_is_accepted(client):
    body, headers = multipart(part("metadata", b"x" * MAX_FIELD_BYTES))
    assert len(client.post("/upload", content=body, headers=headers).json()["fields"]["metadata"]) == MAX_FIELD_BYTES


def test_a_part_name_that_is_not_utf8_is_read_not_a_crash(client):
    body, headers = multipart(b'Content-Disposition: form-data; name="caf\xe9"\r\n\r\nx')
    response = client.post("/upload", content=body, headers=headers)
    assert response.status_code == 200 and response.json()["fields"] == {"caf\ufffd": "x"}


def test_a_file_name_that_is_not_utf8_is_read_not_a_crash(client):
    body, headers = multipart(b'Content-Disposition: form-data; name="video"; filename="caf\xe9.mp4"\r\n\r\nx')
    assert client.post("/upload", content=body, headers=headers).json()["files"]["video"]["filename"] == "caf\ufffd.mp4"


def test_a_body_without_a_content_type_is_read_as_such(client):
    response = client.post("/upload", content=b"raw")
    assert response.json()["media_type"] == "" and response.json()["body"] == "raw"


async def test_the_limit_counts_every_chunk_of_a_streamed_body(tmp_path):
    """Bodies arrive in many ASGI messages: the limit applies to their sum, not to each one."""
    from litestar.exceptions import ClientException

    from gateway.web.uploads import receive

    async def over(content_type: bytes, chunks: list[bytes]):
        messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]

        async def next_message():
            return messages.pop(0)

        app = Litestar([upload])
        handler = next(r for r in app.routes if r.path == "/upload").route_handlers[0]
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/upload",
            "query_string": b"",
            "headers": [(b"content-type", content_type)],
            "app": app,
            "route_handler": handler,
        }
        return await receive(Request(scope, next_message), tmp_path / "u", max_bytes=10)

    assert (await over(b"text/plain", [b"12345", b"67890"])).body == b"1234567890"
    with pytest.raises(InputError):  # exactly at the limit: read, then found cut short (not 413)
        await over(b"multipart/form-data; boundary=b0undary", [b"--b0un", b"dary"])
    for content_type, chunks in ((b"text/plain", [b"123456", b"78901"]), (b"multipart/form-data; boundary=b0undary", [b"--b0undary\r\n", b"x" * 5])):
        with pytest.raises(ClientException) as refused:
            await over(content_type, chunks)
        assert refused.value.status_code == 413
