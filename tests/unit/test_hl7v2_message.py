"""The hl7v2 output: an ORU^R01 2.5.1 that hl7apy parses and validates strictly, deterministic per content."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.assessments import make_assessment

from fhir_mappings import load_mappings
from gateway.contract.domain import LEVELS, Assessment, PatientRef, Summary
from gateway.contract.protocols import Output
from plugins.hl7v2.message import MEDIA_TYPE, Hl7v2Output, control_id_of, probe_assessment
from plugins.hl7v2.settings import Hl7v2Settings

START = datetime(2026, 1, 1, 11, 55, tzinfo=UTC)
MAPPINGS = load_mappings()
PEAKS = {"none": 0.05, "mild": 0.15, "significant": 0.8}
# hl7apy's 2.5.1 tables predate CWE in table 0125 and UCUM in table 0396 (both are valid 2.5.1 values);
# these are the only table warnings a valid message may produce.
KNOWN_TABLE_GAPS = {"Value CWE not in table HL70125 in element OBX.OBX_2", "Value UCUM not in table HL70396 in element OBX_6.CE_3"}


def assessment(level: str | None = "mild", status: str = "preliminary", **changes) -> Assessment:
    fields = {"id": "0f1c2d3e-aaaa-4bbb-8ccc-0123456789ab", "patient": PatientRef(system="urn:oid:1.2.36.146.595.217.0.1", value="MRN-7")}
    return make_assessment(start=START, level=level, peaks=PEAKS, clinical_status=status, **fields | changes)


def render(a: Assessment, **settings) -> bytes:
    return Hl7v2Output(Hl7v2Settings(**settings), MAPPINGS).render(a).content


def strictly_valid(content: bytes, tmp_path) -> None:
    """Parses with hl7apy at STRICT, validates (errors raise), and allows only known table-data gaps."""
    message = parse_message(content.decode("utf-8"), validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    report = tmp_path / "validation.txt"
    assert message.validate(report_file=str(report))
    warnings = {line.removeprefix("Warning: ") for line in report.read_text().splitlines()}
    assert warnings <= KNOWN_TABLE_GAPS
    assert [c.name for c in message.children] == ["MSH", "ORU_R01_PATIENT_RESULT"]


def segments(content: bytes) -> list[list[str]]:
    return [s.split("|") for s in content.decode("utf-8").split("\r") if s]


def field(content: bytes, segment: str, number: int, occurrence: int = 0) -> str:
    """Field ``number`` of the n-th ``segment`` (MSH counts its field separator as MSH-1)."""
    rows = [s for s in segments(content) if s[0] == segment]
    return rows[occurrence][number - 1 if segment == "MSH" else number]


def test_output_satisfies_the_contract():
    output = Hl7v2Output(Hl7v2Settings(), MAPPINGS)
    assert isinstance(output, Output)
    document = output.render(assessment())
    assert (output.name, output.media_type, document.output, document.media_type) == ("hl7v2", "x-application/hl7-v2+er7", "hl7v2", MEDIA_TYPE)
    assert document.meta["control_id"] == control_id_of(document.content) == field(document.content, "MSH", 10)
    assert document.meta["result_status"] == "P"


@pytest.mark.parametrize("level", [*LEVELS, None])
def test_every_level_passes_strict_validation(level, tmp_path):
    strictly_valid(render(assessment(level)), tmp_path)


def test_segment_layout_and_fields(tmp_path):
    content = render(assessment("mild"), sending_facility="CLINIC_A", receiving_application="EPIC")
    assert content.endswith(b"\r") and b"\n" not in content
    assert [s[0] for s in segments(content)] == ["MSH", "PID", "OBR", "OBX", "NTE", "OBX", "OBX", "OBX"]
    assert field(content, "MSH", 9) == "ORU^R01^ORU_R01"
    assert (field(content, "MSH", 11), field(content, "MSH", 12)) == ("P", "2.5.1")
    assert (field(content, "MSH", 4), field(content, "MSH", 5)) == ("CLINIC_A", "EPIC")
    assert field(content, "MSH", 7) == "20260101115506+0000"
    assert field(content, "PID", 3) == "MRN-7^^^&1.2.36.146.595.217.0.1&ISO^MR"
    assert field(content, "OBR", 3) == "0f1c2d3e-aaaa-4bbb-8ccc-0123456789ab^PAIN_GATEWAY"
    assert (field(content, "OBR", 7), field(content, "OBR", 8)) == ("20260101115500+0000", "20260101115505+0000")
    level = segments(content)[3]
    assert level[2] == "CWE" and level[3].startswith("ai-facial-pain-class^")
    assert level[5] == "mild-pain^Mild pain^L^LA15111-0^Mild pain^LN"  # local code, LOINC alternate
    assert level[14] == "20260101115500+0000"
    assert level[17].startswith("mediapipe468-stlstm^")
    assert level[18] == "sta-lstm-synth:1.0.0^PAIN_GATEWAY"
    assert "AI-asserted" in field(content, "NTE", 3) and "synthetic data" in field(content, "NTE", 3)
    probabilities = [s for s in segments(content) if s[0] == "OBX"][1:]
    assert [(s[2], s[3].split("^")[0], s[5], s[6]) for s in probabilities] == [
        ("NM", "prob-no-pain", "0.05", "1^^UCUM"),
        ("NM", "prob-mild-pain", "0.15", "1^^UCUM"),
        ("NM", "prob-significant-pain", "0.8", "1^^UCUM"),
    ]
    strictly_valid(content, tmp_path)


def test_level_without_loinc_mapping_has_no_alternate():
    assert field(render(assessment("significant")), "OBX", 5) == "significant-pain^Significant pain^L"


@pytest.mark.parametrize(("status", "code"), [("preliminary", "P"), ("scored", "P"), ("final", "F"), ("amended", "C"), ("corrected", "C")])
def test_result_status_drives_obr25_and_every_obx11(status, code, tmp_path):
    content = render(assessment("mild", status=status))
    assert field(content, "OBR", 25) == code
    assert {s[11] for s in segments(content) if s[0] == "OBX"} == {code}
    strictly_valid(content, tmp_path)


def test_rendering_is_deterministic_and_survives_a_json_round_trip():
    a = assessment("mild")
    again = msgspec.json.decode(msgspec.json.encode(a), type=Assessment)
    assert render(a) == render(a) == render(again)


def test_control_id_changes_with_status_and_content_only():
    ids = {
        name: field(render(a), "MSH", 10)
        for name, a in {
            "p": assessment("mild"),
            "p-again": assessment("mild"),
            "f": assessment("mild", status="final"),
            "c": assessment("mild", status="amended"),
            "c-other": assessment("significant", status="amended"),
            "other-id": assessment("mild", id="another"),
        }.items()
    }
    assert ids["p"] == ids["p-again"]
    assert len({ids[k] for k in ("p", "f", "c", "c-other", "other-id")}) == 5
    assert all(len(v) == 20 for v in ids.values())


def test_no_scorable_window_sends_an_empty_value_with_status_x_and_the_reason(tmp_path):
    content = render(assessment(None))
    assert [s[0] for s in segments(content)] == ["MSH", "PID", "OBR", "OBX", "NTE", "NTE"]
    assert field(content, "OBX", 5) == "" and field(content, "OBX", 11) == "X"
    assert field(content, "OBR", 25) == "P"
    assert "No scorable window" in field(content, "NTE", 3, occurrence=1)
    strictly_valid(content, tmp_path)


@pytest.mark.parametrize(
    ("reference", "pid3"),
    [
        ("Patient/123", "123^^^FHIR^PI"),
        ("https://ehr.example.org/fhir/Patient/123/_history/4", "123^^^FHIR&https://ehr.example.org/fhir&URI^PI"),
        ("urn:uuid:5b1e1c52-0d9c-4d7e-9c1e-3f1f0e5d8a11", "urn:uuid:5b1e1c52-0d9c-4d7e-9c1e-3f1f0e5d8a11^^^FHIR^PI"),
    ],
)
def test_patient_by_reference(reference, pid3, tmp_path):
    content = render(assessment(patient=PatientRef(reference=reference)))
    assert field(content, "PID", 3) == pid3
    strictly_valid(content, tmp_path)


def test_patient_with_identifier_and_reference_repeats_pid3(tmp_path):
    content = render(assessment(patient=PatientRef(system="https://hospital.example/mrn", value="42", reference="Patient/abc")))
    assert field(content, "PID", 3) == "42^^^&https://hospital.example/mrn&URI^MR~abc^^^FHIR^PI"
    strictly_valid(content, tmp_path)


def test_delimiters_in_data_are_escaped(tmp_path):
    content = render(assessment(patient=PatientRef(value="A|B^C~D&E\\F"), disclaimer="Line one\nline two | see ^ & ~"))
    assert field(content, "PID", 3) == "A\\F\\B\\S\\C\\R\\D\\T\\E\\E\\F^^^^MR"
    assert field(content, "NTE", 3).endswith("Line one line two \\F\\ see \\S\\ \\T\\ \\R\\")
    strictly_valid(content, tmp_path)


def test_unusable_assessments_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        render(assessment(effective_start=datetime(2026, 1, 1, 11, 55)))
    with pytest.raises(ValueError, match="unknown pain level"):
        render(assessment("agony"))
    with pytest.raises(ValueError, match="patient"):
        render(assessment(patient=PatientRef()))


def test_probe_message_is_patient_free(tmp_path):
    content = render(probe_assessment(datetime.now(UTC)))
    assert field(content, "PID", 3) == "PAIN-GATEWAY-PROBE^^^^MR"
    strictly_valid(content, tmp_path)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    level=st.sampled_from([*LEVELS, None]),
    status=st.sampled_from(["preliminary", "final", "amended", "scored"]),
    peaks=st.dictionaries(st.sampled_from(LEVELS), st.floats(0, 1, allow_nan=False)),
    value=st.text(st.characters(blacklist_categories=["Cs"]) | st.sampled_from("\x0b\x1c\r\n|^~&\\"), min_size=1, max_size=40).filter(str.strip),
    disclaimer=st.text(max_size=200),
)
def test_any_result_renders_a_strictly_valid_message(level, status, peaks, value, disclaimer, tmp_path):
    summary = Summary(level=level, rule="test", time_share={}, peak_probability=peaks, scored_windows=1, unscorable_windows=0)
    a = assessment(status=status, summary=summary, patient=PatientRef(value=value), disclaimer=disclaimer)
    content = render(a)
    strictly_valid(content, tmp_path)
    assert len([s for s in segments(content) if s[0] == "OBX"]) == 1 + len(peaks)
    assert b"\x0b" not in content and b"\x1c" not in content  # nothing can break MLLP framing


def test_an_override_sends_the_clinicians_level_as_a_correction_with_the_ai_level_kept(tmp_path):
    ai = assessment("mild")
    overridden = assessment("mild", status="amended", clinical_version=2, clinician_level="significant", reviewed_by="dr-kim")
    content = render(overridden)
    assert field(content, "OBR", 25) == "C" and {s[11] for s in segments(content) if s[0] == "OBX"} == {"C"}
    assert field(content, "OBX", 5) == "significant-pain^Significant pain^L"  # OBX-5: the clinician's level
    last = [s for s in segments(content) if s[0] == "OBX"][-1]
    assert last[3].startswith("ai-original-class^") and last[5].startswith("mild-pain^Mild pain^L")  # and the AI's beside it
    assert "overridden by clinician dr-kim" in content.decode()
    assert field(content, "MSH", 10) != field(render(ai), "MSH", 10)  # a new message, not a resend
    strictly_valid(content, tmp_path)


def test_a_first_visits_reliability_follows_the_disclaimer_as_ntes_and_stays_strictly_valid(tmp_path):
    from gateway.contract.domain import Reliability

    measured = "Measured without one: PSPI 8 significant for 93% | of them."
    first_visit = Reliability(baseline="none", measured=measured, unfamiliar_windows=2, typicality_below=0.01)
    content = render(assessment(reliability=first_visit))
    strictly_valid(content, tmp_path)
    notes = [s[3] for s in segments(content) if s[0] == "NTE"]
    assert "AI-asserted" in notes[0]
    assert notes[1].startswith("No neutral baseline was stored for this patient") and "93% \\F\\ of them" in notes[1]  # | escaped as \F\
    assert notes[2].startswith("2 of ") and "looked unlike the data the model was calibrated on" in notes[2]
