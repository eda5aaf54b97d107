"""``--engine ray``: the same per-study work on a Ray cluster (``pip install 'lunglens[scale]'``).

Each worker is a Ray actor wrapping a :class:`StudyAnalyst`, so it opens its ONNX sessions once,
not once per study; tasks name the study's files, which every node must read at the same path (a
shared folder), and results come back to the driver, which alone writes the index.

Nothing leaves the machine unless asked: without ``--address`` Ray starts a private local cluster
whose processes listen on loopback only (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` is Ray's own
single-machine switch: the node address becomes 127.0.0.1 instead of the machine's; Ray reads it
when it is imported, so ``ray`` is imported only once the address is known), with the
dashboard off and usage statistics off (``RAY_USAGE_STATS_ENABLED=0``, read by the driver and
by every process the cluster starts). Workers also get ``ORT_DISABLE_TELEMETRY=1`` through the job's
runtime environment, so onnxruntime's telemetry is off in every one of them too.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from collections import deque
from collections.abc import Iterator, Sequence

from inference.batch.analyst import BatchSettings, StudyAnalyst, StudyTask
from inference.batch.engines import ATTEMPTS, QUEUED_PER_WORKER, worker_died
from inference.worklist.index import StudyResult

if importlib.util.find_spec("ray") is None:  # the local engine needs nothing more; Ray comes with an extra
    raise ImportError("--engine ray needs Ray: pip install 'lunglens[scale]'", name="ray")

PRIVATE_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "ORT_DISABLE_TELEMETRY": "1"}
LOOPBACK_ONLY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
LOOPBACK = ("127.0.0.1", "::ffff:127.0.0.1", "[::1]", "localhost")
_POLL_S = 0.5


def start_ray(workers: int, address: str | None) -> None:
    """Join the cluster at ``address``, or start a private one on loopback with ``workers`` CPUs.

    A private cluster that did not come up on loopback (Ray imported earlier in this process, before
    the switch was set) is shut down again with an error rather than used."""
    os.environ.update(PRIVATE_ENV)
    if address is None:
        os.environ.update(LOOPBACK_ONLY_ENV)
    import ray

    ray.init(
        address=address or "local",
        num_cpus=workers if address is None else None,
        include_dashboard=False,
        runtime_env={"env_vars": dict(PRIVATE_ENV)},
        configure_logging=False,
        log_to_driver=False,
    )
    host = ray.get_runtime_context().gcs_address.rsplit(":", 1)[0]
    if address is None and host not in LOOPBACK:
        ray.shutdown()
        raise RuntimeError(f"the private Ray cluster came up on {host}, not on loopback: import Ray only through LungLens")


class RayEngine:
    name = "ray"

    def __init__(self, settings: BatchSettings, workers: int, address: str | None = None) -> None:
        self.settings = settings
        self.workers = max(1, workers)
        imported = sys.modules.get("ray")
        self._started_here = imported is None or not imported.is_initialized()
        if self._started_here:
            start_ray(self.workers * settings.threads, address)
        import ray

        actor = ray.remote(StudyAnalyst).options(num_cpus=settings.threads, max_restarts=ATTEMPTS)
        self._actors = [actor.remote(settings) for _ in range(self.workers)]

    def results(self, tasks: Sequence[StudyTask], cancel: threading.Event | None = None) -> Iterator[StudyResult]:
        import ray
        from ray.exceptions import RayActorError

        waiting = deque(tasks)
        running: dict[ray.ObjectRef, tuple[StudyTask, int]] = {}
        attempts: dict[str, int] = {}
        load = [0] * len(self._actors)
        while waiting or running:
            if cancel is not None and cancel.is_set():
                return
            while waiting and min(load) <= QUEUED_PER_WORKER:
                worker = load.index(min(load))
                task = waiting.popleft()
                running[self._actors[worker].analyse.remote(task)] = (task, worker)
                load[worker] += 1
            done, _ = ray.wait(list(running), num_returns=1, timeout=_POLL_S)
            for ref in done:
                task, worker = running.pop(ref)
                load[worker] -= 1
                try:
                    yield ray.get(ref)
                except RayActorError:  # the actor's process died; Ray restarts it (max_restarts)
                    attempts[task.key] = attempts.get(task.key, 0) + 1
                    if attempts[task.key] >= ATTEMPTS:
                        yield worker_died(task)
                    else:
                        waiting.appendleft(task)

    def close(self) -> None:
        import ray

        for actor in self._actors:
            ray.kill(actor)
        self._actors = []
        if self._started_here:
            ray.shutdown()
