"""Plan and execute runs: codec x dataset x tasks.

Per item: load -> resample to the codec's rate (soxr) -> encode -> decode -> resample to 16 kHz
-> align to the reference (bounded cross-correlation) -> each task's ``measure``. Items run in
the main process (``workers=1``) or in a process pool with one codec and task instance per
worker and BLAS/torch threads pinned so that workers do not fight over cores.

Everything is keyed by content (see :mod:`bench.store`): what is done is never done again, and a
run killed at any point resumes where it stopped with the same final numbers.
"""

from __future__ import annotations

import math
import os
import sqlite3
import time
from typing import Callable

from bench.codecs.base import Codec
from bench.datasets import DEFAULT_DATASET
from bench.run.executors import (Executor, InProcess, WorkerPool, load_components, pin_threads,  # noqa: F401
                                 pinned_threads, shared_pool, worker_pool)
from bench.run.options import (Job, RunError, RunOptions, RunReport, build_codec, build_dataset,  # noqa: F401
                               build_task, check_requires, run_key, select_items, task_key)
from bench.run.pipeline import ItemSettings, add_cpu, process_jobs, run_codec  # noqa: F401
from bench.run.progress import ProgressReport, _progress_mode
from bench.run.summary import (corpus_bitrate, remember_summaries, stored_summaries, summarize_run,  # noqa: F401
                               summary_key)
from bench.registry import parse_spec
from bench.store import Store
from bench.tasks.base import Task


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
    check_requires(list(tasks.values()), items, dataset.name)
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
            f"{len(jobs)} to run with " + ("Dask workers" if opts.executor_kind() == "dask" else
                                            f"{min(opts.workers, max(1, len(jobs)))} worker(s)")
            + f" x {opts.threads} thread(s)")
        if kept_failed:
            log(f"  {kept_failed} failed task row(s) from earlier runs kept; --retry-failed measures them again")
        phases = {"setup": time.perf_counter() - t_run}
        t = time.perf_counter()
        cpu = {"chunk": 0.0, "codec": 0.0, "measure": 0.0}
        if jobs:
            _execute(codec, tasks, jobs, opts, store, chash, label=f"{codec_name} / {dataset.name}", cpu=cpu)
        phases["execute"] = time.perf_counter() - t
        t, c = time.perf_counter(), time.process_time()
        # a finished run run again: its stored records are reused when nothing they depend on changed
        keys = [summary_key(store, chash, key, task, hashes, opts, len(all_items)) for key, task in tasks.items()]
        reused = stored_summaries(keys, opts)
        if reused is not None:
            records, paths = reused
            log(f"  nothing changed since the last run: its {len(records)} record(s) kept")
        else:
            records, paths = summarize_run(store, codec, codec_name, dataset, items, hashes, tasks, opts, log=log)
            remember_summaries(keys, paths, opts)
        phases["summarize"] = time.perf_counter() - t
        cpu["summarize"] = time.process_time() - c
    finally:
        store.close()
    return RunReport(records, paths, len(items), len(jobs), time.perf_counter() - t_run, opts.out, phases, cpu)


def _execute(codec: Codec, tasks: dict[str, Task], jobs: list[Job], opts: RunOptions,
             store: Store, chash: str, label: str, cpu: dict[str, float] | None = None) -> None:
    cache_dir = os.path.join(opts.out, "cache")
    for task in tasks.values():
        task.cache_dir = cache_dir
    chunks = chunk_jobs(jobs, max(task.batch_size for task in tasks.values()),
                        opts.workers if opts.isolated() else 1)
    with ProgressReport(label, len(jobs), _progress_mode(opts.progress)) as progress:

        def record(results: list[dict]) -> None:
            for result in results:
                if "fatal" in result:
                    raise RunError(result["fatal"])
                if cpu is not None:
                    add_cpu(cpu, result.get("cpu") or {})
                store.write_item(chash, result["item_hash"], result["item_id"], result["output"], result["tasks"])
                progress.advance(failed=any(tr.status != "ok" for tr in result["tasks"]))

        make_executor(opts, codec, tasks, len(chunks)).run(chunks, record)


def chunk_jobs(jobs: list[Job], batch: int, workers: int) -> list[list[Job]]:
    """Jobs in chunks of at most ``batch`` (the largest batch a task measures at once), but
    never so large that a worker gets none: at most ``ceil(len(jobs) / workers)`` each."""
    size = max(1, min(int(batch), math.ceil(len(jobs) / max(1, workers))))
    return [jobs[i : i + size] for i in range(0, len(jobs), size)]


def make_executor(opts: RunOptions, codec: Codec, tasks: dict[str, Task], n_chunks: int) -> Executor:
    """The executor a run's options ask for: in-process, a pool of isolated workers, or Dask."""
    settings = ItemSettings.of(opts)
    if opts.executor_kind() == "dask":
        from bench.run.dask_executor import DaskExecutor, default_workers

        n = opts.workers if opts.workers > 1 else default_workers(opts.threads)  # sized to the machine
        return DaskExecutor(codec, tasks, settings, opts.threads, n_workers=max(1, min(n, n_chunks)),
                            scheduler=opts.scheduler)
    if not opts.isolated():
        return InProcess(codec, tasks, settings, opts.threads)
    workers = max(1, min(opts.workers, n_chunks))
    return worker_pool(workers, codec, tasks, settings, opts.threads, opts.timeout)  # shared inside shared_pool()


#: The public names of the run API (several are defined in bench/run/ and re-exported here).
__all__ = ["Executor", "InProcess", "ItemSettings", "Job", "ProgressReport", "RunError", "RunOptions",
           "RunReport", "WorkerPool", "build_codec", "build_dataset", "build_task", "check_requires",
           "corpus_bitrate", "load_components", "make_executor", "pin_threads", "pinned_threads", "process_jobs", "run",
           "run_codec", "run_key", "select_items", "shared_pool", "summarize_run", "task_key"]
