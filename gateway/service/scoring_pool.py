"""Where the gateway process parses and scores submissions: in its own threads, or in scoring processes.

Parsing a 5-s keypoint clip and scoring it is about 30 ms of CPU, much of it Python holding the GIL.
In the API process's threads, concurrent submissions took turns on one core however many the
machine had, and slowed the event loop (HTTP, the database) while they ran. ``pain-gateway serve``
therefore hands that work to ``PAIN_GATEWAY_SCORING_PROCESSES`` spawned processes (``ScoringPool``),
each with its own plugins and a warmed model; an application that embeds ``create_app`` without
``warm`` keeps the threads (``InThreads``), which start nothing.

A submission crosses once: its body through a file beside the uploads (pickling 4 MB through the
pool's pipe cost 9 ms, more than parsing it), and the ``Scored`` result back. The scoring process
parses, reads the patient's baseline through its own engine (a read: it never waits for the writer),
scores and keeps the landmarks; the gateway stores the result, so every write stays in one process.
Errors the caller must fix cross as themselves (``InputError``) or marked as raised while reading
(``gateway.contract.domain.WHILE_READING``), so they stay 4xx. A scoring process that dies (killed, out of
memory) breaks its pool: the pool is replaced and the work tried once more in the new one, so one
lost process costs a retry, not the requests behind it; a second death answers 503 with Retry-After.
Body files a killed gateway left behind are removed at start and every 10 minutes.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import structlog

from gateway.contract.domain import WHILE_READING, LandmarkClip, PatientRef, ScoringUnavailable
from gateway.contract.plugin_manager import Plugins
from gateway.contract.protocols import CaptureRequest, CaptureSource, Progress
from gateway.ops.settings import Settings
from gateway.pipeline.scoring import Scored, score_clip, warm_model
from gateway.service.processes import WorkerPool, process_plugins
from gateway.storage import kept_landmarks
from gateway.storage.baselines import BaselineStore
from gateway.storage.engine import create_engine

log = structlog.get_logger(__name__)

_reader: tuple[asyncio.AbstractEventLoop, BaselineStore] | None = None

BaselineOf = Callable[[PatientRef], np.ndarray | None]


def score_and_keep(plugins: Plugins, clip: LandmarkClip, tenant: str, assessment_id: str | None, baseline: np.ndarray | None) -> Scored:
    """The one scoring path, whichever process runs it: score the clip (``score_clip``), then keep the
    landmarks it was scored from under the assessment's id (``kept_landmarks``)."""
    scored = score_clip(clip, plugins, tenant=tenant, assessment_id=assessment_id, baseline=baseline)
    size = kept_landmarks.keep(clip, plugins.settings.data_dir, scored.assessment.id)
    return replace(scored, kept_bytes=size)


def capture_and_score(plugins: Plugins, source: CaptureSource, request: CaptureRequest, tenant: str, baseline_of: BaselineOf) -> Scored:
    """A submission scored now: its landmarks, the patient's baseline, the score, the landmarks kept."""
    started = time.perf_counter()
    try:
        clip = source.capture(request, None)
    except (RecursionError, OverflowError, MemoryError) as exc:  # the client's input: say so, the frames stay here
        setattr(exc, WHILE_READING, True)
        raise
    decode_s = time.perf_counter() - started
    return replace(score_and_keep(plugins, clip, tenant, None, baseline_of(clip.patient)), decode_s=decode_s)


class InThreads:
    """Parse and score in the calling process, off the event loop in a thread; ``warm``: load the model at start."""

    def __init__(self, plugins: Plugins, warm: bool = False) -> None:
        self.plugins = plugins
        self.warm = warm

    async def start(self) -> None:
        if self.warm:
            await asyncio.to_thread(warm_model, self.plugins)

    async def stop(self) -> None:
        pass

    async def capture(self, source: CaptureSource, request: CaptureRequest, progress: Progress | None = None) -> LandmarkClip:
        return await asyncio.to_thread(source.capture, request, progress)

    async def score(self, clip: LandmarkClip, tenant: str, assessment_id: str | None, baseline: np.ndarray | None) -> Scored:
        return await asyncio.to_thread(score_and_keep, self.plugins, clip, tenant, assessment_id, baseline)

    async def capture_and_score(self, source: CaptureSource, request: CaptureRequest, tenant: str, baselines: BaselineStore) -> Scored:
        """The baseline is read on this event loop while the thread waits for it."""
        loop = asyncio.get_running_loop()

        def baseline_of(patient: PatientRef) -> np.ndarray | None:
            return asyncio.run_coroutine_threadsafe(baselines.get(patient, tenant), loop).result()

        return await asyncio.to_thread(capture_and_score, self.plugins, source, request, tenant, baseline_of)


def _score_in_process(settings: Settings, clip: LandmarkClip, tenant: str, assessment_id: str | None, baseline: np.ndarray | None) -> Scored:
    return score_and_keep(process_plugins(settings), clip, tenant, assessment_id, baseline)


