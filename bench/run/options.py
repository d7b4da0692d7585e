"""What a run is: its options, its key, the items it uses, the components built from specs."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from bench.audio import MAX_INPUT_S, MIN_INPUT_S
from bench.codecs import CODECS
from bench.codecs.base import Codec
from bench.config import stable_hash
from bench.datasets import DATASETS
from bench.datasets.base import Dataset, Item
from bench.registry import parse_spec
from bench.store import CodecOutput
from bench.tasks import DEFAULT_TASKS, TASKS
from bench.tasks.base import Task


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


#: Values of RunOptions.executor.
EXECUTORS = ("auto", "inprocess", "process", "dask")


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
    #: Where items run: "auto" (in-process, or a pool when ``isolated()``), "inprocess",
    #: "process" (a pool of worker processes) or "dask" (bench.run.dask_executor). Recorded;
    #: not part of the key: it does not move a number.
    executor: str = "auto"
    #: A Dask scheduler's address (tcp://HOST:PORT) to run on; None: a LocalCluster.
    scheduler: str | None = None

    def executor_kind(self) -> str:
        """The executor this run uses: "inprocess", "process" or "dask"."""
        if self.executor == "auto":
            if self.scheduler:
                return "dask"
            return "process" if bool(self.isolate) or self.workers > 1 or self.timeout is not None else "inprocess"
        return self.executor

    def isolated(self) -> bool:
        return self.executor_kind() != "inprocess"

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
        if self.executor not in EXECUTORS:
            raise RunError(f"--executor must be one of {', '.join(EXECUTORS)}, got {self.executor!r}")
        if self.scheduler is not None and (not isinstance(self.scheduler, str) or "://" not in self.scheduler):
            raise RunError(f"--scheduler must be a Dask scheduler address like tcp://HOST:8786, got {self.scheduler!r}")
        kind = self.executor_kind()
        if self.scheduler and kind != "dask":
            raise RunError(f"--scheduler needs --executor dask (got --executor {self.executor})")
        if kind == "inprocess" and (self.workers > 1 or self.timeout is not None):
            raise RunError("--executor inprocess runs one worker without a timeout (drop --workers/--timeout)")
        if kind in ("process", "dask") and self.isolate is False:
            raise RunError(f"--in-process and --executor {kind} contradict each other")
        if kind == "dask" and self.timeout is not None:
            raise RunError("--timeout is not supported with --executor dask (use --executor process)")
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
    #: CPU-seconds of the item work, summed over the processes that did it (driver or workers):
    #: ``chunk`` (everything process_jobs did), of which ``codec`` (encode + decode) and
    #: ``measure`` (the tasks); the rest of ``chunk`` is per-item plumbing (load, resample,
    #: align, validity checks, result packing). Items already done count nothing. ``summarize``:
    #: the driver's CPU-seconds for the records (the tasks' summaries: bootstraps, classifiers,
    #: the learned probe's training; and writing the records). ``startup`` (a worker process's
    #: interpreter and imports before its first job) and ``load`` (loading the codec and the
    #: tasks' models) where this run paid them.
    cpu: dict[str, float] = dataclasses.field(default_factory=dict)

    def cpu_line(self) -> str:
        """The CPU accounting in one line (``bench run`` prints it after each run)."""
        c = self.cpu
        parts = [("codec", c.get("codec", 0.0)), ("tasks", c.get("measure", 0.0)),
                 ("summaries", c.get("summarize", 0.0)), ("loading", c.get("load", 0.0)),
                 ("worker start-up", c.get("startup", 0.0)),
                 ("per-item plumbing", c.get("chunk", 0.0) - c.get("codec", 0.0) - c.get("measure", 0.0))]
        return "CPU-s: " + ", ".join(f"{k} {v:.2f}" for k, v in parts)


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


def check_requires(tasks: list[Task], items: list[Item], dataset_name: str) -> None:
    """Refuse, in one line, a task whose declared needs no item of the selection meets."""
    for task in tasks:
        if "text" in task.requires and not any(it.text for it in items):
            raise RunError(f"task {task.name} needs transcripts, and no item of {dataset_name} has a 'text'")
        if "labels" in task.requires and not any(it.speaker or it.attrs for it in items):
            raise RunError(f"task {task.name} needs labels (speaker or attributes), and no item of "
                           f"{dataset_name} has any")

