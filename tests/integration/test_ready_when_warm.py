"""``/ready`` is 503 until every scoring and job process has loaded its models: a proxy (HAProxy's health
check on /ready, deploy/haproxy.cfg) or an orchestrator sends no work to a cold replica. Issue 26: a
freshly started gateway answered /ready while its scoring processes were still loading, and a first
10-s video then took 5.3 s against 1.2-1.4 s once warm."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from support.serve import live_gateway

from gateway.contract.plugin_manager import Plugins
from gateway.ops.settings import Settings
from gateway.service.processes import WorkerPool


def gated_warm_up(plugins: Plugins) -> None:
    """A warm-up that lasts until the test opens the gate (a file in the data directory)."""
    gate = Path(plugins.settings.data_dir) / "gate"
    while not gate.exists():
        time.sleep(0.05)


def test_a_pool_is_warming_until_each_of_its_processes_has_warmed_up(tmp_path):
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/g.db", data_dir=str(tmp_path), log_format="json")
    pool = WorkerPool(settings, 2, gated_warm_up, spawn_now=True)
    assert pool.warming("scoring processes") == "scoring processes not started"
    pool.start()
    try:
        time.sleep(1.0)
        assert pool.warming("scoring processes") == "2 of 2 scoring processes still loading their models"
        (tmp_path / "gate").touch()
        deadline = time.monotonic() + 120
        while pool.warming("scoring processes") is not None:
            assert time.monotonic() < deadline, pool.warming("scoring processes")
            time.sleep(0.1)
    finally:
        pool.stop()
    lazy = WorkerPool(settings, 2, gated_warm_up, spawn_now=False)  # spawns on its first task: nothing to wait for
    assert lazy.warming("job workers") is None


def test_serve_is_not_ready_while_its_processes_load_the_model(tmp_path):
    with live_gateway(tmp_path, {"PAIN_GATEWAY_SCORING_PROCESSES": "2"}, start_s=300) as gateway:
        answers = []
        deadline = time.monotonic() + 300
        while True:
            response = httpx.get(f"{gateway.origin}/ready", timeout=30)
            answers.append((response.status_code, response.json()["checks"]["model"]))
            if response.status_code == 200:
                break
            assert time.monotonic() < deadline, answers[-3:]
            time.sleep(0.1)
        cold = [model for status, model in answers if status == 503]
        assert cold and all(model.startswith("warming: ") and "still loading their models" in model for model in cold), answers[:3]
        assert answers[-1] == (200, "ok")
