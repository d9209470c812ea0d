"""Scoring a clip with the bundled (synthetic-data) model: every window's level and quality come from
its own frames, the clip's id from its content, and a misbehaving plugin cannot corrupt the result."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
import structlog

from gateway.contract.domain import LEVELS, InputError, LandmarkClip, PatientRef
from gateway.pipeline.landmarks import prepare
from gateway.pipeline.quality import quality
from gateway.pipeline.scoring import _utc, content_id, score_clip
from gateway.pipeline.summary import summarise

PATIENT = PatientRef(system="urn:oid:1.2.3", value="MRN-1")
CAPTURED = datetime(2026, 11, 23, 12, 0, tzinfo=timezone(timedelta(hours=2)))


@pytest.fixture
def clip(face_points) -> LandmarkClip:
    points = face_points.copy()
    points[40:47] = np.nan  # a 7-frame gap: one window is unscorable
    return LandmarkClip(patient=PATIENT, captured_at=CAPTURED, fps=30.0, points=points, image_size=(640, 480))


def test_each_window_is_scored_from_its_own_frames(clip, plugins):
    scored = score_clip(clip, plugins, tenant="t1")
    a = scored.assessment
    settings = plugins.settings
    windows = prepare(clip, stride_s=settings.window_stride_s, max_gap_frames=settings.max_gap_frames)
    expected = plugins.model().predict(windows).probabilities
    assert [w.index for w in a.windows] == [s.index for s in windows.spans]
    assert [w.scorable for w in a.windows] == [s.scorable for s in windows.spans] and not all(w.scorable for w in a.windows)
    rows = iter(expected)
    for window, span in zip(a.windows, windows.spans, strict=True):
        frames = clip.points[int(span.start_s * 30) : max(int(span.end_s * 30), 1)]
        assert (window.start_s, window.end_s) == (span.start_s, span.end_s)
        assert window.quality == quality(frames, (640, 480))
        if span.scorable:
            row = next(rows)
            assert window.level == LEVELS[int(np.argmax(row))] and window.reason is None
            assert window.probabilities.as_tuple() == pytest.approx(tuple(row), abs=1e-6)
        else:
            assert window.level is None and window.probabilities is None and window.reason == span.reason
    assert len({w.quality.max_head_turn_deg for w in a.windows}) > 1  # windows differ: a shifted slice would show


def test_the_assessment_carries_the_clip_the_model_and_the_disclaimer(clip, plugins):
    scored = score_clip(clip, plugins, tenant="t1")
    a = scored.assessment
    model = plugins.model().info
    assert a.id == content_id(clip, model.sha256, "t1") and a.tenant == "t1"
    assert a.status == "completed" and a.clinical_status == "preliminary" and a.clinical_version == 1
    assert a.patient == PATIENT and a.source == clip.source and a.fps == 30.0 and a.frames == clip.frames
    assert a.captured_at == a.effective_start == datetime(2026, 11, 23, 10, 0, tzinfo=UTC) and a.captured_at.tzinfo == UTC
    assert a.effective_end == a.effective_start + timedelta(seconds=clip.duration_s)
    assert a.model == model and a.disclaimer == model.disclaimer and "synthetic" in a.disclaimer.lower()
    assert a.summary == summarise(a.windows, plugins.settings.sustained_windows)
    assert a.quality == quality(clip.points, (640, 480))
    assert a.personalised is False
    assert [e.explainer for e in a.explanations] == [e.name for e in plugins.explainers]
    assert abs((a.created_at - datetime.now(UTC)).total_seconds()) < 60 and a.created_at.tzinfo is not None
    assert 0 < scored.model_s <= scored.total_s


def test_a_jobs_id_and_a_tenant_are_kept(clip, plugins):
    a = score_clip(clip, plugins, tenant="t2", assessment_id="job-1").assessment
    assert a.id == "job-1" and a.tenant == "t2"
    assert score_clip(clip, plugins).assessment.id == content_id(clip, plugins.model().info.sha256, "default")


def test_a_baseline_personalises_the_score(clip, plugins):
    baseline = prepare(clip).data[0, 0]
    assert score_clip(clip, plugins, baseline=baseline).assessment.personalised is True


def test_an_unscorable_clip_is_refused_before_the_model_runs(clip, plugins):
    with pytest.raises(InputError) as refused:
        score_clip(dataclasses.replace(clip, fps=500.0), plugins)
    assert refused.value.field == "fps"


class BrokenExplainer:
    name = "broken"

    def explain(self, windows, output, predict):
        raise RuntimeError("explainer bug")


def test_a_failing_explainer_loses_its_explanation_not_the_score(clip, plugins):
    broken = dataclasses.replace(plugins, explainers=[BrokenExplainer(), *plugins.explainers])
    with structlog.testing.capture_logs() as logs:
        a = score_clip(clip, broken).assessment
    assert [e.explainer for e in a.explanations] == [e.name for e in plugins.explainers]
    assert {"event": "explainer_failed", "explainer": "broken", "error": "RuntimeError: explainer bug", "log_level": "warning"} in logs


class ShortModel:
    """A model plugin that answers for fewer windows than it was given."""

    def __init__(self, real) -> None:
        self.real, self.info = real, real.info

    def predict(self, windows):
        output = self.real.predict(windows)
        return dataclasses.replace(output, probabilities=output.probabilities[:-1])


def test_a_model_answering_for_the_wrong_number_of_windows_is_an_error(clip, plugins):
    real = plugins.model()
    short = dataclasses.replace(plugins)
    short.model = lambda model_id=None: ShortModel(real)
    n = len(prepare(clip).data)
    with pytest.raises(ValueError, match=f"model {real.info.model_id} returned {n - 1} results for {n} windows"):
        score_clip(clip, short)


def test_times_are_converted_to_utc_and_past_year_9999_is_the_clients_error():
    assert _utc(datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1)))) == datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    with pytest.raises(InputError) as refused:
        _utc(datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-1))))
    assert refused.value.field == "captured_at" and refused.value.message == "is out of range once converted to UTC (years 1-9999)"


def test_the_content_id_is_stable_across_releases(face_points):
    """Stored assessments are found again by this id (a retried submission after an upgrade must not
    be scored twice): the same clip, patient, model and tenant must keep giving this exact id."""
    clip = LandmarkClip(patient=PATIENT, captured_at=CAPTURED, fps=30.0, points=face_points, image_size=(640, 480))
    assert content_id(clip, "0" * 64, "t1") == "a31259ed-cd45-5eb1-8cab-0e5d930160fa"
    assert content_id(dataclasses.replace(clip, points=face_points.astype(np.float32)), "0" * 64, "t1") == "a31259ed-cd45-5eb1-8cab-0e5d930160fa"


def test_the_gateways_settings_shape_the_windows_the_gaps_the_summary_and_the_checks(clip, plugins):
    from gateway.ops.settings import Settings

    custom = dataclasses.replace(plugins, settings=Settings(window_stride_s=0.5, max_gap_frames=7, sustained_windows=3, max_clock_skew_s=0))
    a = score_clip(clip, custom).assessment
    assert [w.start_s for w in a.windows][:3] == [0.0, 0.5, 1.0]  # half-second stride
    assert all(w.scorable for w in a.windows)  # the 7-frame gap is bridged
    assert a.summary == summarise(a.windows, 3) and "at least 3 consecutive" in a.summary.rule
    future = dataclasses.replace(clip, captured_at=datetime.now(UTC) + timedelta(seconds=120))
    score_clip(future, plugins)  # within the default 300 s of clock skew
    with pytest.raises(InputError) as refused:
        score_clip(future, custom)
    assert refused.value.field == "captured_at"


class SevereModel(ShortModel):
    """Answers "significant" for every window, whatever it sees."""

    def predict(self, windows):
        output = self.real.predict(windows)
        return dataclasses.replace(output, probabilities=np.tile(np.array([0.05, 0.15, 0.8], np.float32), (len(windows.data), 1)))


def test_each_windows_level_is_its_most_probable_class_and_the_timings_are_real(clip, plugins):
    real = plugins.model()
    severe = dataclasses.replace(plugins)
    severe.model = lambda model_id=None: SevereModel(real)
    scored = score_clip(clip, severe)
    assert {w.level for w in scored.assessment.windows if w.scorable} == {"significant"}
    assert scored.assessment.summary.level == "significant"
    assert 0 < scored.model_s <= scored.total_s < 60


def test_warming_loads_the_weights_and_a_missing_model_is_only_logged(plugins):
    """``serve`` warms the model before its first request; a warm-up that fails must not stop the start."""
    from gateway.ops.settings import Settings
    from gateway.pipeline.scoring import warm_model

    warm_model(plugins)
    assert plugins.model().loaded
    missing = dataclasses.replace(plugins, settings=Settings(model="no-such-model"))
    with structlog.testing.capture_logs() as logs:
        warm_model(missing)
    assert [(e["event"], e["part"], e["log_level"]) for e in logs] == [("worker_warm_up_failed", "model", "warning")]
    assert "no-such-model" in logs[0]["error"]
