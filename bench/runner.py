"""Plan and execute runs: codec x dataset x tasks.

Per item: load -> resample to the codec's rate (soxr) -> encode -> decode -> resample to 16 kHz
-> align to the reference (bounded cross-correlation) -> each task's ``measure``. Items run in
the main process (``workers=1``) or in a process pool with one codec and task instance per
worker and BLAS/torch threads pinned so that workers do not fight over cores.

Everything is keyed by content (see :mod:`bench.store`): what is done is never done again, and a
run killed at any point resumes where it stopped with the same final numbers.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import multiprocessing
import os
import time
from collections import Counter
from typing import Any, Callable

import numpy as np

from bench.audio import METRIC_SR, AudioError, align, check_wave, resample
from bench.codecs import CODECS
from bench.codecs.base import Codec, CodecError, MissingDependency, check_tokens, token_bitrate
from bench.config import stable_hash
from bench.datasets import DATASETS, DEFAULT_DATASET
from bench.datasets.base import Dataset, Item, dataset_hash
from bench.registry import parse_spec
from bench.results import make_record, save_record
from bench.store import CodecOutput, Store, TaskResult
from bench.tasks import DEFAULT_TASKS, TASKS
from bench.tasks.base import Failed, ItemContext, MetricSpec, Row, Task, summarize_metric


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
    progress: bool = True


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


def select_items(items: list[Item], limit: int | None, seed: int) -> list[Item]:
    """All items, or a seeded random subset of ``limit`` of them (kept in id order)."""
    if limit is None or limit >= len(items):
        return list(items)
    if limit < 0:
        raise RunError(f"--limit must be positive, got {limit}")
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
    tokens = check_tokens(codec, encoded.tokens)
    t = time.perf_counter()
    y = check_wave(codec.decode(tokens), "decoded audio")
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


def _codec_stage(codec: Codec, job: Job, max_lag_s: float) -> tuple[CodecOutput, CodecOutput | None, np.ndarray | None]:
    """Load the item and run the codec unless cached: (output, new output or None, 16 kHz ref)."""
    new_output: CodecOutput | None = None
    ref16 = None
    output = job.cached
    try:
        t = time.perf_counter()
        audio = job.item.load()
        load_s = time.perf_counter() - t
        if output is None:
            try:
                new_output, ref16 = run_codec(codec, audio.wave, audio.sample_rate, max_lag_s)
            except (CodecError, AudioError, ValueError, RuntimeError, IndexError) as exc:
                new_output = CodecOutput(status="failed", reason=f"codec failed: {_reason(exc)}")
            new_output.notes = list(audio.notes)
            new_output.timings["load"] = load_s
            new_output.duration = audio.duration
            output = new_output
        elif output.status == "ok":
            ref16 = resample(audio.wave, audio.sample_rate, METRIC_SR)
    except AudioError as exc:
        output = new_output = CodecOutput(status="failed", reason=f"bad input: {exc}")
    return output, new_output, ref16


def process_jobs(codec: Codec, tasks: dict[str, Task], jobs: list[Job], max_lag_s: float) -> list[dict[str, Any]]:
    """Everything a chunk of items needs; never raises for a bad item (the reason is recorded).

    The codec runs item by item; each task then measures the chunk's items in one
    ``measure_batch`` call (batched ASR is several times faster than one clip at a time).
    """
    results = []
    contexts: dict[int, ItemContext] = {}
    for i, job in enumerate(jobs):
        t = time.perf_counter()
        output, new_output, ref16 = _codec_stage(codec, job, max_lag_s)
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
            if len(measured) != len(todo):
                raise RuntimeError(f"measure_batch returned {len(measured)} results for {len(todo)} items")
            per_item = (time.perf_counter() - t) / len(todo)
            for i, m in zip(todo, measured):
                results[i]["tasks"][key] = TaskResult(key, "ok", None, m.values, m.extras, per_item)
        except Exception as exc:  # a task bug must not lose the run: fail these items, go on
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


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# -- process pool plumbing --------------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def _pin_threads(n: int) -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(n)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except ImportError:
        pass


def _worker_init(codec: Codec, tasks: dict[str, Task], max_lag_s: float, threads: int) -> None:
    _pin_threads(threads)
    _WORKER.update(codec=codec, tasks=tasks, max_lag=max_lag_s, error=None)
    try:
        load_components(codec, tasks.values(), threads)
    except Exception as exc:
        _WORKER["error"] = str(exc)


def _worker_run(jobs: list[Job]) -> list[dict[str, Any]]:
    if _WORKER.get("error"):
        return [{"fatal": _WORKER["error"]}]
    return process_jobs(_WORKER["codec"], _WORKER["tasks"], jobs, _WORKER["max_lag"])


def load_components(codec: Codec, tasks: Any, threads: int | None = None) -> None:
    codec.load()
    for task in tasks:
        task.load()
    if threads is not None:
        import sys

        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)


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


def run(opts: RunOptions, log: Callable[[str], None] | None = None) -> RunReport:
    """Run one codec over one dataset with the given tasks; write per-item rows and records."""
    log = log or (lambda msg: None)
    t_run = time.perf_counter()
    codec = build_codec(opts.codec)
    codec_name = parse_spec(opts.codec)[0]
    dataset = build_dataset(opts.dataset or DEFAULT_DATASET)
    tasks: dict[str, Task] = {}
    for spec in opts.tasks:
        task = build_task(spec)
        tasks[task_key(task)] = task
    if not tasks:
        raise RunError("no task to run")

    items = select_items(dataset.items(), opts.limit, opts.seed)
    hashes = [it.content_hash() for it in items]
    os.makedirs(opts.out, exist_ok=True)
    store = Store(os.path.join(opts.out, "bench.sqlite"))
    try:
        chash = codec.config_hash
        have_output = store.codec_hashes_done(chash)
        done = {key: store.task_rows_done(chash, key) for key in tasks}
        jobs = []
        for item, ih in zip(items, hashes):
            missing = [key for key in tasks if ih not in done[key]]
            if missing:
                cached = store.codec_output(chash, ih) if ih in have_output else None
                jobs.append(Job(item, ih, missing, cached))
        log(f"{codec_name} on {dataset.name}: {len(items)} items, {len(items) - len(jobs)} already done, "
            f"{len(jobs)} to run with {min(opts.workers, max(1, len(jobs)))} worker(s)")
        phases = {"setup": time.perf_counter() - t_run}
        t = time.perf_counter()
        if jobs:
            _execute(codec, tasks, jobs, opts, store, label=f"{codec_name} / {dataset.name}")
        phases["execute"] = time.perf_counter() - t
        t = time.perf_counter()
        records, paths = summarize_run(store, codec, codec_name, dataset, items, hashes, tasks, opts)
        phases["summarize"] = time.perf_counter() - t
    finally:
        store.close()
    return RunReport(records, paths, len(items), len(jobs), time.perf_counter() - t_run, opts.out, phases)


def _execute(codec: Codec, tasks: dict[str, Task], jobs: list[Job], opts: RunOptions,
             store: Store, label: str) -> None:
    failures = 0
    chash = codec.config_hash
    cache_dir = os.path.join(opts.out, "cache")
    for task in tasks.values():
        task.cache_dir = cache_dir
    batch = max(task.batch_size for task in tasks.values())
    chunks = [jobs[i : i + batch] for i in range(0, len(jobs), batch)]
    with _progress(opts.progress) as progress:
        bar = progress.add_task(label, total=len(jobs))

        def record(results: list[dict]) -> None:
            nonlocal failures
            for result in results:
                if "fatal" in result:
                    raise RunError(result["fatal"])
                store.write_item(chash, result["item_hash"], result["item_id"], result["output"], result["tasks"])
                if any(tr.status != "ok" for tr in result["tasks"]):
                    failures += 1
                    progress.update(bar, description=f"{label} [red]{failures} failed[/red]")
                progress.advance(bar)

        workers = max(1, min(opts.workers, len(chunks)))
        if workers == 1:
            try:
                load_components(codec, tasks.values())
            except MissingDependency:
                raise
            except Exception as exc:
                raise RunError(f"cannot load {codec.name}: {exc}") from exc
            for chunk in chunks:
                record(process_jobs(codec, tasks, chunk, opts.max_lag))
            return
        threads = max(1, (os.cpu_count() or 1) // workers)
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init,
                                    initargs=(codec, tasks, opts.max_lag, threads)) as pool:
            pending: set[cf.Future] = set()
            try:
                for chunk in chunks:
                    pending.add(pool.submit(_worker_run, chunk))
                    if len(pending) >= 2 * workers:
                        finished, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                        for fut in finished:
                            record(fut.result())
                for fut in cf.as_completed(pending):
                    record(fut.result())
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise


def summarize_run(store: Store, codec: Codec, codec_name: str, dataset: Dataset, items: list[Item],
                  hashes: list[str], tasks: dict[str, Task], opts: RunOptions) -> tuple[list[dict], list[str]]:
    chash = codec.config_hash
    stats = store.codec_stats(chash, hashes)
    codec_info = codec.describe()
    codec_info["name"] = codec_name
    codec_info["spec"] = opts.codec
    ok_stats = [stats[h] for h in hashes if h in stats and stats[h]["status"] == "ok"]
    bitrate = {}
    for key in ("token_bps", "payload_bps"):
        vals = [s[key] / 1000.0 for s in ok_stats if s[key] is not None]
        spec = MetricSpec(key.replace("_bps", "_kbps"), "kbps", False)
        rows = [Row("", {}, {spec.name: v}, {}) for v in vals]
        bitrate[spec.name] = summarize_metric(spec, rows, opts.seed).to_dict() if vals else None
    codec_info["bitrate"] = bitrate
    codec_timing: Counter[str] = Counter()
    for s in ok_stats:
        codec_timing.update(s["timings"])
    ds_info = dataset.describe(items)
    ds_info["content_hash"] = dataset_hash(hashes)
    ds_info["n_items_total"] = len(dataset.items())

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
                    "failure_reasons": dict(sorted(reasons.items()))},
            metrics=metrics, extra=extra,
            timing={"codec_seconds": dict(codec_timing), "task_seconds": task_seconds},
        )
        records.append(record)
        paths.append(save_record(record, os.path.join(opts.out, "results")))
    return records, paths
