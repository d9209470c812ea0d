"""FHIR delivery throughput: results/s into a real FHIR server (sekmet-fhir on loopback) through the
delivery ledger (claim, render, POST, record the attempt), against POSTing the same kind of Bundles
straight to the server with httpx at the same concurrency (the baseline, same process).

A third figure drains the same number of due deliveries through the embedded job engine's scheduler
(``EmbeddedJobs``, ``delivery_concurrency`` 8), as ``pain-gateway serve`` does: what a backlog
actually drains at, scheduling included."""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import msgspec
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.fhir_server import FhirServer  # noqa: E402

from gateway.contract.plugin_manager import build_plugins  # noqa: E402
from gateway.contract.protocols import CaptureRequest  # noqa: E402
from gateway.ops.settings import Settings  # noqa: E402
from gateway.service.flow import AssessmentFlow, RowsAreTheQueue  # noqa: E402
from gateway.service.jobs.embedded import EmbeddedJobs  # noqa: E402
from gateway.service.jobs.pipeline import deliver  # noqa: E402
from gateway.storage.deliveries import DeliveryQuery  # noqa: E402
from gateway.storage.engine import create_engine  # noqa: E402
from gateway.storage.events import new_event  # noqa: E402
from gateway.storage.migrate import upgrade  # noqa: E402

RESULTS = 120
CONCURRENCY = 8


def _clip_request() -> CaptureRequest:
    with np.load(ROOT / "tests" / "data" / "astronaut_face_5s.npz") as data:
        points = data["points"]
    body = {
        "patient": {"identifier": {"system": "urn:bench", "value": "p1"}},
        "fps": 30,
        "captured_at": "2026-11-23T10:00:00Z",
        "frames": [None if np.isnan(f).all() else f.round(6).tolist() for f in points],
    }
    return CaptureRequest("application/json", body=msgspec.json.encode(body))


async def _bounded(jobs, concurrency: int) -> float:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(job):
        async with semaphore:
            await job()

    started = time.perf_counter()
    await asyncio.gather(*(one(job) for job in jobs))
    return time.perf_counter() - started


async def measure(server: FhirServer, url: str) -> None:
    settings = Settings(database_url=url, plugins={"fhir_delivery": {"base_url": server.base}})
    plugins = build_plugins(settings, environ={})
    engine = create_engine(url)
    flow = AssessmentFlow(plugins, engine, RowsAreTheQueue())
    try:
        scored = (await flow.submit(_clip_request(), "default", str(uuid.uuid4()))).assessed.assessment
        copies = [msgspec.structs.replace(scored, id=str(uuid.uuid4())) for _ in range(3 * RESULTS)]
        direct, through_ledger, through_scheduler = copies[:RESULTS], copies[RESULTS : 2 * RESULTS], copies[2 * RESULTS :]

        async with httpx.AsyncClient(timeout=60) as client:

            async def post(assessment):
                response = await client.post(server.base, content=flow.render("fhir", assessment).content, headers={"Content-Type": "application/fhir+json"})
                response.raise_for_status()

            baseline_s = await _bounded([lambda a=a: post(a) for a in direct], CONCURRENCY)

        async def backlog(assessments) -> None:
            for assessment in assessments:
                event = new_event("assessment.completed", assessment.id, "default")
                await flow.assessments.add(assessment, then=lambda connection, event=event: flow.events.record(connection, event))

        await backlog(through_ledger)
        due = await flow.deliveries.due(limit=RESULTS)
        ledger_s = await _bounded([lambda d=d: deliver(flow, d) for d in due], CONCURRENCY)
        delivered = (await flow.deliveries.search(DeliveryQuery(status="delivered", limit=1)))[1]

        await backlog(through_scheduler)
        jobs = EmbeddedJobs(plugins, engine)
        started = time.perf_counter()
        await jobs.start()
        try:
            while (await flow.deliveries.search(DeliveryQuery(status="delivered", limit=1)))[1] < delivered + RESULTS:
                await asyncio.sleep(0.1)  # polls lightly: the scheduler shares this loop and this database
            scheduler_s = time.perf_counter() - started
        finally:
            await jobs.stop()
            await asyncio.gather(*jobs._tasks, return_exceptions=True)  # the last ones record their attempt
    finally:
        await engine.dispose()
    base_rate, ledger_rate, scheduler_rate = RESULTS / baseline_s, len(due) / ledger_s, RESULTS / scheduler_s
    print(f"FHIR results into sekmet, {RESULTS} assessments, concurrency {CONCURRENCY}")
    print(f"  baseline (httpx POST of rendered Bundles): {base_rate:6.1f} results/s")
    print(f"  through the delivery ledger:               {ledger_rate:6.1f} results/s  ({delivered} delivered)")
    print(f"  embedded scheduler draining a backlog:     {scheduler_rate:6.1f} results/s  (delivery_concurrency {plugins.settings.delivery_concurrency})")
    print(f"  ratio ledger / baseline: {ledger_rate / base_rate:.2f}, scheduler / baseline: {scheduler_rate / base_rate:.2f}")


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-delivery-"))
    (work / "emr").mkdir()
    server = FhirServer(work / "emr")
    server.start()
    url = f"sqlite+aiosqlite:///{work}/gateway.db"
    upgrade(url)
    try:
        asyncio.run(measure(server, url))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
