"""hl7v2 settings: one receiver from the environment, several from TOML, bad values named at start-up."""

from __future__ import annotations

import pytest

import plugins.hl7v2 as hl7v2
from gateway.contract.protocols import Destination, Output
from gateway.ops.settings import Settings, SettingsError, load_settings
from plugins.hl7v2.settings import Hl7v2Settings

ENV = "PAIN_GATEWAY_PLUGIN_HL7V2_"
TOML = """
[plugins.hl7v2]
sending_facility = "CLINIC_A"

[[plugins.hl7v2.destinations]]
name = "lab"
host = "lab.example.org"

[[plugins.hl7v2.destinations]]
name = "ward-3"
host = "10.0.0.7"
port = 6661
timeout_s = 2.5
"""


def bound(environ: dict[str, str], toml: str = "", tmp_path=None) -> Settings:
    """Settings as the gateway binds them: file, environment, then this plugin's section."""
    config = None
    if toml:
        config = tmp_path / "gateway.toml"
        config.write_text(toml)
    settings = load_settings({k: v for k, v in environ.items() if not k.startswith(ENV)}, config_file=config)
    schemas: dict[str, type] = {}
    hl7v2.register_settings(schemas.__setitem__)
    settings.bind_plugin_settings(schemas, environ)
    return settings


def registered(settings: Settings) -> tuple[list, list]:
    outputs: list = []
    destinations: list = []
    hl7v2.register_outputs(outputs.append, settings)
    hl7v2.register_destinations(destinations.append, settings)
    return outputs, destinations


def test_defaults_register_the_output_and_no_destination():
    settings = bound({})
    config = settings.plugin_config("hl7v2")
    assert (config.host, config.port, config.timeout_s, config.processing_id) == ("", 2575, 10.0, "P")
    assert (config.sending_application, config.receiving_application) == ("PAIN_GATEWAY", "EMR")
    outputs, destinations = registered(settings)
    assert [o.name for o in outputs] == ["hl7v2"] and isinstance(outputs[0], Output)
    assert destinations == []


def test_environment_receiver_is_destination_hl7v2():
    settings = bound({f"{ENV}HOST": "emr.example.org", f"{ENV}PORT": "6661", f"{ENV}TIMEOUT_S": "3", f"{ENV}RECEIVING_FACILITY": "WARD"})
    _, destinations = registered(settings)
    assert [d.name for d in destinations] == ["hl7v2"]
    destination = destinations[0]
    assert isinstance(destination, Destination) and destination.output == "hl7v2"
    assert (destination.receiver.host, destination.receiver.port, destination.receiver.timeout_s) == ("emr.example.org", 6661, 3.0)
    assert destination.settings.receiving_facility == "WARD"


def test_toml_receivers_are_named_destinations(tmp_path):
    settings = bound({f"{ENV}HOST": "emr.example.org"}, TOML, tmp_path)
    _, destinations = registered(settings)
    assert [d.name for d in destinations] == ["hl7v2", "hl7v2:lab", "hl7v2:ward-3"]
    assert (destinations[1].receiver.port, destinations[1].receiver.timeout_s) == (2575, 10.0)
    assert (destinations[2].receiver.host, destinations[2].receiver.port) == ("10.0.0.7", 6661)
    assert settings.plugin_config("hl7v2").sending_facility == "CLINIC_A"


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({f"{ENV}PORT": "0"}, "PAIN_GATEWAY_PLUGIN_HL7V2_PORT"),
        ({f"{ENV}PORT": "70000"}, "PAIN_GATEWAY_PLUGIN_HL7V2_PORT"),
        ({f"{ENV}PORT": "eighty"}, "port"),
        ({f"{ENV}TIMEOUT_S": "0"}, "PAIN_GATEWAY_PLUGIN_HL7V2_TIMEOUT_S"),
        ({f"{ENV}SENDING_APPLICATION": ""}, "PAIN_GATEWAY_PLUGIN_HL7V2_SENDING_APPLICATION"),
        ({f"{ENV}RECEIVING_FACILITY": "A^B"}, "PAIN_GATEWAY_PLUGIN_HL7V2_RECEIVING_FACILITY"),
        ({f"{ENV}PROCESSING_ID": "X"}, "PAIN_GATEWAY_PLUGIN_HL7V2_PROCESSING_ID"),
        ({f"{ENV}HOST": "emr host"}, "PAIN_GATEWAY_PLUGIN_HL7V2_HOST"),
        ({f"{ENV}HOSTNAME": "emr"}, "PAIN_GATEWAY_PLUGIN_HL7V2_HOSTNAME"),
    ],
)
def test_bad_environment_values_name_the_setting(environ, named):
    with pytest.raises(SettingsError, match=named):
        bound(environ)


@pytest.mark.parametrize(
    ("table", "named"),
    [
        ('name = ""\nhost = "a"', "name of ''"),
        ('name = "has space"\nhost = "a"', "name of 'has space'"),
        ('name = "lab"\nhost = ""', "host of 'lab'"),
        ('name = "lab"\nhost = "a"\nport = 65536', "port of 'lab'"),
        ('name = "lab"\nhost = "a"\ntimeout_s = -1', "timeout_s of 'lab'"),
        ('name = "lab"\nhost = "a"\nuser = "x"', "user"),
        ('host = "a"', "name"),
    ],
)
def test_bad_toml_receivers_name_the_setting(table, named, tmp_path):
    with pytest.raises(SettingsError, match=named):
        bound({}, f"[[plugins.hl7v2.destinations]]\n{table}\n", tmp_path)


def test_receiver_names_are_unique(tmp_path):
    toml = '[[plugins.hl7v2.destinations]]\nname = "lab"\nhost = "a"\n' * 2
    with pytest.raises(SettingsError, match="names must be unique"):
        bound({}, toml, tmp_path)


def test_site_mappings_reach_the_message(tmp_path):
    site = tmp_path / "site.yaml"
    site.write_text("values: {mild: {codings: {gateway: {code: site-mild}}}}\n")
    settings = bound({f"{ENV}MAPPINGS_PATH": str(site)})
    (output,), _ = registered(settings)
    assert output.mappings.values["mild"].codings["gateway"].code == "site-mild"


def test_struct_defaults_are_valid():
    assert Hl7v2Settings().receivers() == []
