"""ABX discrimination (Schatz et al., 2013): triples, DTW distances, scores.

A triple ``(A, B, X)`` asks one question: A and B differ in the *target* factor (accent, or pitch
class) and share everything else that the design holds (word, speaker, the other factor); X has
A's target value but comes from another speaker (the *context* differs). The triple scores 1 when
X is closer to A than to B, 0 when closer to B, 0.5 on a tie; chance is 0.5 whatever the
distance. This is the "across-speaker" condition of the ZeroSpeech ABX benchmarks, with the word
in place of the phone triphone.

Distances are dynamic time warping (librosa's DTW, steps (1,1), (1,0), (0,1), unit weights) over a
frame-distance matrix, divided by the length of the warping path: the mean frame distance along
the best alignment, as in ZeroSpeech.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import Any, Callable, Hashable, Sequence

import numpy as np

#: The target factors and the label that the design holds fixed within A and B.
OTHER = {"accent": "pitch_class", "pitch_class": "accent"}


@dataclasses.dataclass(frozen=True)
class Triple:
    a: int  # indices into the list of label dicts
    b: int
    x: int
    group: str  # the word: triples are resampled by it


def form_triples(labels: Sequence[dict[str, Any]], target: str, same_gender_x: bool = False) -> list[Triple]:
    """Every ABX triple of the design, in a fixed order.

    ``labels[i]`` needs ``word``, ``speaker``, ``accent`` and ``pitch_class`` (and ``gender``
    when ``same_gender_x``). For each word: A and B have the same speaker and the same value of
    the other factor (``OTHER[target]``) and different ``target`` values; X has A's ``target``
    value and any value of the other factor, from a speaker other than A's (of the same gender as
    A's when ``same_gender_x``). Items missing a needed label take part in no triple.
    """
    other = OTHER[target]
    need = ("word", "speaker", "accent", "pitch_class") + (("gender",) if same_gender_x else ())
    by_word: dict[str, list[int]] = defaultdict(list)
    for i, lab in enumerate(labels):
        if all(lab.get(k) is not None for k in need):
            by_word[str(lab["word"])].append(i)
    out: list[Triple] = []
    for word in sorted(by_word):
        idx = sorted(by_word[word], key=lambda i: _key(labels[i]))
        for a in idx:
            la = labels[a]
            for b in idx:
                lb = labels[b]
                if (lb["speaker"] != la["speaker"] or lb[other] != la[other] or lb[target] == la[target]):
                    continue
                for x in idx:
                    lx = labels[x]
                    if lx[target] != la[target] or lx["speaker"] == la["speaker"]:
                        continue
                    if same_gender_x and lx["gender"] != la["gender"]:
                        continue
                    out.append(Triple(a, b, x, word))
    return out


def _key(lab: dict[str, Any]) -> tuple:
    return tuple(str(lab.get(k)) for k in ("speaker", "accent", "pitch_class"))


def dtw_distance(cost: np.ndarray) -> float:
    """Path-length-normalized DTW cost of a frame-distance matrix ``[Tx, Ty]``."""
    import librosa

    D, path = librosa.sequence.dtw(C=np.ascontiguousarray(cost, dtype=np.float64), backtrack=True)
    return float(D[-1, -1] / len(path))


class PairDistances:
    """DTW distances between items, each unordered pair computed once."""

    def __init__(self, frame_cost: Callable[[int, int], np.ndarray]):
        self.frame_cost = frame_cost
        self.cache: dict[tuple[int, int], float] = {}

    def __call__(self, i: int, j: int) -> float:
        key = (i, j) if i <= j else (j, i)
        if key not in self.cache:
            self.cache[key] = dtw_distance(self.frame_cost(*key))
        return self.cache[key]


def score_triples(triples: Sequence[Triple], dist: Callable[[int, int], float]) -> np.ndarray:
    """1 where d(X, A) < d(X, B), 0.5 on a tie, 0 otherwise (one value per triple)."""
    out = np.empty(len(triples), dtype=np.float64)
    for n, t in enumerate(triples):
        da, db = dist(t.x, t.a), dist(t.x, t.b)
        out[n] = 1.0 if da < db else 0.5 if da == db else 0.0
    return out


def per_group_means(triples: Sequence[Triple], scores: np.ndarray) -> dict[Hashable, float]:
    """Mean score of each group (word), sorted by group."""
    acc: dict[Hashable, list[float]] = defaultdict(list)
    for t, s in zip(triples, scores):
        acc[t.group].append(float(s))
    return {g: float(np.mean(v)) for g, v in sorted(acc.items())}


__all__ = ["OTHER", "PairDistances", "Triple", "dtw_distance", "form_triples", "per_group_means", "score_triples"]
