"""Executors: how a run's chunks of items get processed. ``InProcess`` runs them in the driver;
``WorkerPool`` in isolated worker processes that are replaced when they die. Both pin BLAS,
OpenMP and torch threads the same way, so numbers do not depend on the executor."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import sys
import time
from typing import Any, Callable, Protocol

from bench.codecs.base import Codec, MissingDependency
from bench.run.options import Job, RunError
from bench.run.pipeline import ItemSettings, _failed_item, _reason, add_cpu, process_jobs
from bench.tasks.base import Task




_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def pin_threads(n: int) -> Callable[[], None]:
    """Pin BLAS, OpenMP and torch intra-op threads to ``n`` — the one thread setting of every
    path (in-process, pool workers, Dask workers): environment variables for libraries not yet
    loaded, threadpoolctl for those loaded (call again after loading models), torch if imported.
    Returns a function that restores what was there before."""
    saved_env = {var: os.environ.get(var) for var in _THREAD_VARS}
    for var in _THREAD_VARS:
        os.environ[var] = str(n)
    try:
        from threadpoolctl import threadpool_limits

        limits = threadpool_limits(n)
    except ImportError:
        limits = None
    torch_before = _set_torch_threads(n)

    def restore() -> None:
        for var, value in saved_env.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
        if limits is not None:
            limits.restore_original_limits()
        if torch_before is not None:
            _set_torch_threads(torch_before)

    return restore


_pin_threads = pin_threads  # the earlier name


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
    restore = pin_threads(n)
    try:
        yield
    finally:
        restore()


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


#: glibc ``mallopt`` settings of a pool worker: blocks up to this size come from the heap and
#: freed memory up to this size stays there, instead of each array of a few MB (a 30 s Whisper
#: window, an STFT) being mapped, page-faulted and unmapped again for every item. Measured on
#: the run of ``benchmarks/vs_plain.py`` (3 codecs x 10 items, 4 tasks), alternated: system time
#: 7.7-8.2 s without, 5.9-6.0 s with, of about 50 CPU-s; peak memory stays flat in the corpus
#: size (the benchmark checks it).
WORKER_MALLOC_BYTES = 32 << 20


def _keep_freed_memory() -> None:
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(-1, WORKER_MALLOC_BYTES)  # M_TRIM_THRESHOLD
        libc.mallopt(-3, WORKER_MALLOC_BYTES)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # not glibc: the allocator's defaults
        pass


def _leave() -> None:
    """A worker told to stop leaves without the interpreter's teardown, which with torch, numba and
    SciPy loaded costs 0.4-0.9 CPU-seconds per process (``benchmarks/vs_plain.py`` counts it in
    the harness share). Nothing is lost: results went to the driver as they were made, and the
    caches a task writes commit every write. What an orderly exit does besides the teardown still
    runs: the ``atexit`` handlers (the codec2 codec's private library folder is removed by one),
    multiprocessing's exit step (it releases the named semaphores libraries made here, tqdm's
    lock for one, which would otherwise be reported as leaked), and the flushing of Python's and
    the C library's output buffers."""
    import atexit
    from multiprocessing import util

    for step in (atexit._run_exitfuncs, util._exit_function):
        try:
            step()
        except Exception:  # noqa: BLE001 - leaving anyway
            pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError, TypeError):
        pass
    os._exit(0)


