"""Clip-level rules: what each one flags, on hand-made probability tracks."""

from __future__ import annotations

import numpy as np

from plugins.sta_lstm.lab.clip_rules import RULES, consecutive, hmm, hmm_path, mean_run, operating_points, share

NONE, MILD = [0.9, 0.08, 0.02], [0.2, 0.7, 0.1]


def track(*runs: tuple[list[float], int]) -> np.ndarray:
    return np.asarray([p for p, n in runs for _ in range(n)])


def test_consecutive_rule_fires_on_two_seconds_but_not_on_one_blip():
    blip = track((NONE, 30), (MILD, 1), (NONE, 30))
    assert consecutive(1)(blip) and not consecutive(2)(blip)
    assert consecutive(2)(track((NONE, 30), (MILD, 2), (NONE, 30)))


def test_share_and_mean_run_rules():
    five = track((NONE, 45), (MILD, 5), (NONE, 50))
    assert share(0.05)(five) and not share(0.1)(five)
    assert mean_run(5, 0.75)(five) and not mean_run(5, 0.85)(five)


def test_hmm_smoother_ignores_a_blip_and_keeps_an_episode():
    assert not hmm_path(track((NONE, 30), (MILD, 1), (NONE, 30))).any()
    path = hmm_path(track((NONE, 30), (MILD, 10), (NONE, 30)))
    assert path[32:38].all() and not path[:25].any() and not path[-25:].any()
    assert hmm(3)(track((NONE, 30), (MILD, 10), (NONE, 30)))


def test_operating_points_report_false_alarms_and_misses_for_every_rule():
    calm = [track((NONE, 60)), track((NONE, 30), (MILD, 1), (NONE, 29))]
    episodes = {2: [track((NONE, 30), (MILD, 2), (NONE, 28))], 10: [track((NONE, 30), (MILD, 10), (NONE, 20))]}
    points = operating_points(calm, episodes)
    assert set(points) == set(RULES)
    assert points["consecutive-1"]["false_alarm"] == 0.5 and points["consecutive-2"]["false_alarm"] == 0.0
    assert points["consecutive-2"]["miss"] == {"2": 0.0, "10": 0.0} and points["consecutive-5"]["miss"]["2"] == 1.0
