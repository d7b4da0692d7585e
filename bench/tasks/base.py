"""The task contract: declared metadata, per-item ``measure``, corpus-level ``summarize``.

``measure`` works on one item and may run in any worker process; it returns a
:class:`Measurement` whose values are floats or :class:`Failed` (a metric that could not be
computed, with its reason: never a made-up score). ``summarize`` sees every row of a run and
returns one :class:`MetricValue` per metric; the default is the mean over measured items with a
95% bootstrap confidence interval, failures counted by reason.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np

from bench.config import build_config, config_to_dict
from bench.types import Failed  # noqa: F401  (part of the task contract)
from bench.metrics.stats import bootstrap_ci, tally  # noqa: F401 - bootstrap_ci: also imported from here


@dataclasses.dataclass(frozen=True)
class MetricSpec:
    name: str
    unit: str
    higher_is_better: bool | None  # None: a reference level (a chance rate), not a score
    description: str = ""


@dataclasses.dataclass(frozen=True)
class ItemContext:
    """What a task sees of one item. Audio is mono float32 at 16 kHz (METRIC_SR)."""

    item_id: str
    reference: np.ndarray  # original, resampled to 16 kHz
    reconstruction: np.ndarray  # decoded, resampled to 16 kHz, aligned and fitted to reference
    tokens: np.ndarray  # int64 [K, T]
    labels: dict[str, Any]  # text, speaker and the dataset's attributes
    lag: int = 0  # samples the reconstruction was shifted by (at 16 kHz)
    item_hash: str = ""  # content hash of the item: a key for task-side caches
    codec: Any = None  # the run's codec (loaded), for tasks that re-encode (tokens: stability)


@dataclasses.dataclass(frozen=True)
class Measurement:
    values: dict[str, float | Failed]
    extras: dict[str, Any] = dataclasses.field(default_factory=dict)  # e.g. a transcript


@dataclasses.dataclass(frozen=True)
class Row:
    """One stored per-item result, as ``summarize`` sees it."""

    item_id: str
    labels: dict[str, Any]
    values: dict[str, float | Failed]
    extras: dict[str, Any]
    failure: str | None = None  # the whole item failed (load, codec): no values at all


@dataclasses.dataclass(frozen=True)
class MetricValue:
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    n_failed: int
    higher_is_better: bool | None  # None: a reference level (a chance rate), not a score
    unit: str
    failures: dict[str, int] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def summarize_metric(spec: MetricSpec, rows: list[Row], seed: int) -> MetricValue:
    """Mean and bootstrap CI over the rows where the metric was measured (see
    :mod:`bench.metrics.stats`)."""
    _, vals, failures = tally(rows, spec.name)
    arr = np.asarray(vals)
    if len(arr):
        lo, hi = bootstrap_ci(arr, seed)
        mean = float(arr.mean())
    else:
        lo = hi = mean = None
    return MetricValue(
        value=mean, ci_low=lo, ci_high=hi, n=len(arr), n_failed=sum(failures.values()),
        higher_is_better=spec.higher_is_better, unit=spec.unit, failures=failures,
    )


@dataclasses.dataclass(frozen=True)
class NoConfig:
    pass


class Task:
    """Base class. Subclasses declare ``name``, ``version``, ``requires``, ``metrics``."""

    name: ClassVar[str] = ""
    #: Bump when a change can move a number; leaderboards refuse to mix versions.
    version: ClassVar[str] = "1"
    #: Any of: "reference", "reconstruction", "tokens" (every run has them), "text" (items
    #: need a transcript), "labels" (items need a speaker or attribute labels). The runner
    #: refuses to start a task whose needs no item of the dataset meets.
    requires: ClassVar[frozenset[str]] = frozenset({"reference", "reconstruction"})
    metrics: ClassVar[tuple[MetricSpec, ...]] = ()
    description: ClassVar[str] = ""
    extra: ClassVar[str] = ""
    Config: ClassVar[type] = NoConfig
    #: Items per ``measure_batch`` call; tasks whose model runs faster on batches raise it.
    batch_size: ClassVar[int] = 1
    #: The dataset ``bench run`` measures this task on when no ``--dataset`` is given (a dataset
    #: spec, e.g. "synth-speech-test"); None: the run's default dataset. See bench/suite.py.
    default_dataset: ClassVar[str | None] = None
    #: Modules the task imports when it loads (its extra's backends); ``bench run`` without
    #: ``--task`` runs only tasks whose modules are all importable.
    needs_modules: ClassVar[tuple[str, ...]] = ()
    #: False: the task's numbers do not depend on the codec (e.g. a ceiling measured on the
    #: original audio); ``bench run`` without ``--task`` leaves it out (run it with ``--task``).
    reads_codec: ClassVar[bool] = True

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why this task cannot run here (a module of its extra is missing), or None. Looks
        modules up without importing them."""
        from bench.codecs.base import is_installed

        missing = [module for module in cls.needs_modules if not is_installed(module)]
        if not missing:
            return None
        hint = f" (pip install 'bench[{cls.extra}]')" if cls.extra else ""
        return f"needs {', '.join(missing)}{hint}"

    def __init__(self, config: Any = None, *, name: str | None = None):
        self.config = config if config is not None else self.Config()
        self.registered_name = name or self.name
        self._loaded = False
        #: A folder for task-side caches (e.g. transcripts of original audio), shared by runs
        #: with the same output directory; set by the runner before ``load``. None: no cache.
        self.cache_dir: str | None = None

    @classmethod
    def from_options(cls, options: dict[str, Any], name: str | None = None) -> "Task":
        return cls(build_config(cls.Config, options, f"task {name or cls.name}"), name=name)

    def load(self) -> None:
        """Load models once per worker; idempotent."""
        if not self._loaded:
            self._load()
            self._loaded = True

    def _load(self) -> None:
        pass

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "config": config_to_dict(self.config)}

    def measure(self, item: ItemContext) -> Measurement:
        raise NotImplementedError

    def measure_batch(self, items: list[ItemContext]) -> list[Measurement]:
        """Measure several items at once (up to ``batch_size``); default: one by one.

        An exception here fails every item of the batch, so override only with code that
        handles per-item problems itself (return Failed values for them).
        """
        return [self.measure(item) for item in items]

    def summarize(self, rows: list[Row], seed: int) -> dict[str, MetricValue]:
        """One value per declared metric (the runner checks names and directions)."""
        return {spec.name: summarize_metric(spec, rows, seed) for spec in self.metrics}

    def corpus_report(self, rows: list[Row], seed: int, out_dir: str | None = None) -> dict[str, Any]:
        """Corpus-level results beyond the metrics (per-group tables, trial lists), for the
        record's ``extra``; ``out_dir`` is the run's output folder for files. Default: none."""
        return {}
