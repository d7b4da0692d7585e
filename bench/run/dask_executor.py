"""The Dask executor: a run's items processed on a ``dask.distributed`` cluster.

What a run means does not change. Items go out in batches (lists of the run's chunks, each
processed by :func:`process_jobs` exactly as in the other executors); each Dask worker process
gets the pickled codec, tasks and settings once through a worker plugin, and loads them once
(threads pinned as in a pool worker) on its first batch; results stream back to the driver,
which alone writes the store, one transaction per item. So resume, caching and the SIGKILL
guarantee hold as in a local run.

Faults: a worker that dies (killed, segfault, out of memory) loses its batch, and Dask runs
it again on another worker. A batch that killed ``allowed_failures + 1`` workers comes back as
``KilledWorker``: a batch of several items is then resubmitted item by item, and an item that
kills its workers alone is recorded as failed with the reason, and the run goes on. The driver
records every item of the run exactly once.

dask is imported only when this executor is used: ``pip install 'bench[dask]'``.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import threading
import time
import uuid
from typing import Any, Callable

from bench.codecs.base import Codec, require
from bench.run.executors import _THREAD_VARS, load_components, pin_threads
from bench.run.options import Job, RunError
from bench.run.pipeline import ItemSettings, _failed_item, _reason, process_jobs
from bench.tasks.base import Task

try:  # the plugin base class; without dask the executor refuses in one line (see _distributed)
    from distributed import WorkerPlugin as _WorkerPlugin
except ImportError:  # pragma: no cover - exercised only without the extra
    _WorkerPlugin = object  # type: ignore[assignment,misc]

#: Most items in one Dask task: bounds the work a killed worker loses and keeps the load even.
MAX_BATCH_ITEMS = 16
#: Times a batch may be lost with its worker before it comes back as KilledWorker (local
#: clusters; an existing scheduler keeps its own ``distributed.scheduler.allowed-failures``).
#: 1: a batch is tried on a second worker, then split; an item that kills two workers fails.
ALLOWED_FAILURES = 1


def _distributed() -> Any:
    return require("distributed", "dask", "dask[distributed]")


# -- worker side ----------------------------------------------------------------------------
#: run id -> {"payload": bytes, "loaded": (codec, tasks, settings) | None, "error": str | None}
_RUNS: dict[str, dict[str, Any]] = {}
#: One batch at a time per worker process, whatever the worker's thread count: the codec and
#: tasks are one instance per process, as in a pool worker.
_LOCK = threading.Lock()


class BenchPlugin(_WorkerPlugin):
    """Hands one run's pickled codec, tasks, settings and thread count to every worker of the
    cluster, including workers that join or replace a dead one later."""

    def __init__(self, run_id: str, payload: bytes):
        self.run_id, self.payload = run_id, payload

    def setup(self, worker: Any = None) -> None:
        _RUNS[self.run_id] = {"payload": self.payload, "loaded": None, "error": None, "pinned": set()}

    def teardown(self, worker: Any = None) -> None:
        _RUNS.pop(self.run_id, None)


def _components(state: dict[str, Any]) -> tuple[Codec, dict[str, Task], ItemSettings]:
    """The run's codec and tasks in this worker process, loaded on first use (in the thread
    that processes items, with threads pinned there as in a pool worker)."""
    if state["loaded"] is None:
        try:
            codec, tasks, settings, threads = pickle.loads(state["payload"])
        except BaseException as exc:  # noqa: BLE001 - e.g. a different bench on the worker
            state["error"] = f"Dask worker {os.getpid()} cannot unpickle the run: {_reason(exc)}"
            raise
        pin_threads(threads)
        state["pinned"].add(threading.get_ident())
        try:
            load_components(codec, tasks.values(), threads)
        except BaseException as exc:  # noqa: BLE001 - reported to the driver, which stops the run
            state["error"] = f"cannot load {codec.name}: {_reason(exc)}"
            raise
        state["loaded"] = (codec, tasks, settings, threads)
    codec, tasks, settings, threads = state["loaded"]
    if threading.get_ident() not in state["pinned"]:
        pin_threads(threads)
        state["pinned"].add(threading.get_ident())
    return codec, tasks, settings


def run_batch(run_id: str, chunks: list[list[Job]]) -> list[dict[str, Any]]:
    """One Dask task: the chunks of a batch, each processed as the other executors do."""
    with _LOCK:
        state = _RUNS.get(run_id)
        if state is None:
            return [{"fatal": f"Dask worker {os.getpid()} has no bench plugin for this run"}]
        if not state["error"]:
            try:
                codec, tasks, settings = _components(state)
            except BaseException:  # noqa: BLE001 - state["error"] says why
                pass
        if state["error"]:
            return [{"fatal": state["error"]}]
        results: list[dict[str, Any]] = []
        for chunk in chunks:
            results += process_jobs(codec, tasks, chunk, settings)
        return results


# -- driver side ----------------------------------------------------------------------------
def batch_size(n_jobs: int, n_workers: int) -> int:
    """Items per Dask task: about four tasks per worker, at most MAX_BATCH_ITEMS items."""
    return max(1, min(MAX_BATCH_ITEMS, math.ceil(n_jobs / max(1, 4 * n_workers))))


def default_workers(threads: int) -> int:
    """A local cluster sized to the machine: one worker per ``threads`` cores."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, threads))


