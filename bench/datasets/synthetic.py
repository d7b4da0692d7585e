"""A small built-in set of synthetic signals: tones, chirps, vowel-like harmonics, noise.

Generated deterministically from a seed, so it runs anywhere with no files. Useful for
property tests (quality falls as bits fall) and for smoke runs before real speech.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
from scipy import signal

from bench.audio import Audio
from bench.datasets.base import Dataset, Item

SR = 16_000

# Formant frequencies (Hz) of a few vowels, adult male averages (Peterson & Barney, 1952).
VOWELS = {"a": (730, 1090, 2440), "i": (270, 2290, 3010), "u": (300, 870, 2240), "e": (530, 1840, 2480)}


def _envelope(n: int, rng: np.random.Generator) -> np.ndarray:
    """Syllable-like on/off envelope: bursts of 150-400 ms separated by short pauses."""
    env = np.zeros(n)
    pos = int(0.1 * SR)
    while pos < n - int(0.2 * SR):
        length = int(rng.uniform(0.15, 0.4) * SR)
        seg = np.hanning(min(length, n - pos))
        env[pos : pos + len(seg)] = seg ** 0.5
        pos += len(seg) + int(rng.uniform(0.05, 0.15) * SR)
    return env


def make_signal(kind: str, param: float, seed: int, duration: float = 2.5) -> Audio:
    """One synthetic signal at 16 kHz, peak about 0.5."""
    rng = np.random.default_rng(seed)
    n = int(duration * SR)
    t = np.arange(n) / SR
    if kind == "tone":
        x = np.sin(2 * np.pi * param * t) * _envelope(n, rng)
    elif kind == "chirp":
        x = signal.chirp(t, f0=param, t1=duration, f1=min(param * 16, 7000), method="logarithmic")
        x = x * _envelope(n, rng)
    elif kind == "vowel":
        vowel = "aiue"[int(param) % 4]
        f0 = 90.0 + 25.0 * int(param)
        vibrato = 1.0 + 0.02 * np.sin(2 * np.pi * 5.0 * t)
        phase = 2 * np.pi * np.cumsum(f0 * vibrato) / SR
        harmonics = np.arange(1, int(7000 / (f0 * 1.05)))
        x = sum(np.sin(h * phase) / h for h in harmonics)
        for formant, bw in zip(VOWELS[vowel], (80, 100, 120)):
            r = np.exp(-np.pi * bw / SR)
            theta = 2 * np.pi * formant / SR
            x = signal.lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], x)
        x = x * _envelope(n, rng)
    elif kind == "noise":
        white = rng.standard_normal(n)
        # pink-ish: one-pole lowpass mix, param sets the cutoff in Hz
        b, a = signal.butter(2, min(param, 7900) / (SR / 2))
        x = signal.lfilter(b, a, white) * _envelope(n, rng)
    else:
        raise ValueError(f"unknown synthetic signal kind {kind!r}")
    x = np.asarray(x, dtype=np.float64)
    peak = np.max(np.abs(x)) or 1.0
    # Stored as 16-bit PCM would be: the identity codec then reproduces it exactly.
    pcm = np.round(0.5 * x / peak * 32768.0) / 32768.0
    return Audio(pcm.astype(np.float32), SR)


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    seed: int = 0
    duration: float = 2.5


SPECS = [
    ("tone", 220.0), ("tone", 1000.0), ("tone", 3000.0),
    ("chirp", 100.0), ("chirp", 300.0),
    ("vowel", 0), ("vowel", 1), ("vowel", 2), ("vowel", 3), ("vowel", 5),
    ("noise", 2000.0), ("noise", 7000.0),
]


class SyntheticDataset(Dataset):
    Config = SyntheticConfig
    description = "12 built-in synthetic signals (tones, chirps, vowel-like harmonics, noise)"

    def _items(self) -> list[Item]:
        items = []
        for i, (kind, param) in enumerate(SPECS):
            gen = functools.partial(make_signal, kind, float(param), self.config.seed * 1000 + i, self.config.duration)
            item_id = f"{kind}-{param:g}" if kind != "vowel" else f"vowel-{'aiue'[int(param) % 4]}-{90 + 25 * int(param)}hz"
            items.append(Item(id=item_id, generator=gen, attrs={"kind": kind}))
        return items