def _baseline(settings: Settings, tenant: str, patient: PatientRef) -> np.ndarray | None:
    """The patient's stored baseline, read through this process's own engine on its own event loop."""
    global _reader
    if _reader is None:
        loop = asyncio.new_event_loop()
        _reader = (loop, BaselineStore(create_engine(settings.database_url)))
    loop, store = _reader
    return loop.run_until_complete(store.get(patient, tenant))


def _capture_and_score_in_process(settings: Settings, source_name: str, request: CaptureRequest, body_file: str | None, tenant: str) -> Scored:
    plugins = process_plugins(settings)
    sources = {s.name: s for s in plugins.capture_sources}
    if source_name not in sources:
        raise RuntimeError(f"capture source {source_name!r} is not loaded in this scoring process")
    if body_file is not None:
        request = replace(request, body=Path(body_file).read_bytes())
    return capture_and_score(plugins, sources[source_name], request, tenant, partial(_baseline, settings, tenant))


SPILL_SUFFIX = ".body"
STALE_SPILL_S = 600.0
"""A body file lives as long as its request; older ones were left by a killed gateway (they hold patient data)."""


def _spill_path(data_dir: str) -> Path:
    """Where a body waits for its scoring process: beside the uploads (page cache), named at random."""
    directory = Path(data_dir) / "uploads"
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"{uuid.uuid4().hex}{SPILL_SUFFIX}"


def remove_stale_spills(data_dir: str, older_than_s: float = STALE_SPILL_S) -> int:
    """Remove body files a killed gateway left behind; another gateway sharing the directory keeps its live ones."""
    removed, cutoff = 0, time.time() - older_than_s
    for path in (Path(data_dir) / "uploads").glob(f"*{SPILL_SUFFIX}"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            pass
    return removed


class ScoringPool:
    """Parse and score in ``processes`` spawned processes (``PAIN_GATEWAY_SCORING_PROCESSES``)."""

    def __init__(self, plugins: Plugins, processes: int) -> None:
        self.plugins = plugins
        self.settings = plugins.settings
        self.processes = processes
        self.workers = WorkerPool(self.settings, processes, warm_model, spawn_now=True)
        self._sweeper: asyncio.Task | None = None

    async def start(self) -> None:
        self.workers.start()
        self._sweeper = asyncio.create_task(self._sweep(), name="pain-gateway-stale-spills")

    def warming(self) -> str | None:
        """Scoring processes still loading their models (``/ready`` is 503 until none is)."""
        return self.workers.warming("scoring processes")

    async def _sweep(self) -> None:
        """Now and every ``STALE_SPILL_S``: a file left by a gateway killed just before this one started
        is old enough at the next pass."""
        while True:
            try:
                removed = await asyncio.to_thread(remove_stale_spills, self.settings.data_dir)
            except OSError as exc:  # e.g. permissions changed under us: try again next time, never stop scoring
                log.warning("stale_spills_unremovable", error=f"{type(exc).__name__}: {exc}")
            else:
                if removed:
                    log.info("stale_spills_removed", count=removed)
            await asyncio.sleep(STALE_SPILL_S)

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        await asyncio.to_thread(self.workers.stop)

    async def _run(self, fn, *args):
        for attempt in (1, 2):
            executor = self.workers.executor
            try:
                future, executor = self.workers.run(fn, self.settings, *args)
                return await future
            except BrokenProcessPool:
                if executor is not None:
                    self.workers.replace(executor)
                log.warning("scoring_process_died", attempt=attempt)
                if attempt == 2:
                    raise ScoringUnavailable("the scoring processes died twice in a row") from None

    async def capture(self, source: CaptureSource, request: CaptureRequest, progress: Progress | None = None) -> LandmarkClip:
        """Landmarks wanted here (a baseline, a live session's clip): parsed in a thread of this process."""
        return await asyncio.to_thread(source.capture, request, progress)

    async def score(self, clip: LandmarkClip, tenant: str, assessment_id: str | None, baseline: np.ndarray | None) -> Scored:
        return await self._run(_score_in_process, clip, tenant, assessment_id, baseline)

    async def capture_and_score(self, source: CaptureSource, request: CaptureRequest, tenant: str, baselines: BaselineStore) -> Scored:
        """One trip to a scoring process; ``baselines`` is read there, through that process's engine."""
        if not request.body:
            return await self._run(_capture_and_score_in_process, source.name, request, None, tenant)
        spill = _spill_path(self.settings.data_dir)
        written = asyncio.ensure_future(asyncio.to_thread(spill.write_bytes, request.body))
        try:
            await asyncio.shield(written)  # a cancelled request must not lose track of a write still under way
            return await self._run(_capture_and_score_in_process, source.name, replace(request, body=b""), str(spill), tenant)
        finally:
            if written.done():
                spill.unlink(missing_ok=True)
            else:  # cancelled while the thread still writes: remove the file once it is written
                written.add_done_callback(lambda _: spill.unlink(missing_ok=True))


Scoring = InThreads | ScoringPool


def scoring_for(plugins: Plugins, warm: bool) -> Scoring:
    """Scoring processes for a gateway that warms up (``serve``) and is configured to have them."""
    processes = plugins.settings.scoring_processes
    return ScoringPool(plugins, processes) if warm and processes > 0 else InThreads(plugins, warm)
