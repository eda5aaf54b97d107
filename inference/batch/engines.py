"""Where a batch's studies are analysed: worker processes on this machine, or a Ray cluster.

Both engines run :class:`inference.batch.analyst.StudyAnalyst` in long-lived worker processes (one
set of ONNX sessions each) and hand results back to the driver as they finish, in any order; the
driver alone writes the index. ``results`` keeps only a few studies per worker in flight, so a stop
(Ctrl-C, the viewer's Cancel, ``cancel`` set) costs at most the studies being analysed, which stay
NEW in the index and are done by the next ``--resume``.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol

from inference.batch.analyst import DEFAULT_THREADS, BatchSettings, StudyAnalyst, StudyTask
from inference.runtime import thread_count
from inference.worklist.index import Status, StudyResult

ENGINES = ("local", "ray")
# Studies queued per worker beyond the one it works on: enough to keep it busy, few to drop on a stop.
QUEUED_PER_WORKER = 1
# A study in flight when its worker process dies (out of memory, a crash in native code) is tried
# again in a new process; the second death marks it failed instead of stopping the batch.
ATTEMPTS = 2
_POLL_S = 0.5


def default_workers(threads: int = DEFAULT_THREADS) -> int:
    """One worker per ``threads`` cores this process may use."""
    return max(1, thread_count() // max(1, threads))


class Engine(Protocol):
    name: str
    workers: int

    def results(self, tasks: Sequence[StudyTask], cancel: threading.Event | None = None) -> Iterator[StudyResult]:
        """Each task's result as it finishes; stops early (without the rest) once ``cancel`` is set."""
        ...

    def close(self) -> None:
        """Stop every worker at once; studies still in flight are simply not reported."""
        ...


def worker_died(task: StudyTask) -> StudyResult:
    return StudyResult(task.key, Status.FAILED, "", f"its worker process died {ATTEMPTS} times while analysing it "
                       "(out of memory, or a crash in a native library)")


_ANALYST: StudyAnalyst | None = None


def _exit_with(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()
    os._exit(1)


def _start_local_worker(settings: BatchSettings) -> None:
    """Pool initializer: the driver handles Ctrl-C for the whole batch, and a worker whose driver is
    killed (kill -9 of its process alone) exits instead of waiting for work forever; models are found once here."""
    global _ANALYST
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent,), name="exit-with-the-driver", daemon=True).start()
    _ANALYST = StudyAnalyst(settings)


def _analyse_in_worker(task: StudyTask) -> StudyResult:
    assert _ANALYST is not None, "the pool initializer did not run"
    return _ANALYST.analyse(task)


class LocalEngine:
    """``workers`` processes of this machine (spawned, so a caller's threads, Qt's included, are not forked)."""

    name = "local"

    def __init__(self, settings: BatchSettings, workers: int) -> None:
        self.settings = settings
        self.workers = max(1, workers)
        self._pool: ProcessPoolExecutor | None = None
        self._others: set[int] = set()

    def _new_pool(self) -> ProcessPoolExecutor:
        self._others = {p.pid for p in multiprocessing.active_children()}
        return ProcessPoolExecutor(
            self.workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_local_worker, initargs=(self.settings,),
        )

    def results(self, tasks: Sequence[StudyTask], cancel: threading.Event | None = None) -> Iterator[StudyResult]:
        waiting = deque(tasks)
        running: dict[Future, StudyTask] = {}
        attempts: dict[str, int] = {}
        while waiting or running:
            if cancel is not None and cancel.is_set():
                return
            if self._pool is None:
                self._pool = self._new_pool()
            broken = False
            while waiting and len(running) < self.workers * (1 + QUEUED_PER_WORKER) and not broken:
                task = waiting.popleft()
                try:
                    running[self._pool.submit(_analyse_in_worker, task)] = task
                except BrokenProcessPool:  # a worker died since the last look: not this task's doing
                    waiting.appendleft(task)
                    broken = True
            done, _ = wait(running, timeout=0 if broken else _POLL_S, return_when=FIRST_COMPLETED)
            for future in done:
                task = running.pop(future)
                try:
                    yield future.result()
                except BrokenProcessPool:
                    broken = True
                    running[future] = task  # handled with the others in flight below
            if broken:
                for task in running.values():
                    attempts[task.key] = attempts.get(task.key, 0) + 1
                    if attempts[task.key] >= ATTEMPTS:
                        yield worker_died(task)
                    else:
                        waiting.appendleft(task)
                running.clear()
                self.close()

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        pool.shutdown(wait=False, cancel_futures=True)
        for child in multiprocessing.active_children():
            if child.pid not in self._others:
                child.kill()
                child.join(timeout=5)


def make_engine(name: str, settings: BatchSettings, workers: int, address: str | None = None) -> Engine:
    if name == "local":
        return LocalEngine(settings, workers)
    if name == "ray":
        from inference.batch.ray_engine import RayEngine

        return RayEngine(settings, workers, address)
    raise ValueError(f"engine must be one of {ENGINES}, not {name!r}")