def _worker_main(conn: Any, threads: int, parent_pid: int) -> None:
    """A pool worker: told what to load (a codec and tasks; tasks stay loaded for the next
    codec of the same ``bench run``), then takes one chunk of jobs at a time until told to stop."""
    boot_cpu = time.process_time()  # the interpreter's start and the imports of unpickling
    _die_with_parent(parent_pid)
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's: it stops the workers
    pin_threads(threads)
    _keep_freed_memory()
    loaded: dict[str, Task] = {}
    codec: Codec | None = None
    tasks: dict[str, Task] = {}
    settings: ItemSettings | None = None
    pending_cpu = {"startup": boot_cpu}  # reported with the next chunk's results
    mark = boot_cpu
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if msg is None:
            _leave()
        if msg[0] == "setup":
            _, setup_id, codec, new_tasks, keys, cache_dir, settings = msg
            loaded.update(new_tasks)
            tasks = {key: loaded[key] for key in keys}
            for task in tasks.values():
                task.cache_dir = cache_dir
            c = time.process_time()
            # receiving the setup unpickles the codec and tasks: it imports their modules
            pending_cpu["startup"] = pending_cpu.get("startup", 0.0) + c - mark
            try:
                load_components(codec, tasks.values(), threads)
            except BaseException as exc:  # noqa: BLE001 - reported to the parent, which stops the run
                conn.send({"fatal": f"cannot load {codec.name}: {_reason(exc)}"})
                return
            pending_cpu["load"] = pending_cpu.get("load", 0.0) + time.process_time() - c
            conn.send({"ready": setup_id})
            mark = time.process_time()
        else:
            results = process_jobs(codec, tasks, msg[1], settings)
            if results and pending_cpu:
                add_cpu(results[0].setdefault("cpu", {}), pending_cpu)  # CPU outside the items
                pending_cpu = {}
            conn.send({"results": results})
            mark = time.process_time()


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

    Inside :func:`shared_pool` (one ``bench run`` command) the pool outlives one codec: its
    workers keep their loaded task models (Whisper, the speaker encoder) and only load the next
    codec, instead of a new pool starting and loading everything for every codec.
    """

    def __init__(self, n: int, codec: Codec, tasks: dict[str, Task], settings: ItemSettings, threads: int,
                 timeout_s: float | None, shared: bool = False):
        self.n = n
        self.threads = threads
        self.timeout_s = timeout_s
        self.shared = shared
        self.ctx = multiprocessing.get_context("spawn")
        self.workers: list[dict[str, Any]] = []
        self._setups = 0
        self.bind(codec, tasks, settings)

    def bind(self, codec: Codec, tasks: dict[str, Task], settings: ItemSettings) -> "WorkerPool":
        """The codec and tasks of the next :meth:`run` (workers load them before their first chunk)."""
        self.codec, self.tasks, self.settings = codec, tasks, settings
        self._setups += 1
        self.setup_id = self._setups
        return self

    def _setup(self, worker: dict[str, Any]) -> None:
        """Send a worker what to load; it answers ready (or fatal) once loaded."""
        keys = list(self.tasks)
        new = {k: t for k, t in self.tasks.items() if k not in worker["task_keys"]}
        cache_dir = next((t.cache_dir for t in self.tasks.values()), None)
        try:
            worker["conn"].send(("setup", self.setup_id, self.codec, new, keys, cache_dir, self.settings))
        except (TypeError, AttributeError, pickle.PicklingError) as exc:
            raise RunError(f"cannot send the codec and tasks to a worker process (not picklable: {exc})") from None
        worker["task_keys"].update(new)
        worker.update(setup=self.setup_id, ready=False, started=time.monotonic())

    def _spawn(self) -> dict[str, Any]:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=_worker_main, args=(child, self.threads, os.getpid()), daemon=True,
                                name="bench-worker")
        proc.start()
        child.close()
        worker = {"proc": proc, "conn": parent, "jobs": None, "since": 0.0, "ready": False,
                  "started": time.monotonic(), "setup": None, "task_keys": set()}
        self.workers.append(worker)
        try:
            self._setup(worker)
        except (OSError, ValueError):  # died at once: found by the run loop
            pass
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
        clean = False
        try:
            for w in self.workers:
                if w["setup"] != self.setup_id:
                    self._setup(w)
            for _ in range(min(self.n, len(queue)) - len(self.workers)):
                self._spawn()
            while queue or any(w["jobs"] is not None for w in self.workers):
                faulted: dict[int, tuple[dict[str, Any], str]] = {}
                for w in self.workers:
                    if w["ready"] and w["jobs"] is None and queue:
                        w["jobs"], w["since"] = queue.popleft(), time.monotonic()
                        try:
                            w["conn"].send(("jobs", w["jobs"]))
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
                            w["ready"] = w["ready"] or msg["ready"] == self.setup_id  # an earlier setup's: ignored
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
                        raise RunError(f"a worker process did not finish loading {self.codec.name} and its "
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
            clean = True
        finally:
            if not (self.shared and clean):  # a stopped run leaves workers in an unknown state
                self.close()


_SHARED: dict[str, Any] | None = None


@contextlib.contextmanager
def shared_pool():
    """Within this block, runs that use worker processes share one pool (created by the first,
    resized and re-bound by the next, closed at the end): one ``bench run`` with several codecs
    or datasets starts its workers and loads its task models once."""
    global _SHARED
    if _SHARED is not None:  # nested: the outer block owns the pool
        yield
        return
    _SHARED = {"pool": None}
    try:
        yield
    finally:
        pool, _SHARED = _SHARED["pool"], None
        if pool is not None:
            pool.close()


def worker_pool(n: int, codec: Codec, tasks: dict[str, Task], settings: ItemSettings, threads: int,
                timeout_s: float | None) -> WorkerPool:
    """A pool for one run: the shared one (see :func:`shared_pool`) when its threads and timeout
    match, else a new one."""
    if _SHARED is None:
        return WorkerPool(n, codec, tasks, settings, threads, timeout_s)
    pool = _SHARED["pool"]
    if pool is not None and (pool.threads, pool.timeout_s) == (threads, timeout_s):
        pool.n = n
        while len(pool.workers) > n:  # fewer workers asked for: the extra ones stop
            w = pool.workers[-1]
            try:
                w["conn"].send(None)
            except (OSError, ValueError):
                pass
            pool._retire(w, kill=False)
        return pool.bind(codec, tasks, settings)
    if pool is not None:
        pool.close()
    pool = _SHARED["pool"] = WorkerPool(n, codec, tasks, settings, threads, timeout_s, shared=True)
    return pool


def load_components(codec: Codec, tasks: Any, threads: int | None = None) -> None:
    codec.load()
    for task in tasks:
        task.load()
    if threads is not None:  # loading may have imported torch and other thread pools (OpenMP)
        _set_torch_threads(threads)
        try:
            from threadpoolctl import threadpool_limits

            threadpool_limits(threads)
        except ImportError:
            pass


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
            c = time.process_time()
            try:
                load_components(self.codec, self.tasks.values(), self.threads)
            except MissingDependency:
                raise
            except Exception as exc:
                raise RunError(f"cannot load {self.codec.name}: {exc}") from exc
            pending_cpu = {"load": time.process_time() - c}
            for chunk in chunks:
                results = process_jobs(self.codec, self.tasks, chunk, self.settings)
                if results and pending_cpu:
                    add_cpu(results[0].setdefault("cpu", {}), pending_cpu)  # CPU outside the items
                    pending_cpu = {}
                record(results)


