"""Executors: how a run's chunks of items get processed. ``InProcess`` runs them in the driver;
``WorkerPool`` in isolated worker processes that are replaced when they die. Both pin BLAS,
OpenMP and torch threads the same way, so numbers do not depend on the executor."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import time
from typing import Any, Callable, Protocol

from bench.codecs.base import Codec, MissingDependency
from bench.run.options import Job, RunError
from bench.run.pipeline import ItemSettings, _failed_item, _reason, process_jobs
from bench.tasks.base import Task




_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def _pin_threads(n: int) -> None:
    for var in _THREAD_VARS:
        os.environ[var] = str(n)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except ImportError:
        pass
    _set_torch_threads(n)


def _set_torch_threads(n: int) -> int | None:
    """Set torch's intra-op threads if torch is imported; returns the previous count."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        return None
    before = torch.get_num_threads()
    if before != n:
        torch.set_num_threads(n)
    return before


@contextlib.contextmanager
def pinned_threads(n: int):
    """In-process runs pin threads exactly as pool workers do, and restore them afterwards."""
    saved_env = {var: os.environ.get(var) for var in _THREAD_VARS}
    for var in _THREAD_VARS:
        os.environ[var] = str(n)
    torch_before = _set_torch_threads(n)
    try:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            yield
        else:
            with threadpool_limits(n):
                yield
    finally:
        for var, value in saved_env.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
        if torch_before is not None:
            _set_torch_threads(torch_before)


def _die_with_parent(parent_pid: int) -> None:
    """A worker never outlives the run: on Linux the kernel kills it when the parent dies
    (PR_SET_PDEATHSIG); everywhere a watchdog thread exits once the parent is gone."""
    import signal
    import threading

    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="bench-parent-watch").start()


def _worker_main(conn: Any, codec: Codec, tasks: dict[str, Task], settings: ItemSettings, threads: int,
                 parent_pid: int) -> None:
    """A pool worker: load once, then take one chunk of jobs at a time until told to stop."""
    _die_with_parent(parent_pid)
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's: it stops the workers
    _pin_threads(threads)
    try:
        load_components(codec, tasks.values(), threads)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which stops the run
        conn.send({"fatal": f"cannot load {codec.name}: {_reason(exc)}"})
        return
    conn.send({"ready": True})
    while True:
        try:
            jobs = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if jobs is None:
            return
        conn.send({"results": process_jobs(codec, tasks, jobs, settings)})


def _exit_reason(code: int | None) -> str:
    import signal

    if code is not None and code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


#: Seconds a worker may take to import and load the codec and tasks before the run stops.
LOAD_TIMEOUT_S = 600.0


