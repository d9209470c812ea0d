"""The review UI on a tablet held upright (820 px; 768 and 834 px too), in Debian's headless Chromium on a live
``pain-gateway serve``: no page scrolls sideways, no text (chart and heatmap text included) is under 12 px,
the whole worklist row opens its assessment, the README's synthetic example clip shows a heatmap with a
region that stands out, a refused review comes back with its error in view and focused and the
clinician's choices kept, a page that does not exist is the UI's own, no request of any
page fails (the favicon included), and the live page says in plain words why the camera would not start.

Screenshots of every page at 820 px are kept in ``var/test-artifacts/tablet-820/``.
"""

from __future__ import annotations

import httpx
from support.browser import ARGS, CHROMIUM, fits, playwright_or_skip, problems
from support.gateway import tokens_for
from support.serve import ROOT, live_gateway

from gateway.web.ui import face_mesh_assets

ARTIFACTS = ROOT / "var" / "test-artifacts" / "tablet-820"
UPRIGHT = {"width": 820, "height": 1180}
OTHER_WIDTHS = (768, 834)
SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"
CALM, PAINFUL = "MRN-TABLET-CALM", "MRN-TABLET-PAIN"
EXAMPLE = ROOT / "examples" / "synthetic-pain-8s.npz"
"""The README's synthetic example (scripts/make_examples.py): its assessment page must show a region that stands out."""
BROWSER_MESSAGES = ("Requested device not found", "Permission denied", "NotFoundError", "NotAllowedError")
"""What Chromium itself says when getUserMedia fails: the page must say it in words a nurse can act on."""
START_S = 120
"""A wait for the server, not a speed claim: a machine busy with other test runs takes a while to start it."""


def token(gateway, role: str) -> str:
    """A token of ``role`` in the served gateway's database (made in process: a CLI start costs seconds)."""
    return tokens_for(gateway.env["PAIN_GATEWAY_DATABASE_URL"], "default")[role]["Authorization"].split(" ", 1)[1]


def post_example(http: httpx.Client) -> httpx.Response:
    """The README's first keypoints request: the synthetic example clip (mild, then significant) as a form."""
    fields = {"patient_system": SYSTEM, "patient_value": PAINFUL, "captured_at": "2026-11-24T09:30:00Z", "fps": "30", "image_size": "480,480"}
    with EXAMPLE.open("rb") as clip:
        return http.post("/v1/assessments", data=fields, files={"keypoints": (EXAMPLE.name, clip, "application/octet-stream")})


def shoot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def check_every_width(page, name: str, found: list[str]) -> None:
    """At 820 px (screenshot kept), then at the other tablet widths, then back at 820: adds what does not fit to ``found``."""
    found.extend(problems(page))
    shoot(page, name)
    for width in OTHER_WIDTHS:
        page.set_viewport_size({"width": width, "height": UPRIGHT["height"]})
        found.extend(problems(page))
    page.set_viewport_size(UPRIGHT)


OWN_SHOTS = "[0-9][0-9]-*.png"


