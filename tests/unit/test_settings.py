"""Settings come from defaults, a TOML file and PAIN_GATEWAY_* variables, and stop start-up when wrong."""

from __future__ import annotations

import msgspec
import pytest

from gateway.ops.settings import Settings, SettingsError, load_settings


def test_embedded_defaults_need_nothing():
    settings = load_settings({})
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert (settings.host, settings.port, settings.sustained_windows) == ("127.0.0.1", 8000, 2)


def test_environment_overrides_the_file(tmp_path):
    config = tmp_path / "gateway.toml"
    config.write_text('port = 9000\nmodel = "from-file"\n')
    settings = load_settings({"PAIN_GATEWAY_CONFIG": str(config), "PAIN_GATEWAY_PORT": "9100"})
    assert (settings.port, settings.model) == (9100, "from-file")


def test_plugin_lists_are_comma_separated():
    settings = load_settings({"PAIN_GATEWAY_DISABLED_PLUGINS": "a, b"})
    assert settings.disabled_plugins == ["a", "b"]
    assert not settings.plugin_enabled("a") and settings.plugin_enabled("c")


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"PAIN_GATEWAY_PORTT": "1"}, "PAIN_GATEWAY_PORTT"),
        ({"PAIN_GATEWAY_PORT": "70000"}, "PAIN_GATEWAY_PORT"),
        ({"PAIN_GATEWAY_PORT": "eighty"}, "port"),
        ({"PAIN_GATEWAY_LOG_FORMAT": "xml"}, "PAIN_GATEWAY_LOG_FORMAT"),
        ({"PAIN_GATEWAY_CONFIG": "/nonexistent.toml"}, "PAIN_GATEWAY_CONFIG"),
    ],
)
def test_bad_settings_name_the_setting(environ, named):
    with pytest.raises(SettingsError, match=named):
        load_settings(environ)


def test_unknown_key_in_file_is_rejected(tmp_path):
    config = tmp_path / "gateway.toml"
    config.write_text("prot = 1\n")
    with pytest.raises(SettingsError, match="prot"):
        load_settings({"PAIN_GATEWAY_CONFIG": str(config)})


class Example(msgspec.Struct):
    url: str = "http://default"
    timeout_s: float = 5.0


def test_plugin_settings_bind_from_file_and_environment():
    settings = Settings(plugins={"example": {"url": "http://file"}})
    settings.bind_plugin_settings({"example": Example}, {"PAIN_GATEWAY_PLUGIN_EXAMPLE_TIMEOUT_S": "2.5"})
    assert settings.plugin_config("example") == Example(url="http://file", timeout_s=2.5)


@pytest.mark.parametrize(
    ("plugins", "environ", "named"),
    [
        ({"nobody": {}}, {}, "plugins.nobody"),
        ({}, {"PAIN_GATEWAY_PLUGIN_EXAMPLE_URLL": "x"}, "PAIN_GATEWAY_PLUGIN_EXAMPLE_URLL"),
        ({"example": {"timeout_s": "soon"}}, {}, "example"),
    ],
)
def test_bad_plugin_settings_name_the_setting(plugins, environ, named):
    with pytest.raises(SettingsError, match=named):
        Settings(plugins=plugins).bind_plugin_settings({"example": Example}, environ)
