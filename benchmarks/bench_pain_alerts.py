"""Alert evaluation cost per assessment, with and without a long history: one patient with 10,000 stored
checks over 31 days against the same patient with none, in the same process and database.

Each evaluation stores the new check and applies every rule (sustained, rising, no-relief, closing) in
its own transaction, rolled back so the history stays the same; the rules read one index range of the
patient's checks (``ix_pain_alert_checks_patient_end``, the last 24 h, at most 200), so the cost must not
grow with the history. Compared: the month-long patient against one whose checks are only the same last
24 h (what the rules' window holds), and a patient with none. Prints milliseconds per evaluation and the ratio.

``python benchmarks/bench_pain_alerts.py [HISTORY] [EVALUATIONS]`` (defaults: 10,000 checks, 300 evaluations).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from gateway import PatientRef
from gateway.contract.plugin_manager import build_plugins
from gateway.ops.settings import Settings
from gateway.service.flow import AssessmentFlow, RowsAreTheQueue
from gateway.storage.engine import create_engine
from gateway.storage.migrate import upgrade
from plugins.pain_alerts import PainAlertsSettings
from plugins.pain_alerts.episodes import patient_key
from plugins.pain_alerts.evaluator import evaluate
from plugins.pain_alerts.rules import Check
from plugins.pain_alerts.tables import CheckRow

LEVELS = ("none", "mild", "significant")
END = datetime(2026, 11, 30, tzinfo=UTC)


async def history(engine, tenant: str, patient: PatientRef, count: int, days: float = 31) -> None:
    """``count`` checks over the last ``days`` (31: a month's history), as the evaluator stores them, in batches;
    the same random levels for every patient, so the last day of each is the same."""
    rng, key = random.Random(7), patient_key(patient)
    step = timedelta(days=31) / max(count, 1)
    rows = []
    for i in range(count):
        start = END - timedelta(days=31) + i * step
        if start < END - timedelta(days=days):
            rng.choice(LEVELS)
            continue
        level = rng.choice(LEVELS)
        rows.append(
            {
                "id": f"{patient.value}{i}",
                "tenant": tenant,
                "patient_key": key,
                "start": start,
                "end": start + timedelta(seconds=5),
                "level": level,
                "worst": level,
                "significant_p": 0.5,
                "source": "assessment",
            }
        )
    async with engine.begin() as connection:
        for at in range(0, len(rows), 1000):
            await connection.execute(insert(CheckRow), rows[at : at + 1000])


async def timed(engine, flow, patient: PatientRef, evaluations: int) -> list[float]:
    rules, model = PainAlertsSettings().rules_for("default"), {"model_id": "m", "version": "1", "name": "m", "sha256": "ab" * 32}
    rng, seconds = random.Random(11), []
    for i in range(evaluations):
        start = END + timedelta(minutes=3 * (i % 20))
        check = Check(f"new{i}", start, start + timedelta(seconds=5), rng.choice(LEVELS), None, 0.5)
        async with engine.connect() as connection:
            transaction = await connection.begin()
            clock = time.perf_counter()
            await evaluate(connection, flow, rules, "default", patient, check, model, END)
            seconds.append(time.perf_counter() - clock)
            await transaction.rollback()  # the history stays what it was
    return seconds


async def run(url: str, tmp: str, count: int, evaluations: int) -> None:
    plugins = build_plugins(Settings(database_url=url, data_dir=tmp), environ={})
    engine = create_engine(url)
    try:
        flow = AssessmentFlow(plugins, engine, RowsAreTheQueue())
        fresh, window, long = (PatientRef(system="urn:bench", value=v) for v in ("NEW", "DAY", "MONTH"))
        await history(engine, "default", long, count)
        await history(engine, "default", window, count, days=1.01)  # only what the rules' window holds
        await timed(engine, flow, fresh, 20)  # warm up: imports, connections, statement caches
        empty = await timed(engine, flow, fresh, evaluations)
        baseline = await timed(engine, flow, window, evaluations)
        loaded = await timed(engine, flow, long, evaluations)
    finally:
        await engine.dispose()
    e, b, h = (statistics.median(x) * 1000 for x in (empty, baseline, loaded))
    print(f"alert evaluation, median of {evaluations} evaluations (SQLite), ms per assessment:")
    print(f"  a patient with no checks:                      {e:7.2f}")
    print(f"  the last 24 h only ({count / 31:,.0f} checks):              {b:7.2f}")
    print(f"  {count:,} checks over 31 days (same last 24 h):  {h:7.2f}")
    print(f"  ratio, 31 days / last 24 h only:               {h / b:7.2f}x  (1.0: history beyond the rules' window costs nothing)")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    count, evaluations = (args + [10_000, 300][len(args) :])[:2]
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url, build_plugins(Settings(database_url=url, data_dir=tmp), environ={}).migrations)
        asyncio.run(run(url, tmp, count, evaluations))