class WorkerPool:
    """Worker processes that take one chunk of jobs at a time.

    A worker that dies (segfault, ``os._exit``, out of memory, killed) or overruns the per-item
    timeout is replaced. Its chunk's items are tried again one by one in fresh workers, so only
    the item that faults is recorded as failed (with the reason), and every other item is
    measured exactly as in a clean run. Workers die with the parent.
    """

    def __init__(self, n: int, codec: Codec, tasks: dict[str, Task], settings: ItemSettings, threads: int,
                 timeout_s: float | None):
        self.n = n
        self.args = (codec, tasks, settings, threads)
        self.timeout_s = timeout_s
        self.ctx = multiprocessing.get_context("spawn")
        self.workers: list[dict[str, Any]] = []

    def _spawn(self) -> dict[str, Any]:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=_worker_main, args=(child, *self.args, os.getpid()), daemon=True,
                                name="bench-worker")
        try:
            proc.start()
        except (TypeError, AttributeError, pickle.PicklingError) as exc:
            parent.close()
            child.close()
            raise RunError(f"cannot send the codec and tasks to a worker process (not picklable: {exc})") from None
        child.close()
        worker = {"proc": proc, "conn": parent, "jobs": None, "since": 0.0, "ready": False,
                  "started": time.monotonic()}
        self.workers.append(worker)
        return worker

    def _retire(self, worker: dict[str, Any], kill: bool = False) -> None:
        if kill and worker["proc"].is_alive():
            worker["proc"].kill()
        worker["proc"].join(timeout=5)
        worker["conn"].close()
        self.workers.remove(worker)

    def close(self) -> None:
        for w in list(self.workers):
            try:
                w["conn"].send(None)
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + 5
        for w in list(self.workers):
            w["proc"].join(timeout=max(0.0, deadline - time.monotonic()))
            self._retire(w, kill=True)

    def run(self, chunks: list[list[Job]], record: Callable[[list[dict]], None]) -> None:
        from collections import deque
        from multiprocessing.connection import wait

        queue = deque(chunks)
        try:
            for _ in range(min(self.n, len(queue))):
                self._spawn()
            while queue or any(w["jobs"] is not None for w in self.workers):
                faulted: dict[int, tuple[dict[str, Any], str]] = {}
                for w in self.workers:
                    if w["ready"] and w["jobs"] is None and queue:
                        w["jobs"], w["since"] = queue.popleft(), time.monotonic()
                        try:
                            w["conn"].send(w["jobs"])
                        except (OSError, ValueError):  # it died between two chunks: the chunk never ran
                            queue.appendleft(w["jobs"])
                            w["jobs"] = None
                            w["proc"].join(timeout=5)
                            faulted[id(w)] = (w, _exit_reason(w["proc"].exitcode))
                deadlines = [w["since"] + self.timeout_s * len(w["jobs"])
                             for w in self.workers if self.timeout_s and w["jobs"] is not None]
                # a worker still loading the codec and tasks gets LOAD_TIMEOUT_S
                deadlines += [w["started"] + LOAD_TIMEOUT_S for w in self.workers if not w["ready"]]
                wait_s = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
                handles = {w["conn"]: w for w in self.workers}
                handles.update({w["proc"].sentinel: w for w in self.workers})
                ready = wait(list(handles), timeout=wait_s) if not faulted else []
                for handle in ready:
                    w = handles[handle]
                    if id(w) in faulted or w not in self.workers:
                        continue
                    if handle is w["conn"]:
                        try:
                            msg = w["conn"].recv()
                        except (EOFError, OSError):
                            w["proc"].join(timeout=5)
                            faulted[id(w)] = (w, _exit_reason(w["proc"].exitcode))
                            continue
                        if "fatal" in msg:
                            raise RunError(msg["fatal"])
                        if "ready" in msg:
                            w["ready"] = True
                            continue
                        w["jobs"] = None
                        record(msg["results"])
                    elif not w["proc"].is_alive():
                        faulted[id(w)] = (w, _exit_reason(w["proc"].exitcode))
                now = time.monotonic()
                for w in self.workers:
                    if id(w) in faulted:
                        continue
                    if self.timeout_s and w["jobs"] is not None and now - w["since"] > self.timeout_s * len(w["jobs"]):
                        faulted[id(w)] = (w, f"timed out after {self.timeout_s:g} s per item")
                    elif not w["ready"] and now - w["started"] > LOAD_TIMEOUT_S:
                        raise RunError(f"a worker process did not finish loading {self.args[0].name} and its "
                                       f"tasks in {LOAD_TIMEOUT_S:g} s")
                for w, why in faulted.values():
                    jobs = w["jobs"]
                    if jobs is not None and len(jobs) > 1:
                        queue.extendleft([job] for job in reversed(jobs))  # find the culprit alone
                    elif jobs is not None:
                        record([_failed_item(jobs[0], f"worker process {why} on this item")])
                    elif not w["ready"]:
                        raise RunError(f"a worker process {why} while loading the codec and tasks")
                    self._retire(w, kill=True)
                    if queue:
                        self._spawn()
                if not self.workers and queue:
                    self._spawn()
        finally:
            self.close()


def load_components(codec: Codec, tasks: Any, threads: int | None = None) -> None:
    codec.load()
    for task in tasks:
        task.load()
    if threads is not None:  # loading may have imported torch
        _set_torch_threads(threads)


#: What an executor calls with each finished chunk's results (the driver writes them).
Record = Callable[[list[dict]], None]


class Executor(Protocol):
    """Runs chunks of jobs and hands every chunk's results to ``record``, in the driver."""

    def run(self, chunks: list[list[Job]], record: Record) -> None: ...


class InProcess:
    """Chunks processed in the driver: no process start, no isolation (a segfault in a codec
    stops the run). Threads are pinned as in a worker and restored afterwards."""

    def __init__(self, codec: Codec, tasks: dict[str, Task], settings: ItemSettings, threads: int):
        self.codec, self.tasks, self.settings, self.threads = codec, tasks, settings, threads

    def run(self, chunks: list[list[Job]], record: Record) -> None:
        with pinned_threads(self.threads):
            try:
                load_components(self.codec, self.tasks.values(), self.threads)
            except MissingDependency:
                raise
            except Exception as exc:
                raise RunError(f"cannot load {self.codec.name}: {exc}") from exc
            for chunk in chunks:
                record(process_jobs(self.codec, self.tasks, chunk, self.settings))

