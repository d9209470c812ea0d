"""The README's and the docs site's settings are real: every variable they name exists, and their TOML examples load.

The README is short; most settings are named on the pages under docs/ (the configuration reference itself is
generated from the code when the site is built, so only the hand-written pages are read here)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import msgspec
import pytest
from joserfc.jwk import ECKey

from gateway.contract.plugin_manager import build_plugins
from gateway.ops.settings import CONFIG_ENV, ENV_PREFIX, PLUGIN_ENV_PREFIX, Settings, load_settings

ROOT = Path(__file__).parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
TEXT = {page.relative_to(ROOT).as_posix(): page.read_text() for page in PAGES}
README = "\n".join(TEXT.values())


def plugin_variables(plugins) -> set[str]:
    schemas = plugins.settings.__dict__["plugin_configs"]
    return {f"{PLUGIN_ENV_PREFIX}{name.upper()}_{f.name.upper()}" for name, config in schemas.items() for f in msgspec.structs.fields(type(config))}


def test_the_docs_pages_are_read():
    assert "README.md" in TEXT and "docs/guides/emr.md" in TEXT and "docs/configuration.md" in TEXT


def test_every_setting_the_readme_names_exists(plugins):
    named = set(re.findall(r"\bPAIN_GATEWAY_[A-Z0-9_]*[A-Z0-9]\b", README))
    core = {ENV_PREFIX + f.name.upper() for f in msgspec.structs.fields(Settings)} | {CONFIG_ENV}
    harness = set(re.findall(r"\bPAINGW_TEST_[A-Z0-9_]*[A-Z0-9]\b", README))  # the tests' own variables, not the gateway's
    support = "".join(path.read_text() for path in (ROOT / "tests" / "support").glob("*.py"))
    assert all(name in support for name in harness), f"the docs name test variables no test reads: {sorted(n for n in harness if n not in support)}"
    unknown = named - core - plugin_variables(plugins) - {PLUGIN_ENV_PREFIX.rstrip("_")}
    assert not unknown, f"the README or docs/ name settings that do not exist: {sorted(unknown)}"


def with_site_files(block: str, folder: Path) -> str:
    """The example with the files it names under /etc/pain-gateway (a site's own keys) made in ``folder``:
    a PEM private key for ``.pem``, that key's public JWKS for ``.json``."""
    key = ECKey.generate_key("P-384", auto_kid=True)
    for named in set(re.findall(r'"(/etc/pain-gateway/[^"]+)"', block)):
        local = folder / Path(named).name
        local.write_bytes(key.as_pem(private=True) if named.endswith(".pem") else json.dumps({"keys": [key.as_dict(private=False)]}).encode())
        block = block.replace(named, str(local))
    return block


@pytest.mark.parametrize("block", [b for b in re.findall(r"```toml\n(.*?)```", README, re.S) if "[[plugins." in b or "[plugins." in b])
def test_toml_examples_load(block, tmp_path):
    block = with_site_files(block, tmp_path)
    path = tmp_path / "settings.toml"
    path.write_text(block)
    tomllib.loads(block)
    build_plugins(load_settings({}, config_file=path), environ={})
