"""Plan and execute runs: codec x dataset x tasks.

Per item: load -> resample to the codec's rate (soxr) -> encode -> decode -> resample to 16 kHz
-> align to the reference (bounded cross-correlation) -> each task's ``measure``. Items run in
the main process (``workers=1``) or in a process pool with one codec and task instance per
worker and BLAS/torch threads pinned so that workers do not fight over cores.

Everything is keyed by content (see :mod:`bench.store`): what is done is never done again, and a
run killed at any point resumes where it stopped with the same final numbers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import multiprocessing
import os
import sqlite3
import time
from collections import Counter
from typing import Any, Callable

import numpy as np

from bench.audio import MAX_INPUT_S, MIN_INPUT_S, METRIC_SR, AudioError, align, check_signal, check_wave, resample
from bench.codecs import CODECS
from bench.codecs.base import Codec, CodecError, EncodeResult, MissingDependency, check_tokens, token_bitrate
from bench.config import stable_hash
from bench.datasets import DATASETS, DEFAULT_DATASET
from bench.datasets.base import Dataset, Item, dataset_hash
from bench.registry import parse_spec
from bench.results import (ResultError, load_record, make_record, portable_config, portable_spec, record_filename,
                           save_record)
from bench.store import CodecOutput, Store, TaskResult
from bench.tasks import DEFAULT_TASKS, TASKS
from bench.tasks.base import Failed, ItemContext, Measurement, Row, Task


class RunError(RuntimeError):
    """A run cannot start or cannot go on (bad spec, missing backend, worker crash)."""


# -- building components from specs ---------------------------------------------------------
def build_codec(spec: str) -> Codec:
    name, options = parse_spec(spec)
    return CODECS.build(name, options)


def build_task(spec: str) -> Task:
    name, options = parse_spec(spec)
    return TASKS.build(name, options)


def build_dataset(spec: str) -> Dataset:
    name, options = parse_spec(spec)
    return DATASETS.build(name, options)


def task_key(task: Task) -> str:
    return f"{task.name}@{task.version}#{stable_hash(task.describe()['config'], 8)}"


@dataclasses.dataclass
class RunOptions:
    codec: str
    dataset: str | None = None
    tasks: tuple[str, ...] = DEFAULT_TASKS
    limit: int | None = None
    seed: int = 0
    workers: int = 1
    out: str = "bench-out"
    max_lag: float = 0.25  # seconds: bound of the alignment search
    #: "auto" (a bar on a terminal, plain lines otherwise), "bar", "lines" or "off"; True/False
    #: mean "auto"/"off".
    progress: bool | str = "auto"
    #: BLAS/OpenMP/torch threads per worker, the same in-process and in pool workers, so that
    #: numbers do not depend on ``workers`` (a thread count changes floating-point summation
    #: order). Part of the run's key and record.
    threads: int = 1
    #: Measure again the task rows and codec outputs that failed in earlier runs.
    retry_failed: bool = False
    #: Seconds one item may take (codec and tasks) before its worker is killed and the item
    #: recorded as failed; None: no limit. Needs worker processes.
    timeout: float | None = None
    #: Run items in worker processes even with one worker, so that a crash (segfault,
    #: ``os._exit``) or a hang in a codec or metric fails that item only. None: when workers > 1
    #: or a timeout is set.
    isolate: bool | None = None
    #: Longest item measured, in seconds (longer ones fail with the reason); None: no limit.
    max_duration: float | None = MAX_INPUT_S

    def isolated(self) -> bool:
        return bool(self.isolate) or self.workers > 1 or self.timeout is not None

    def validate(self) -> None:
        if self.limit is not None and (isinstance(self.limit, bool) or self.limit < 1):
            raise RunError(f"--limit must be at least 1, got {self.limit}")
        for name in ("workers", "threads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise RunError(f"--{name} must be an integer of at least 1, got {value!r}")
        if self.max_duration is not None and not (isinstance(self.max_duration, (int, float)) and self.max_duration > 0):
            raise RunError(f"--max-duration must be a positive number of seconds, got {self.max_duration!r}")
        if self.timeout is not None and not (isinstance(self.timeout, (int, float)) and 0 < self.timeout < float("inf")):
            raise RunError(f"--timeout must be a positive number of seconds, got {self.timeout!r}")
        if self.isolate is False and self.timeout is not None:
            raise RunError("--timeout needs worker processes (drop --in-process)")
        if not (isinstance(self.max_lag, (int, float)) and 0 <= self.max_lag < float("inf")):
            raise RunError(f"--max-lag must be a finite number of seconds >= 0, got {self.max_lag!r}")

    def key_parts(self) -> dict[str, Any]:
        """The run options that can move a number: part of every cache key and record."""
        return {"max_lag_s": float(self.max_lag), "threads": int(self.threads),
                "min_duration_s": MIN_INPUT_S, "max_duration_s": self.max_duration}


@dataclasses.dataclass
class RunReport:
    records: list[dict]
    paths: list[str]
    n_items: int
    n_computed: int  # items that needed any work this time
    seconds: float
    run_dir: str
    #: wall seconds of the phases: setup (build, hash, scan the store), execute, summarize
    phases: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Job:
    item: Item
    item_hash: str
    task_keys: list[str]
    cached: CodecOutput | None  # codec output from the store, or None to run the codec


def run_key(codec: Codec, opts: RunOptions) -> str:
    """Key of a codec's outputs in the store: its config hash and the run options that move
    numbers (the alignment bound, the thread count)."""
    return stable_hash({"codec": codec.config_hash, **opts.key_parts()})


def select_items(items: list[Item], limit: int | None, seed: int) -> list[Item]:
    """All items, or a seeded random subset of ``limit`` of them (kept in id order)."""
    if limit is not None and limit < 1:
        raise RunError(f"--limit must be at least 1, got {limit}")
    if limit is None or limit >= len(items):
        return list(items)
    rng = np.random.default_rng(seed)
    keep = sorted(rng.choice(len(items), size=limit, replace=False))
    return [items[i] for i in keep]


# -- the per-item pipeline (runs in a worker) ----------------------------------------------
def run_codec(codec: Codec, wave: np.ndarray, sr: int, max_lag_s: float) -> tuple[CodecOutput, np.ndarray]:
    """Encode and decode one input; returns the output (aligned 16 kHz reconstruction) and the
    16 kHz reference."""
    timings: dict[str, float] = {}
    t = time.perf_counter()
    x = resample(wave, sr, codec.sample_rate)
    ref16 = resample(wave, sr, METRIC_SR)
    timings["resample"] = time.perf_counter() - t
    t = time.perf_counter()
    encoded = codec.encode(x)
    timings["encode"] = time.perf_counter() - t
    if not isinstance(encoded, EncodeResult):
        raise CodecError(f"encode returned {type(encoded).__name__}, expected an EncodeResult")
    tokens = check_tokens(codec, encoded.tokens)
    t = time.perf_counter()
    decoded = codec.decode(tokens)
    if not isinstance(decoded, np.ndarray):
        raise CodecError(f"decode returned {type(decoded).__name__}, expected a numpy array")
    y = check_wave(decoded, "decoded audio")
    timings["decode"] = time.perf_counter() - t
    t = time.perf_counter()
    y16 = resample(y, codec.sample_rate, METRIC_SR)
    # A codec that removes its own delay and keeps no waveform phase (a vocoder) may bound or
    # switch off the search: cross-correlation peaks of random-phase output are meaningless.
    max_lag_s = min(max_lag_s, getattr(codec, "max_align_lag", max_lag_s))
    recon, lag = align(ref16, y16, int(max_lag_s * METRIC_SR))
    timings["align"] = time.perf_counter() - t
    duration = len(wave) / float(sr)
    out = CodecOutput(
        status="ok", tokens=tokens, recon=recon.astype(np.float32), lag=lag, duration=duration,
        token_bps=token_bitrate(codec, tokens, duration),
        payload_bps=None if encoded.payload_bytes is None else 8.0 * encoded.payload_bytes / duration,
        timings=timings,
    )
    return out, ref16


@dataclasses.dataclass(frozen=True)
class ItemSettings:
    """What the per-item pipeline needs from the run options (sent to workers)."""

    max_lag_s: float = 0.25
    max_duration_s: float | None = MAX_INPUT_S

    @classmethod
    def of(cls, opts: "RunOptions") -> "ItemSettings":
        return cls(max_lag_s=opts.max_lag, max_duration_s=opts.max_duration)


def _codec_stage(codec: Codec, job: Job, settings: ItemSettings) -> tuple[CodecOutput, CodecOutput | None, np.ndarray | None]:
    """Load the item and run the codec unless cached: (output, new output or None, 16 kHz ref)."""
    new_output: CodecOutput | None = None
    ref16 = None
    output = job.cached
    try:
        t = time.perf_counter()
        try:
            audio = job.item.load()
        except AudioError:
            raise
        except _ITEM_FAULTS as exc:
            raise AudioError(f"cannot load: {_reason(exc)}") from None
        check_signal(audio.wave, audio.sample_rate, MIN_INPUT_S, settings.max_duration_s)
        load_s = time.perf_counter() - t
        if output is None:
            try:
                new_output, ref16 = run_codec(codec, audio.wave, audio.sample_rate, settings.max_lag_s)
            except _ITEM_FAULTS as exc:  # whatever a plugin raises fails this item only
                new_output = CodecOutput(status="failed", reason=f"codec failed: {_reason(exc)}")
            new_output.notes = list(audio.notes) + (
                [f"resampled from {audio.sample_rate} Hz"] if audio.sample_rate != METRIC_SR else [])
            new_output.timings["load"] = load_s
            new_output.duration = audio.duration
            output = new_output
        elif output.status == "ok":
            ref16 = resample(audio.wave, audio.sample_rate, METRIC_SR)
    except AudioError as exc:
        output = new_output = CodecOutput(status="failed", reason=f"bad input: {exc}")
    return output, new_output, ref16


def process_jobs(codec: Codec, tasks: dict[str, Task], jobs: list[Job], settings: ItemSettings) -> list[dict[str, Any]]:
    """Everything a chunk of items needs; never raises for a bad item (the reason is recorded).

    The codec runs item by item; each task then measures the chunk's items in one
    ``measure_batch`` call (a chunk is one item unless a task declares a larger
    ``batch_size``).
    """
    results = []
    contexts: dict[int, ItemContext] = {}
    for i, job in enumerate(jobs):
        t = time.perf_counter()
        output, new_output, ref16 = _codec_stage(codec, job, settings)
        results.append({"item_id": job.item.id, "item_hash": job.item_hash, "output": new_output,
                        "tasks": {}, "status": output, "t": time.perf_counter() - t})
        if output.status == "ok":
            contexts[i] = ItemContext(
                item_id=job.item.id, reference=ref16, reconstruction=output.recon, tokens=output.tokens,
                labels=job.item.labels(), lag=output.lag, item_hash=job.item_hash,
            )
    for key, task in tasks.items():
        idx = [i for i, job in enumerate(jobs) if key in job.task_keys]
        for i in idx:
            if results[i]["status"].status != "ok":
                results[i]["tasks"][key] = TaskResult(key, "failed", results[i]["status"].reason)
        todo = [i for i in idx if i in contexts]
        if not todo:
            continue
        t = time.perf_counter()
        try:
            measured = task.measure_batch([contexts[i] for i in todo])
            if not isinstance(measured, (list, tuple)) or len(measured) != len(todo):
                got = len(measured) if isinstance(measured, (list, tuple)) else type(measured).__name__
                raise RuntimeError(f"measure_batch returned {got} results for {len(todo)} items")
            per_item = (time.perf_counter() - t) / len(todo)
            for i, m in zip(todo, measured):
                if not isinstance(m, Measurement):
                    raise RuntimeError(f"measure returned {type(m).__name__}, expected a Measurement")
                values = {name: _checked_value(v) for name, v in m.values.items()}
                results[i]["tasks"][key] = TaskResult(key, "ok", None, values, m.extras, per_item)
        except _ITEM_FAULTS as exc:  # a task bug must not lose the run: fail these items, go on
            per_item = (time.perf_counter() - t) / len(todo)
            for i in todo:
                results[i]["tasks"][key] = TaskResult(key, "failed", f"{task.name} failed: {_reason(exc)}",
                                                      seconds=per_item)
    out = []
    for job, r in zip(jobs, results):
        if r["output"] is not None:
            r["output"].timings["item_total"] = r["t"] + sum(tr.seconds for tr in r["tasks"].values())
        out.append({"item_id": r["item_id"], "item_hash": r["item_hash"], "output": r["output"],
                    "tasks": [r["tasks"][k] for k in tasks if k in r["tasks"]]})
    return out


#: What a codec or task may raise on one item without stopping the run (everything but Ctrl-C).
_ITEM_FAULTS = (Exception, SystemExit, GeneratorExit)


def _checked_value(v: Any) -> Any:
    """A metric value as stored: a finite float, or Failed (NaN, inf and non-numbers are
    failures with a reason, never scores)."""
    if isinstance(v, Failed):
        return v
    try:
        f = float(v)
    except (TypeError, ValueError):
        return Failed(f"metric returned {type(v).__name__}, not a number")
    return f if math.isfinite(f) else Failed(f"metric returned {f}")


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# -- process pool plumbing --------------------------------------------------------------------


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
        proc.start()
        child.close()
        worker = {"proc": proc, "conn": parent, "jobs": None, "since": 0.0, "ready": False}
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
        for _ in range(min(self.n, len(queue))):
            self._spawn()
        try:
            while queue or any(w["jobs"] is not None for w in self.workers):
                for w in self.workers:
                    if w["ready"] and w["jobs"] is None and queue:
                        w["jobs"], w["since"] = queue.popleft(), time.monotonic()
                        w["conn"].send(w["jobs"])
                busy = [w for w in self.workers if w["jobs"] is not None]
                wait_s = None
                if self.timeout_s and busy:
                    wait_s = max(0.0, min(w["since"] + self.timeout_s * len(w["jobs"]) for w in busy)
                                 - time.monotonic())
                handles = {w["conn"]: w for w in self.workers}
                handles.update({w["proc"].sentinel: w for w in self.workers})
                ready = wait(list(handles), timeout=wait_s)
                faulted: dict[int, tuple[dict[str, Any], str]] = {}
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
                if self.timeout_s:
                    now = time.monotonic()
                    for w in self.workers:
                        if w["jobs"] is not None and id(w) not in faulted and \
                                now - w["since"] > self.timeout_s * len(w["jobs"]):
                            faulted[id(w)] = (w, f"timed out after {self.timeout_s:g} s per item")
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


def _failed_item(job: Job, reason: str) -> dict[str, Any]:
    """The result of an item whose processing was lost (its worker died or timed out)."""
    output = None if job.cached is not None else CodecOutput(status="failed", reason=reason)
    return {"item_id": job.item.id, "item_hash": job.item_hash, "output": output,
            "tasks": [TaskResult(key, "failed", reason) for key in job.task_keys]}


def load_components(codec: Codec, tasks: Any, threads: int | None = None) -> None:
    codec.load()
    for task in tasks:
        task.load()
    if threads is not None:  # loading may have imported torch
        _set_torch_threads(threads)


# -- the run --------------------------------------------------------------------------------
def _progress(enabled: bool):
    """A rich progress bar on stderr: count, rate, elapsed time and ETA."""
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn,
                               SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn)
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task):  # items per second, or seconds per item when slow
            speed = task.finished_speed or task.speed
            if not speed:
                return Text("-- it/s")
            return Text(f"{speed:.1f} it/s" if speed >= 1 else f"{1 / speed:.1f} s/it")

    return Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        RateColumn(), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
        console=Console(stderr=True), disable=not enabled, transient=False,
    )


class ProgressReport:
    """Progress of a run on stderr, per item: a rich bar (count, rate, elapsed, ETA) on a
    terminal; elsewhere (CI logs, ``| tee``) one plain line every ``interval`` seconds, whether
    or not an item finished, and a last line at the end."""

    def __init__(self, label: str, total: int, mode: str, interval: float | None = None,
                 stream: Any = None):
        import sys
        import threading

        self.label, self.total, self.mode = label, total, mode
        self.done = self.failed = 0
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval if interval is not None else float(os.environ.get("BENCH_PROGRESS_INTERVAL", 10))
        self._t0 = time.perf_counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._bar = self._thread = None
        if mode == "bar":
            self._rich = _progress(True)
            self._rich.start()
            self._bar = self._rich.add_task(label, total=total)
        elif mode == "lines":
            self._thread = threading.Thread(target=self._tick, daemon=True)
            self._thread.start()

    def line(self) -> str:
        elapsed = time.perf_counter() - self._t0
        rate = self.done / elapsed if elapsed > 0 else 0.0
        speed = (f"{rate:.2f} items/s" if rate >= 1 else f"{1 / rate:.1f} s/item") if rate > 0 else "-- items/s"
        eta = f", eta {_clock((self.total - self.done) / rate)}" if rate > 0 and self.done < self.total else ""
        pct = 100.0 * self.done / self.total if self.total else 100.0
        failed = f", {self.failed} with failures" if self.failed else ""
        return (f"{self.label}: {self.done}/{self.total} items ({pct:.0f}%), {speed}{failed}, "
                f"elapsed {_clock(elapsed)}{eta}")

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                print(self.line(), file=self.stream, flush=True)

    def advance(self, failed: bool = False) -> None:
        with self._lock:
            self.done += 1
            self.failed += bool(failed)
        if self._bar is not None:
            desc = f"{self.label} [red]{self.failed} failed[/red]" if self.failed else self.label
            self._rich.update(self._bar, advance=1, description=desc)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            print(self.line(), file=self.stream, flush=True)
        if self._bar is not None:
            self._rich.stop()

    def __enter__(self) -> "ProgressReport":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def _progress_mode(progress: bool | str) -> str:
    import sys

    if progress is True or progress == "auto":
        return "bar" if sys.stderr.isatty() else "lines"
    if progress is False or progress == "off":
        return "off"
    if progress not in ("bar", "lines"):
        raise RunError(f"progress must be auto, bar, lines or off, got {progress!r}")
    return str(progress)


def run(opts: RunOptions, log: Callable[[str], None] | None = None) -> RunReport:
    """Run one codec over one dataset with the given tasks; write per-item rows and records."""
    log = log or (lambda msg: None)
    t_run = time.perf_counter()
    opts.validate()
    codec = build_codec(opts.codec)
    codec_name = parse_spec(opts.codec)[0]
    dataset = build_dataset(opts.dataset or DEFAULT_DATASET)
    tasks: dict[str, Task] = {}
    for spec in opts.tasks:
        task = build_task(spec)
        tasks[task_key(task)] = task
    if not tasks:
        raise RunError("no task to run")

    all_items = dataset.items()
    if not all_items:
        raise RunError(f"dataset {dataset.name} has no items")
    items = select_items(all_items, opts.limit, opts.seed)
    hashes = [it.content_hash() for it in items]
    try:
        os.makedirs(opts.out, exist_ok=True)
        store = Store(os.path.join(opts.out, "bench.sqlite"))
    except (OSError, sqlite3.Error) as exc:
        raise RunError(f"cannot write the output folder {opts.out}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        chash = run_key(codec, opts)
        have_output = store.codec_hashes_done(chash, ok_only=opts.retry_failed)
        done = {key: store.task_rows_done(chash, key, ok_only=opts.retry_failed) for key in tasks}
        kept_failed = 0 if opts.retry_failed else sum(
            len(store.task_rows_done(chash, key) - store.task_rows_done(chash, key, ok_only=True))
            for key in tasks)
        jobs = []
        for item, ih in zip(items, hashes):
            missing = [key for key in tasks if ih not in done[key]]
            if missing:
                cached = store.codec_output(chash, ih) if ih in have_output else None
                jobs.append(Job(item, ih, missing, cached))
        log(f"{codec_name} on {dataset.name}: {len(items)} items, {len(items) - len(jobs)} already done, "
            f"{len(jobs)} to run with {min(opts.workers, max(1, len(jobs)))} worker(s) x {opts.threads} thread(s)")
        if kept_failed:
            log(f"  {kept_failed} failed task row(s) from earlier runs kept; --retry-failed measures them again")
        phases = {"setup": time.perf_counter() - t_run}
        t = time.perf_counter()
        if jobs:
            _execute(codec, tasks, jobs, opts, store, chash, label=f"{codec_name} / {dataset.name}")
        phases["execute"] = time.perf_counter() - t
        t = time.perf_counter()
        records, paths = summarize_run(store, codec, codec_name, dataset, items, hashes, tasks, opts, log=log)
        phases["summarize"] = time.perf_counter() - t
    finally:
        store.close()
    return RunReport(records, paths, len(items), len(jobs), time.perf_counter() - t_run, opts.out, phases)


def _execute(codec: Codec, tasks: dict[str, Task], jobs: list[Job], opts: RunOptions,
             store: Store, chash: str, label: str) -> None:
    cache_dir = os.path.join(opts.out, "cache")
    for task in tasks.values():
        task.cache_dir = cache_dir
    batch = max(task.batch_size for task in tasks.values())
    chunks = [jobs[i : i + batch] for i in range(0, len(jobs), batch)]
    with ProgressReport(label, len(jobs), _progress_mode(opts.progress)) as progress:

        def record(results: list[dict]) -> None:
            for result in results:
                if "fatal" in result:
                    raise RunError(result["fatal"])
                store.write_item(chash, result["item_hash"], result["item_id"], result["output"], result["tasks"])
                progress.advance(failed=any(tr.status != "ok" for tr in result["tasks"]))

        workers = max(1, min(opts.workers, len(chunks)))
        if not opts.isolated():
            with pinned_threads(opts.threads):
                try:
                    load_components(codec, tasks.values(), opts.threads)
                except MissingDependency:
                    raise
                except Exception as exc:
                    raise RunError(f"cannot load {codec.name}: {exc}") from exc
                for chunk in chunks:
                    record(process_jobs(codec, tasks, chunk, ItemSettings.of(opts)))
            return
        WorkerPool(workers, codec, tasks, ItemSettings.of(opts), opts.threads, opts.timeout).run(chunks, record)


def corpus_bitrate(rates_bps: list[float], durations: list[float], seed: int, n_boot: int = 2000) -> dict[str, Any]:
    """Corpus bitrate in kbps: total bits over total seconds (fixed per-file overheads of short
    clips weigh by their duration), a bootstrap interval of that ratio over items, and the
    unweighted per-item spread beside it."""
    from bench.metrics.stats import ratio_interval

    rates = np.asarray(rates_bps, dtype=np.float64) / 1000.0
    durs = np.asarray(durations, dtype=np.float64)
    bits = rates * durs
    value = float(bits.sum() / durs.sum())
    lo = hi = value
    if len(rates) > 1:
        lo, hi = ratio_interval(bits, durs, seed, n_boot)
    return {"value": value, "ci_low": lo, "ci_high": hi, "n": int(len(rates)), "n_failed": 0,
            "higher_is_better": False, "unit": "kbps", "failures": {},
            "weighting": "total bits / total seconds",
            "item_mean": float(rates.mean()), "item_min": float(rates.min()), "item_max": float(rates.max())}


def summarize_run(store: Store, codec: Codec, codec_name: str, dataset: Dataset, items: list[Item],
                  hashes: list[str], tasks: dict[str, Task], opts: RunOptions,
                  log: Callable[[str], None] | None = None) -> tuple[list[dict], list[str]]:
    log = log or (lambda msg: None)
    chash = run_key(codec, opts)
    stats = store.codec_stats(chash, hashes)
    codec_info = codec.describe()
    codec_info["name"] = codec_name
    codec_info["spec"] = portable_spec(opts.codec)
    codec_info["config"] = portable_config(codec_info.get("config") or {})
    ok_stats = [stats[h] for h in hashes if h in stats and stats[h]["status"] == "ok"]
    bitrate = {}
    for key in ("token_bps", "payload_bps"):
        pairs = [(s[key], s["duration"]) for s in ok_stats
                 if s[key] is not None and math.isfinite(s[key]) and s["duration"]]
        name = key.replace("_bps", "_kbps")
        bitrate[name] = corpus_bitrate([p[0] for p in pairs], [p[1] for p in pairs], opts.seed) if pairs else None
    codec_info["bitrate"] = bitrate
    codec_timing: Counter[str] = Counter()
    for s in ok_stats:
        codec_timing.update(s["timings"])
    ds_info = dataset.describe(items)
    ds_info["content_hash"] = dataset_hash(hashes)
    ds_info["n_items_total"] = len(dataset.items())
    ds_info["spec"] = portable_spec(opts.dataset or DEFAULT_DATASET)
    ds_info["config"] = portable_config(ds_info.get("config") or {})
    input_notes: Counter[str] = Counter()
    for h in hashes:
        for note in (stats.get(h) or {}).get("notes") or []:
            input_notes[note] += 1

    records, paths = [], []
    for key, task in tasks.items():
        raw = store.task_rows(chash, key, hashes)
        rows = []
        reasons: Counter[str] = Counter()
        for item, ih in zip(items, hashes):
            r = raw.get(ih)
            if r is None:
                rows.append(Row(item.id, item.labels(), {}, {}, failure="not measured"))
                reasons["not measured"] += 1
                continue
            failure = r["reason"] if r["status"] != "ok" else None
            if failure:
                reasons[failure] += 1
            rows.append(Row(item.id, item.labels(), r["values"], r["extras"], failure=failure))
        metrics = {name: mv.to_dict() for name, mv in task.summarize(rows, opts.seed).items()}
        extra_fn = getattr(task, "corpus_report", None)
        extra = extra_fn(rows, opts.seed, opts.out) if extra_fn else {}
        measured = sum(1 for r in rows if r.failure is None)
        task_seconds = sum(r["seconds"] or 0.0 for r in raw.values())
        record = make_record(
            codec=codec_info,
            task={**task.describe(), "key": key, "metric_order": [m.name for m in task.metrics],
                  "metrics": {m.name: {"unit": m.unit, "higher_is_better": m.higher_is_better,
                                       "description": m.description} for m in task.metrics}},
            dataset=ds_info, seed=opts.seed, limit=opts.limit,
            counts={"requested": len(items), "measured": measured, "failed": len(items) - measured,
                    "failure_reasons": dict(sorted(reasons.items())),
                    "input_notes": dict(sorted(input_notes.items()))},
            metrics=metrics, extra=extra,
            timing={"codec_seconds": dict(codec_timing), "task_seconds": task_seconds},
            run={**opts.key_parts(), "key": chash, "workers": opts.workers, "timeout_s": opts.timeout,
                 "isolated": opts.isolated()},
        )
        records.append(record)
        out_dir = os.path.join(opts.out, "results")
        path = os.path.join(out_dir, record_filename(record))
        if measured == 0 and _has_measured_record(path):
            log(f"  nothing measured for {task.name}: kept the earlier record {path}")
        else:
            path = save_record(record, out_dir)
        paths.append(path)
    return records, paths


def _has_measured_record(path: str) -> bool:
    try:
        return load_record(path)["counts"]["measured"] > 0
    except (OSError, ResultError, KeyError, TypeError):
        return False
