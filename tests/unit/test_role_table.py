"""The roles table in docs/getting-started.md is what the routes allow: every route's ``opt["roles"]``
(admin always allowed by ``gateway.web.auth.role_guard``) against the rows that name its capability."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.web.routes.reviews import REVIEWERS

DOC = Path(__file__).parents[2] / "docs" / "getting-started.md"

CAPABILITIES = [  # (phrase in the table, method, path pattern): the first match names a route's capability
    ("submit keypoints and video and retry them", "POST", r"/v1/assessments(/[^/]+/retry)?"),
    ("review assessments", "POST", r"/v1/assessments/[^/]+/review"),
    ("share caregiver summaries", "POST", r"/v1/(assessments/[^/]+|patients)/caregiver-summary/share"),
    ("pain trajectories and open alerts", "GET", r"/v1/patients/(trajectory|alerts)"),
    ("record interventions and acknowledge alerts", "POST", r"/v1/patients/(interventions|alerts/[^/]+/acknowledge)"),
    ("read assessments, outputs, reviews, explanations, model cards and caregiver summaries", "GET", r"/v1/(assessments|models|patients)(/.*)?"),
    ("set baselines", "PUT", r"/v1/patients/baseline"),
    ("deliveries and redelivery", "*", r"/v1/deliveries(/.*)?"),
    ("webhook endpoints", "*", r"/v1/webhook-endpoints(/.*)?"),
    ("the FHIR facade", "*", r"/fhir/.*"),
    ("monitoring export", "GET", r"/v1/model-monitoring/export"),
    ("model monitoring", "GET", r"/v1/model-monitoring"),
    ("live sessions", "POST", r"/v1/live/sessions(/.*)?"),
    ("the audit trail", "GET", r"/v1/audit(/fhir)?"),
    ("`/metrics` and `/v1/plugins`", "GET", r"/metrics|/v1/plugins"),
    ("list reference scales", "GET", r"/v1/reference-scales"),
    ("record reference-scale scores", "POST", r"/v1/patients/scale-scores"),
    ("concordance with reference scales", "GET", r"/v1/concordance(\.csv|/pairs(\.csv)?)?"),
]


def documented_roles() -> dict[str, str]:
    rows = re.findall(r"^\| `(\w+)` \| (.+) \|$", DOC.read_text(), flags=re.M)
    return dict(rows)


def capability(method: str, path: str) -> str:
    for phrase, allowed_method, pattern in CAPABILITIES:
        if allowed_method in ("*", method) and re.fullmatch(pattern, path):
            return phrase
    raise AssertionError(f"{method} {path}: no capability in the roles table names it; add it to the table and CAPABILITIES")


def test_every_route_allows_the_roles_the_documented_table_gives_it(api):
    table = documented_roles()
    assert set(table) == {"integrator", "telehealth", "clinician", "admin"}
    for phrase, _, _ in CAPABILITIES:
        assert any(phrase in row for row in table.values()), f"{phrase!r} is in no row of the roles table"
    checked = 0
    for route in api.client.app.routes:
        path = re.sub(r"\{\w+:\w+\}", "x", route.path)
        for handler in getattr(route, "route_handlers", ()):
            opt = handler.opt
            if handler.handler_name == "options_handler" or opt.get("public") or opt.get("ui") or handler.status_code == 405:
                continue
            if route.path.startswith(("/ui", "/schema", "/fhir/{fhir_path")):
                continue
            for method in handler.http_methods:
                phrase = capability(method, path)
                documented = {role for role, row in table.items() if phrase in row and not (role == "admin" and f"except {phrase}" in row)}
                allowed = (set(opt.get("roles", ())) | {"admin"}) - {"scraper"}
                if phrase == "review assessments":
                    allowed &= REVIEWERS  # the guard lets admins in; the route refuses them
                assert documented == allowed, f"{method} {route.path}: the table gives {sorted(documented)}, the route allows {sorted(allowed)}"
                if opt.get("installation"):
                    assert "admins of the `default` tenant only" in table["admin"], route.path
                checked += 1
    assert checked > 40


def test_the_admin_row_names_what_admins_may_do_for_their_tenant():
    admin = documented_roles()["admin"]
    for right in ("submit keypoints and video", "deliveries and redelivery", "share caregiver summaries", "webhook endpoints", "set baselines"):
        assert right in admin
    assert "except review assessments" in admin
