"""Crop sampling shared by the training loop (train.py) and distillation batches (distill.py)."""

from __future__ import annotations

import numpy as np


def length_weighted_picks(waves: list[np.ndarray], rng: np.random.Generator, batch: int) -> np.ndarray:
    """Indices of ``batch`` items drawn with probability proportional to their length."""
    sizes = np.array([len(w) for w in waves], dtype=np.float64)
    return rng.choice(len(sizes), size=batch, p=sizes / sizes.sum())


def random_gain(rng: np.random.Generator, gain_db: float) -> float:
    """A linear gain drawn uniformly in [-gain_db, +gain_db] dB (1.0 when gain_db is 0)."""
    return 10 ** (rng.uniform(-gain_db, gain_db) / 20) if gain_db > 0 else 1.0
