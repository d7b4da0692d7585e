"""Corpus statistics: the one bootstrap interval and the one failure-accounting loop.

Every interval in a result record comes from :func:`bootstrap_interval` (items resampled with
replacement, percentile interval; Efron & Tibshirani, 1993) or, for scores that are already
replicates (the probe's cross-validation splits), from :func:`percentile_interval` alone. Every
per-item metric's rows go through :func:`tally`, which counts what could not be measured by
reason.

Why not ``scipy.stats.bootstrap``: with the same generator, ``method="percentile"`` and the
same resample count it reproduces these intervals only in 4 of 50 trials (scipy 1.17; the other
46 differ in the last digits), and its ``confidence_level`` cannot express the exact 0.025 /
0.975 quantiles most intervals here use (``(1 - 0.95) / 2`` is 0.025000000000000022 in floating
point). Numbers in committed results must not move, so the estimator stays this one, in one
place: one ``integers(0, n, size=(n_boot, n))`` draw from ``default_rng(seed)``, then
``np.quantile`` (linear interpolation) of the replicate statistics.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Callable, Iterable, Sequence

import numpy as np

#: The quantiles of a 95% interval as most callers pass them (exactly 0.025 and 0.975).
TAILS_95 = (0.025, 0.975)


def tails(level: float) -> tuple[float, float]:
    """The quantiles ``(1 - level) / 2`` and ``1 - (1 - level) / 2`` of a central interval
    (for ``level=0.95`` these are 0.025000000000000022 and 0.975, not :data:`TAILS_95`)."""
    alpha = (1 - level) / 2
    return (alpha, 1 - alpha)


def percentile_interval(samples: Iterable[float] | np.ndarray,
                        q: tuple[float, float] = TAILS_95) -> tuple[float, float]:
    """The ``q`` quantiles of ``samples`` (``np.quantile``, linear interpolation)."""
    arr = samples if isinstance(samples, np.ndarray) else np.asarray(list(samples), dtype=np.float64)
    return (float(np.quantile(arr, q[0])), float(np.quantile(arr, q[1])))


def bootstrap_interval(
    statistic: Callable[[np.ndarray], Any], n: int, seed: int, n_boot: int = 2000,
    q: tuple[float, float] = TAILS_95, per_replicate: bool = False,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of a statistic of ``n`` items.

    Draws the ``[n_boot, n]`` matrix of resampled item indices from ``default_rng(seed)`` in one
    call. With ``per_replicate=False`` ``statistic`` gets that whole matrix and returns the
    ``n_boot`` replicate values (vectorised: e.g. ``values[idx].mean(axis=1)``); with
    ``per_replicate=True`` it gets one row at a time and returns a float, or None for a
    replicate where the statistic is undefined (left out). None when no replicate is defined.
    Callers decide what an interval of fewer than two items is (usually the value itself).
    """
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    if per_replicate:
        reps = [v for v in (statistic(row) for row in idx) if v is not None]
        if not reps:
            return None
        return percentile_interval(reps, q)
    return percentile_interval(np.asarray(statistic(idx)), q)


def bootstrap_ci(
    values: np.ndarray | Sequence[float], seed: int, n_boot: int = 2000, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (Efron & Tibshirani, 1993); the quantiles are
    :func:`tails` of ``level``. NaNs for no values, the value itself for one."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return (math.nan, math.nan)
    if len(values) == 1:
        return (float(values[0]), float(values[0]))
    return bootstrap_interval(lambda idx: values[idx].mean(axis=1), len(values), seed, n_boot, tails(level))


def ratio_interval(num: np.ndarray, den: np.ndarray, seed: int, n_boot: int = 2000, scale: float = 1.0,
                   min_den: float | None = None) -> tuple[float, float]:
    """Bootstrap interval of ``scale * sum(num) / sum(den)`` over items (a corpus rate: errors per
    reference word, bits per second); ``min_den`` floors each replicate's denominator."""
    num, den = np.asarray(num), np.asarray(den)

    def stat(idx: np.ndarray) -> np.ndarray:
        d = den[idx].sum(axis=1)
        if min_den is not None:
            d = np.maximum(d, min_den)
        return scale * num[idx].sum(axis=1) / d  # scale 1.0: exact, as without it

    return bootstrap_interval(stat, len(num), seed, n_boot)


def tally(rows: Iterable[Any], name: str) -> tuple[list[Any], list[float], dict[str, int]]:
    """Failure accounting of one metric over stored rows (:class:`~bench.tasks.base.Row`).

    Returns the rows where ``name`` was measured, their values as floats, and the failures
    counted by reason (sorted): a failed item counts under its item-level reason, a
    :class:`~bench.types.Failed` value under its own, a missing value as "not measured".
    """
    from bench.types import Failed

    measured, values = [], []
    failures: Counter[str] = Counter()
    for row in rows:
        v = row.values.get(name) if row.failure is None else Failed(row.failure)
        if isinstance(v, Failed):
            failures[v.reason] += 1
        elif v is None:
            failures["not measured"] += 1
        else:
            measured.append(row)
            values.append(float(v))
    return measured, values, dict(sorted(failures.items()))


__all__ = ["TAILS_95", "bootstrap_ci", "bootstrap_interval", "percentile_interval", "ratio_interval", "tails",
           "tally"]
