"""The clip-level summary rule: the most severe level sustained for N consecutive scorable windows."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from support.assessments import make_window

from gateway.contract.domain import LEVELS, Probabilities, WindowResult
from gateway.pipeline.summary import held_s, summarise

ONE_HOT = {lvl: Probabilities(*(0.8 if i == LEVELS.index(lvl) else 0.1 for i in range(3))) for lvl in LEVELS}


def windows(levels):
    """'-' marks an unscorable window."""
    return [make_window(i, level=None) if lvl == "-" else make_window(i, level=lvl, probabilities=ONE_HOT[lvl]) for i, lvl in enumerate(levels)]


def test_a_single_significant_second_is_not_the_clip_level():
    summary = summarise(windows(["none", "significant", "none", "mild", "mild"]))
    assert summary.level == "mild"


def test_sustained_significant_pain_wins():
    assert summarise(windows(["none", "significant", "significant", "none"])).level == "significant"


def test_mixed_mild_and_significant_count_towards_mild_or_higher():
    assert summarise(windows(["none", "mild", "significant", "none"])).level == "mild"


def test_unscorable_windows_break_a_run():
    assert summarise(windows(["significant", "-", "significant", "none", "none"])).level == "none"


def test_short_clip_uses_its_longest_run():
    assert summarise(windows(["significant", "-", "mild"])).level == "significant"


def test_no_scorable_window_means_no_level():
    summary = summarise(windows(["-", "-"]))
    assert summary.level is None
    assert summary.scored_windows == 0 and summary.unscorable_windows == 2
    assert summary.time_share == {lvl: 0.0 for lvl in LEVELS}


def test_configurable_run_length():
    levels = ["significant", "significant", "none", "none", "none"]
    assert summarise(windows(levels), sustained_windows=2).level == "significant"
    assert summarise(windows(levels), sustained_windows=3).level == "none"


def test_shares_peaks_and_counts():
    summary = summarise(windows(["none", "mild", "mild", "-"]))
    assert summary.time_share == {"none": round(1 / 3, 4), "mild": round(2 / 3, 4), "significant": 0.0}
    assert summary.peak_probability == {"none": 0.8, "mild": 0.8, "significant": 0.1}
    assert (summary.scored_windows, summary.unscorable_windows) == (3, 1)
    assert "2 consecutive" in summary.rule


def _longest(levels, at_least: int) -> int:
    best = run = 0
    for lvl in levels:
        run = run + 1 if lvl != "-" and LEVELS.index(lvl) >= at_least else 0
        best = max(best, run)
    return best


@given(st.lists(st.sampled_from([*LEVELS, "-"]), min_size=1, max_size=40), st.integers(1, 5))
def test_level_is_the_highest_sustained_one(levels, n):
    summary = summarise(windows(levels), sustained_windows=n)
    if all(lvl == "-" for lvl in levels):
        assert summary.level is None
        return
    needed = min(n, _longest(levels, 0))
    rank = LEVELS.index(summary.level)
    assert _longest(levels, rank) >= needed
    assert all(_longest(levels, higher) < needed for higher in range(rank + 1, len(LEVELS)))
    assert abs(sum(summary.time_share.values()) - 1.0) < 1e-3


def test_held_is_the_longest_run_at_the_level_or_higher_in_seconds():
    clip = windows(["none", "mild", "significant", "mild", "-", "mild", "none"])
    assert (held_s(clip, "mild"), held_s(clip, "significant"), held_s(clip, "none"), held_s(clip, None)) == (3.0, 1.0, 4.0, 0.0)
    overlapping = [WindowResult(i, i * 0.5, i * 0.5 + 1.0, True, "mild", ONE_HOT["mild"]) for i in range(4)]  # stride 0.5 s
    assert held_s(overlapping, "mild") == 2.5


def test_a_clip_without_a_scored_window_has_no_level_and_zero_peaks():
    summary = summarise(windows(["-", "-"]))
    assert summary.level is None and summary.scored_windows == 0 and summary.unscorable_windows == 2
    assert summary.peak_probability == dict.fromkeys(LEVELS, 0.0) and summary.time_share == dict.fromkeys(LEVELS, 0.0)
    assert held_s(windows(["-", "-"]), None) == 0.0


def test_peaks_and_held_time_are_reported_as_measured():
    result = windows(["none", "mild", "mild", "none"])
    result[2] = WindowResult(2, 2.0, 3.0, True, "mild", Probabilities(0.1234567, 0.7654321, 0.1111112))
    summary = summarise(result)
    assert summary.peak_probability == {"none": 0.8, "mild": 0.8, "significant": 0.111111}
    assert held_s(result, "mild") == 2.0 and held_s(result, "none") == 4.0
    staggered = [WindowResult(i, i * 0.5, i * 0.5 + 1.0, True, "mild", ONE_HOT["mild"]) for i in range(4)]
    assert held_s(staggered, "mild") == 2.5  # from the first start to the last end, whatever the stride
    assert held_s([WindowResult(0, 0.0, 0.25, True, "mild", ONE_HOT["mild"])], "mild") == 0.2  # rounded to 0.1 s
