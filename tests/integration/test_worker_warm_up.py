"""Embedded pool workers build their plugins and load the model when the engine starts, before any job;
a warm-up that fails is logged and leaves the worker able to process (it loads lazily as before)."""

from __future__ import annotations

import asyncio

from gateway.contract.plugin_manager import build_plugins
from gateway.ops.settings import Settings
from gateway.service import processes
from gateway.service.jobs import embedded
from gateway.storage.engine import create_engine


def _worker_state() -> dict:
    plugins = processes._plugins
    model = None if plugins is None else plugins.models.get(plugins.settings.model)
    return {"plugins": plugins is not None, "model_loaded": bool(getattr(model, "loaded", False))}


async def _state_after_start(settings: Settings) -> dict:
    jobs = embedded.EmbeddedJobs(build_plugins(settings, environ={}), create_engine(settings.database_url), warm=True)
    jobs._run = lambda: asyncio.sleep(3600)  # only the pool: no database scheduler here
    await jobs.start()
    try:
        return await asyncio.get_running_loop().run_in_executor(jobs.workers.executor, _worker_state)
    finally:
        await jobs.stop()


def test_pool_workers_are_warm_before_their_first_job(tmp_path):
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/g.db", data_dir=str(tmp_path), log_format="json")
    assert asyncio.run(_state_after_start(settings)) == {"plugins": True, "model_loaded": True}


def test_a_failed_warm_up_is_logged_and_the_worker_still_takes_jobs(tmp_path):
    from structlog.testing import capture_logs

    from gateway.service.jobs.pipeline import warm_up

    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/g.db", data_dir=str(tmp_path), model="no-such-model", log_format="json")
    with capture_logs() as logs:
        warm_up(build_plugins(settings, environ={}))  # what the pool initializer runs: must not raise
    assert [entry["part"] for entry in logs if entry["event"] == "worker_warm_up_failed"] == ["model"]
    assert asyncio.run(_state_after_start(settings)) == {"plugins": True, "model_loaded": False}  # the pool is not broken
