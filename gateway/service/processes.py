"""Worker processes, started one way for job workers and scoring processes alike.

``WorkerPool`` spawns them (never fork: forking a process that already runs torch and event-loop threads
can deadlock), ties each to the gateway's life (``die_with_parent``), builds its plugins and warms them
before its first task, freezes its heap, and is replaced as a whole when one of its processes dies.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any

import structlog

from gateway.contract.plugin_manager import Plugins, build_plugins
from gateway.ops.log import configure_logging
from gateway.ops.settings import Settings

log = structlog.get_logger(__name__)

PR_SET_PDEATHSIG = 1
PARENT_CHECK_S = 1.0

_plugins: Plugins | None = None


def die_with_parent(parent_pid: int) -> None:
    """A worker never outlives the gateway that started it.

    A SIGKILLed ``serve`` runs no clean-up, and an orphaned worker would keep taking jobs. On Linux
    the kernel sends SIGKILL when the parent goes (``PR_SET_PDEATHSIG``). It fires when the *thread*
    that created the worker exits, not the process: the pool spawns workers from the thread that
    submits (the event loop's, which lives as long as the gateway), so that is the same moment here.
    Everywhere, a watcher thread exits when the worker is re-parented (``os.getppid()`` changes) —
    the portable fallback, within ``PARENT_CHECK_S``."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl (e.g. a libc without it): the watcher still covers us
            pass
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_S)
        os._exit(1)

    threading.Thread(target=watch, name="pain-gateway-parent-watch", daemon=True).start()


@contextmanager
def sigint_blocked() -> Iterator[None]:
    """Spawn processes with SIGINT blocked: a Ctrl-C reaches the terminal's whole process group, and a
    worker (still importing, or waiting for a task) would die of it with a ``KeyboardInterrupt``
    traceback. The mask is inherited through fork and exec, so the worker never sees SIGINT; the gateway
    handles it and stops the workers itself (``WorkerPool.stop``). Here the signal stays pending, never lost."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no process groups to share a Ctrl-C with
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _stopped(signum: int, frame: object) -> None:
    """SIGTERM from ``WorkerPool.stop``: one line in the log, then out at once (nothing to flush: an
    interrupted job goes back to the queue at the next start)."""
    log.info("worker_stopped", pid=os.getpid())
    os._exit(0)


def start_process(parent_pid: int, settings: Settings, warm: Callable[[Plugins], None], warmed: Any = None) -> None:
    """Pool initializer: tie the process to the gateway, build plugins and ``warm`` them, so the first
    task does not pay seconds of torch (and MediaPipe) start-up, then freeze the heap as the gateway does.
    Nothing here may raise (that would break the pool): on failure the first task builds plugins lazily."""
    global _plugins
    die_with_parent(parent_pid)
    signal.signal(signal.SIGTERM, _stopped)
    try:
        configure_logging(settings.log_format, settings.log_level)
        _plugins = build_plugins(settings)
        warm(_plugins)
    except Exception as exc:
        log.warning("worker_warm_up_failed", part="plugins", error=f"{type(exc).__name__}: {exc}")
    if warmed is not None:  # counted by the pool (``WorkerPool.warming``): /ready waits for every process
        with warmed.get_lock():
            warmed.value += 1
    gc.freeze()  # torch and the plugins out of the collector's view (see gateway.web.app)


def process_plugins(settings: Settings) -> Plugins:
    """This worker process's plugins: built at start, or now if that failed, and kept."""
    global _plugins
    if _plugins is None:
        configure_logging(settings.log_format, settings.log_level)
        _plugins = build_plugins(settings)
    return _plugins


def _ready() -> int:
    """A no-op task: one per process makes the pool spawn (and warm) them all now."""
    return os.getpid()


class WorkerPool:
    """``processes`` spawned processes that run module-level functions; ``spawn_now`` starts them at once."""

    def __init__(self, settings: Settings, processes: int, warm: Callable[[Plugins], None], *, spawn_now: bool) -> None:
        self.settings, self.processes, self.warm, self.spawn_now = settings, processes, warm, spawn_now
        self.executor: ProcessPoolExecutor | None = None
        self.warmed: Any = None  # processes of the current pool that have loaded their plugins and models

    def _new(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("spawn")
        self.warmed = context.Value("i", 0)
        executor = ProcessPoolExecutor(
            self.processes, mp_context=context, initializer=start_process, initargs=(os.getpid(), self.settings, self.warm, self.warmed)
        )
        if self.spawn_now:
            with sigint_blocked():
                for _ in range(self.processes):  # from the event loop's thread, as die_with_parent requires
                    executor.submit(_ready)
        return executor

    def start(self) -> None:
        self.executor = self._new()

    def warming(self, what: str) -> str | None:
        """Why the pool cannot take work at full speed yet (its processes still load their models), else
        None; ``/ready`` answers 503 with it. A pool that spawns on demand (``spawn_now`` off) has nothing to wait for."""
        if not self.spawn_now:
            return None
        if self.executor is None or self.warmed is None:
            return f"{what} not started"
        done = self.warmed.value
        return None if done >= self.processes else f"{self.processes - done} of {self.processes} {what} still loading their models"

    def stop(self) -> None:
        """End the processes now (an interrupted job goes back to the queue at the next start) and wait for
        them and the pool's threads, so its queues' semaphores are released before the interpreter exits
        (else the resource tracker warns of leaked semaphores at every stop). Blocking: call it in a thread."""
        executor, self.executor = self.executor, None
        if executor is None:
            return
        # the pool keeps its processes privately, and forgets them in shutdown(): take them first (else a
        # process still warming up is never told to stop, and the gateway waits for its warm-up to end)
        processes: list[Any] = list((getattr(executor, "_processes", None) or {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        executor.shutdown(wait=True)

    def run(self, fn: Callable[..., Any], *args: Any) -> tuple[asyncio.Future[Any], ProcessPoolExecutor]:
        """Run ``fn(*args)`` in a process; also returns the executor it went to, for ``replace``. A pool
        that broke while idle (a process killed between tasks) is replaced here: nothing ran in it."""
        executor = self.executor
        if executor is None:
            raise RuntimeError("the worker processes are not running (the gateway is starting or stopping)")
        loop = asyncio.get_running_loop()
        with sigint_blocked():  # a submit may spawn a process
            try:
                return loop.run_in_executor(executor, fn, *args), executor
            except BrokenProcessPool:
                self.replace(executor)
                assert self.executor is not None
                return loop.run_in_executor(self.executor, fn, *args), self.executor

    def replace(self, broken: ProcessPoolExecutor) -> None:
        """A process died and broke ``broken``: the first caller to see it starts a new pool, the rest use that."""
        if self.executor is broken:
            self.executor = self._new()
            broken.shutdown(wait=False, cancel_futures=True)