class DaskExecutor:
    """Runs chunks of jobs on a Dask cluster: a ``LocalCluster`` of ``n_workers`` processes
    (one thread each; loopback only, no dashboard) or the existing cluster at ``scheduler``
    (``tcp://HOST:PORT``; workers need the same bench installed and the items' paths).

    ``stats`` holds, after ``run``, where the driver's time went: ``startup_s`` (cluster start
    and plugin), ``submit_s``, ``record_s`` (writing results), ``handle_s`` (the rest of the
    driver's per-result work), ``items`` and ``batches``.
    """

    def __init__(self, codec: Codec, tasks: dict[str, Task], settings: ItemSettings, threads: int,
                 n_workers: int | None = None, scheduler: str | None = None,
                 allowed_failures: int = ALLOWED_FAILURES, client: Any = None):
        _distributed()
        self.codec, self.tasks, self.settings, self.threads = codec, tasks, settings, threads
        self.n_workers = n_workers or default_workers(threads)
        self.scheduler = scheduler
        self.allowed_failures = allowed_failures
        self.client = client  # an existing Client (benchmarks, tests); left open
        self.stats: dict[str, float] = {}

    def _start(self) -> tuple[Any, Any]:
        import dask

        distributed = _distributed()
        if self.client is not None:
            return self.client, None
        if self.scheduler:
            try:
                return distributed.Client(self.scheduler, timeout="30s", set_as_default=False), None
            except (OSError, TimeoutError) as exc:
                raise RunError(f"cannot reach the Dask scheduler at {self.scheduler}: {_reason(exc)}") from None
        # one task per single-threaded worker at a time: a worker's death then strikes only the
        # batch it was running (Dask counts a strike for every task a dead worker held)
        with dask.config.set({"distributed.scheduler.allowed-failures": self.allowed_failures,
                              "distributed.scheduler.worker-saturation": 1.0,
                              "distributed.worker.daemon": False}):
            cluster = distributed.LocalCluster(
                n_workers=self.n_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=None, worker_dashboard_address=None, silence_logs=logging.CRITICAL,
                env={var: str(self.threads) for var in _THREAD_VARS},
            )
        try:
            return distributed.Client(cluster, set_as_default=False), cluster
        except BaseException:
            cluster.close()
            raise

    def run(self, chunks: list[list[Job]], record: Callable[[list[dict]], None]) -> None:
        distributed = _distributed()
        t0 = time.perf_counter()
        stats = self.stats = {"startup_s": 0.0, "submit_s": 0.0, "record_s": 0.0, "handle_s": 0.0,
                              "items": 0, "batches": 0}
        client, cluster = self._start()
        pending: dict[Any, list[list[tuple[int, Job]]]] = {}
        run_id = uuid.uuid4().hex
        name = f"bench-run-{run_id}"
        try:
            payload = pickle.dumps((self.codec, self.tasks, self.settings, self.threads))
            client.register_plugin(BenchPlugin(run_id, payload), name=name)
            if cluster is None:
                allowed = client.run_on_scheduler(_allowed_failures)
            else:
                allowed = self.allowed_failures
            stats["startup_s"] = time.perf_counter() - t0

            # every job of the run gets an index: the driver records each index exactly once
            indexed: list[list[tuple[int, Job]]] = []
            n = 0
            for chunk in chunks:
                indexed.append([(n + i, job) for i, job in enumerate(chunk)])
                n += len(chunk)
            try:
                info = client.scheduler_info(n_workers=-1)  # newer distributed lists 5 by default
            except TypeError:
                info = client.scheduler_info()
            n_workers = len(info.get("workers", {})) or self.n_workers
            size = batch_size(n, n_workers)
            batches: list[list[list[tuple[int, Job]]]] = [[]]
            for chunk in indexed:
                if batches[-1] and sum(len(c) for c in batches[-1]) + len(chunk) > size:
                    batches.append([])
                batches[-1].append(chunk)
            recorded: set[int] = set()
            queue = distributed.as_completed(loop=client.loop)

            def submit(batch: list[list[tuple[int, Job]]]) -> None:
                t = time.perf_counter()
                fut = client.submit(run_batch, run_id, [[job for _, job in c] for c in batch],
                                    key=f"bench-{run_id}-{stats['batches']}", pure=False)
                stats["batches"] += 1
                pending[fut] = batch
                queue.add(fut)
                stats["submit_s"] += time.perf_counter() - t

            for batch in batches:
                submit(batch)
            for fut in queue:
                t = time.perf_counter()
                batch = pending.pop(fut)
                jobs = [pair for chunk in batch for pair in chunk]
                try:
                    results = fut.result()
                except distributed.KilledWorker:
                    fut.release()
                    stats["handle_s"] += time.perf_counter() - t
                    if len(jobs) > 1:  # find the culprit alone
                        for pair in jobs:
                            submit([[pair]])
                    else:
                        (i, job), = jobs
                        if i not in recorded:
                            recorded.add(i)
                            t = time.perf_counter()
                            record([_failed_item(job, f"worker died on this item {allowed + 1} times "
                                                      "(KilledWorker)")])
                            stats["record_s"] += time.perf_counter() - t
                            stats["items"] += 1
                    continue
                except Exception as exc:  # run_batch does not raise for an item: plumbing failed
                    raise RunError(f"a Dask task failed: {_reason(exc)}") from exc
                fut.release()
                if any("fatal" in r for r in results):
                    record([r for r in results if "fatal" in r][:1])  # raises RunError
                fresh = []
                for (i, _), result in zip(jobs, results):
                    if i not in recorded:
                        recorded.add(i)
                        fresh.append(result)
                stats["handle_s"] += time.perf_counter() - t
                t = time.perf_counter()
                if fresh:
                    record(fresh)
                stats["record_s"] += time.perf_counter() - t
                stats["items"] += len(fresh)
            if len(recorded) != n:  # cannot happen; never let a run end with an item lost
                raise RunError(f"the Dask run lost {n - len(recorded)} item(s)")
        finally:
            try:
                for fut in list(pending):
                    fut.cancel()
            except Exception:  # noqa: BLE001
                pass
            if cluster is None:
                try:
                    client.unregister_worker_plugin(name)
                except Exception:  # noqa: BLE001 - the cluster may be gone
                    pass
            if self.client is None:
                client.close()
            if cluster is not None:
                cluster.close()


def _allowed_failures(dask_scheduler: Any = None) -> int:
    return int(getattr(dask_scheduler, "allowed_failures", 3))