def test_every_ui_page_fits_a_tablet_held_upright(tmp_path, keypoints_json):
    sync_api = playwright_or_skip()
    face_mesh_assets.ensure()  # what `make test` did already: the pinned npm files, sha512-checked
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob(OWN_SHOTS):  # only this test's: other tests (pain alerts) keep theirs in this folder
        old.unlink()
    with live_gateway(tmp_path, start_s=START_S) as gateway:
        integrator, clinician = token(gateway, "integrator"), token(gateway, "clinician")
        with httpx.Client(base_url=gateway.origin, headers={"Authorization": f"Bearer {integrator}"}, timeout=120) as http:
            calm = http.post("/v1/assessments", json=keypoints_json(patient={"identifier": {"system": SYSTEM, "value": CALM}}))
            pain = post_example(http)
            assert calm.status_code == 201 and pain.status_code == 201, (calm.text, pain.text)
        assessment = pain.json()
        assert assessment["summary"]["level"] in ("mild", "significant"), assessment["summary"]

        failed: list[str] = []
        unfit: list[str] = []  # every page is measured before the test says what did not fit
        visited: set[str] = set()
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            try:
                page = browser.new_page(viewport=UPRIGHT)
                page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)

                page.goto(f"{gateway.origin}/ui/worklist")
                assert "/ui/sign-in" in page.url
                check_every_width(page, "01-sign-in", unfit)
                page.fill("#token", clinician)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url(f"{gateway.origin}/ui/worklist")
                check_every_width(page, "02-worklist", unfit)
                visited.add("/ui/worklist")

                # The whole row opens the assessment: a cell that is no link, at the row's far end, opens it too.
                row = page.get_by_role("row").filter(has_text=PAINFUL)
                last_cell = row.get_by_role("cell").last
                box = last_cell.bounding_box()
                assert box["x"] + box["width"] <= UPRIGHT["width"], "the row's last column is off screen"
                assert last_cell.get_by_role("link").count() == 0
                page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # a tap there, as a finger does
                page.wait_for_url(f"{gateway.origin}/ui/assessments/{assessment['id']}")
                visited.add("/ui/assessments/")

                # The heatmap is drawn in the page at the size it is shown, and a region stands out on it.
                heatmap = page.locator("svg.heatmap")
                assert heatmap.count() == 1
                importance = [float(v) for v in heatmap.locator("[data-importance]").evaluate_all("es => es.map(e => e.dataset.importance)")]
                assert page.locator("table .tag", has_text="stands out").count() == 1, "no region stands out in this painful clip"
                assert max(importance) >= 0.05, importance
                assert page.locator("svg.chart text").count() > 20
                check_every_width(page, "03-assessment", unfit)

                # A refused review: Override with no level. The page comes back at the form, the error in view and focused.
                page.get_by_role("radio", name="Override").check()
                page.get_by_label("Reason").select_option("patient-report")
                page.get_by_label("Comment").fill("Kept after a refusal.")
                page.get_by_role("button", name="Record review").click()
                page.wait_for_url(f"{gateway.origin}/ui/assessments/{assessment['id']}/review#review-error")
                page.wait_for_function(
                    "() => document.activeElement && document.activeElement.id === 'review-error'"
                )  # a function: the page's CSP forbids eval
                error = page.locator("#review-error")
                assert error.get_attribute("role") == "alert" and error.inner_text().startswith("level:")
                top, bottom = error.evaluate("e => [e.getBoundingClientRect().top, e.getBoundingClientRect().bottom]")
                assert 0 <= top and bottom <= UPRIGHT["height"], (top, bottom)
                assert page.get_by_role("radio", name="Override").is_checked()
                assert page.get_by_label("Reason").input_value() == "patient-report"
                assert page.get_by_label("Comment").input_value() == "Kept after a refusal."
                page.screenshot(path=str(ARTIFACTS / "04-refused-review.png"))  # the viewport: what the clinician sees
                fits(page)
                page.get_by_label("Observed level (for an override)").select_option("none")
                page.get_by_role("button", name="Record review").click()
                page.wait_for_url(f"{gateway.origin}/ui/assessments/{assessment['id']}?reviewed=1#history")

                page.locator("dl.facts").get_by_role("link", name="STA-LSTM", exact=False).first.click()
                page.wait_for_url(f"{gateway.origin}/ui/models/{assessment['model']['model_id']}")
                main = page.inner_text("main")
                assert "What it was trained on" in main and "What it cannot do" in main and "Its measured figures" in main
                assert "synthetic" in main.lower() and "Not clinically validated" in page.inner_text("body")
                check_every_width(page, "05-model-summary", unfit)
                page.get_by_role("link", name="Full model card").click()
                page.wait_for_url(f"{gateway.origin}/ui/models/{assessment['model']['model_id']}/card")
                check_every_width(page, "06-model-card", unfit)
                visited.add("/ui/models/")

                page.goto(f"{gateway.origin}/ui/monitoring")
                assert "unreliable" in page.inner_text("main")
                check_every_width(page, "07-monitoring", unfit)
                visited.add("/ui/monitoring")

                page.goto(f"{gateway.origin}/ui/live")
                check_every_width(page, "08-live", unfit)
                visited.add("/ui/live")

                page.goto(f"{gateway.origin}/ui/assesments/typo")
                assert page.get_by_role("heading", name="Page not found").count() == 1 and "/ui/assesments/typo" in page.inner_text("main")
                check_every_width(page, "09-not-found", unfit)

                # Every other page the UI links to (the patient page, plugins' pages in the menu).
                page.goto(f"{gateway.origin}/ui/assessments/{assessment['id']}")
                links = page.eval_on_selector_all("header nav a, main a", "as => as.map(a => a.getAttribute('href'))")
                pages = {h.split("#")[0] for h in links if h.startswith("/ui/") and not h.endswith((".png", ".csv", ".pdf"))}
                others = sorted(h for h in pages if not any(h.startswith(v) for v in visited))
                assert any(h.startswith("/ui/patients?patient=") for h in others), others  # the core patient page, linked from here
                for n, href in enumerate(others, start=10):
                    page.goto(gateway.origin + href)
                    check_every_width(page, f"{n:02d}-" + href.strip("/").split("?")[0].replace("/", "-"), unfit)
            finally:
                browser.close()

    assert unfit == [], "\n".join(unfit)
    unexpected = [f for f in failed if not f.startswith(("404 " + f"{gateway.origin}/ui/assesments/typo", "422 " + f"{gateway.origin}/ui/assessments/"))]
    assert unexpected == [], unexpected  # the favicon and every file a page loads are there
    shots = sorted(p.name for p in ARTIFACTS.glob(OWN_SHOTS))
    assert len(shots) >= 9 and all((ARTIFACTS / s).read_bytes().startswith(b"\x89PNG") for s in shots), shots


def test_the_live_page_says_in_plain_words_why_the_camera_did_not_start(tmp_path):
    sync_api = playwright_or_skip()
    face_mesh_assets.ensure()
    with live_gateway(tmp_path, start_s=START_S) as gateway:
        clinician = token(gateway, "clinician")
        said = {}
        with sync_api.sync_playwright() as p:
            # No camera at all (access granted); a (fake) camera the browser is not allowed to use (its prompt is refused).
            for case, flags, permissions in (("no camera", [], ["camera"]), ("not allowed", ["--use-fake-device-for-media-stream"], [])):
                browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[*ARGS, *flags])
                try:
                    page = browser.new_context(viewport=UPRIGHT, permissions=permissions).new_page()
                    page.goto(f"{gateway.origin}/ui/live")
                    page.fill("#token", clinician)
                    page.get_by_role("button", name="Sign in").click()
                    page.wait_for_url(f"{gateway.origin}/ui/live")
                    page.fill("#system", SYSTEM)
                    page.fill("#value", "MRN-LIVE-NO-CAMERA")
                    page.click("#start")
                    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'live-error'", timeout=30_000)
                    said[case] = page.inner_text("#live-error")
                    assert page.get_attribute("#live-error", "role") == "alert" and page.is_enabled("#start")
                    page.screenshot(path=str(tmp_path / f"live-{case}.png"))
                finally:
                    browser.close()
    for case, text in said.items():
        assert not any(m in text for m in BROWSER_MESSAGES), (case, text)
        assert "camera" in text and "press Start again" in text, (case, text)
    assert said["no camera"].startswith("No camera was found") and said["not allowed"].startswith("The browser was not allowed"), said
