"""docs/guides/emr-embed.md says what an EMR integrator writes and registers: its settings example loads
into the plugins' settings, its URLs are routes the gateway serves, its pinned harness commits are the
ones the tests build, and its variables are the ones the harness reads."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import msgspec
from joserfc.jwk import ECKey
from support import harness

from plugins.cds_hooks.cards import SERVICE
from plugins.cds_hooks.settings import CdsHooksSettings
from plugins.smart_launch.settings import DEFAULT_SCOPE, SmartLaunchSettings

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "guides" / "emr-embed.md").read_text()


def test_the_settings_example_loads_as_written(tmp_path):
    example = re.search(r"```toml\n(.*?)```", GUIDE, re.S).group(1)
    key = ECKey.generate_key("P-384", auto_kid=True)
    (tmp_path / "key.pem").write_bytes(key.as_pem(private=True))
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    example = example.replace("/etc/pain-gateway/smart-es384.pem", str(tmp_path / "key.pem")).replace(
        "/etc/pain-gateway/ehr-cds-jwks.json", str(tmp_path / "jwks.json")
    )
    loaded = tomllib.loads(example)
    smart = msgspec.convert(loaded["plugins"]["smart_launch"], SmartLaunchSettings)
    assert smart.issuers[0].client_type == "private_key_jwt" and smart.issuers[0].alg == "ES384"
    cds = msgspec.convert(loaded["plugins"]["cds_hooks"], CdsHooksSettings)
    assert cds.clients[0].pinned() is not None and cds.lookback_h == 24


def test_the_registration_values_are_what_the_app_sends_and_serves(gateway_for):
    assert DEFAULT_SCOPE in GUIDE and SERVICE.id in GUIDE and "Patient/{{context.patientId}}" in GUIDE
    routes = {route.path for route in gateway_for().client.app.routes}
    for path in ("/ui/smart/launch", "/ui/smart/callback", "/cds-services", f"/cds-services/{SERVICE.id}", f"/cds-services/{SERVICE.id}/feedback"):
        assert path in GUIDE and path in routes, path


def test_the_harness_section_names_the_variables_and_commits_the_tests_use():
    assert harness.LAUNCHER_ENV in GUIDE and harness.SANDBOX_ENV in GUIDE
    vendor = ROOT.parent / "shared" / "vendor"
    for name in ("smart-launcher-v2", "cds-hooks-sandbox"):
        pinned = vendor / f"{name}.commit"
        if pinned.exists():  # the checkout CI uses: the guide pins the same commit
            assert pinned.read_text().strip() in GUIDE, name
    ci = (ROOT / ".ci" / "run").read_text()
    assert f'export {harness.LAUNCHER_ENV}="$VENDOR/smart-launcher-v2"' in ci and f'export {harness.SANDBOX_ENV}="$VENDOR/cds-hooks-sandbox"' in ci
