"""Token statistics: unigram entropy, codebook use, an interpolated Kneser-Ney n-gram model, and
token edit distances (the ``tokens`` task, docs/tokens.md).

Everything here works on integer token sequences (one stream at a time); nothing knows about
audio. Definitions and formulas are in docs/tokens.md.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterable, Sequence

import numpy as np


# -- unigram statistics ---------------------------------------------------------------------
def entropy_bits(counts: np.ndarray) -> float:
    """Empirical (plug-in) entropy in bits of a count vector: ``-sum p log2 p``."""
    c = np.asarray(counts, dtype=np.float64)
    c = c[c > 0]
    if c.size == 0:
        return math.nan
    p = c / c.sum()
    return float(-(p * np.log2(p)).sum())


def symbol_counts(seq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct symbols, their counts) of a 1-D integer sequence."""
    return np.unique(np.asarray(seq, dtype=np.int64), return_counts=True)


def pooled_counts(parts: Iterable[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Counts of the union of several (symbols, counts) pairs (the symbols themselves dropped)."""
    parts = list(parts)
    if not parts:
        return np.zeros(0, dtype=np.int64)
    sym = np.concatenate([p[0] for p in parts])
    cnt = np.concatenate([p[1] for p in parts])
    _, inv = np.unique(sym, return_inverse=True)
    return np.bincount(inv.ravel(), weights=cnt).astype(np.int64)


# -- interpolated Kneser-Ney ------------------------------------------------------------------
@dataclasses.dataclass
class _Order:
    keys: np.ndarray  # sorted int64 keys of the k-grams seen (k >= 2); k = 1: unused
    count: np.ndarray  # per k-gram type: raw count (highest order) or continuation count
    den: np.ndarray  # per context ((k-1)-gram id): sum of ``count`` over its types
    types: np.ndarray  # per context: number of types with count > 0
    discount: float


class KneserNey:
    """Interpolated Kneser-Ney n-gram model over integer tokens (Kneser & Ney, 1995; the
    interpolated form of Chen & Goodman, 1998, with one absolute discount per order).

    ``fit`` takes training sequences (items; n-grams never cross an item boundary: each item is
    preceded by ``order - 1`` begin symbols), ``bits`` returns ``-log2 P(w_t | history)`` for
    every token of a sequence. The lowest order interpolates with the uniform distribution over
    ``vocab_size`` symbols (the codec's declared vocabulary), so unseen tokens cost a finite,
    honest number of bits. Pure numpy; n-grams are indexed by sorted integer keys built one
    order at a time (``key_k = id_{k-1}(prefix) * V + w``), so vocabularies of any size
    (2^32 float bit patterns) work.
    """

    def __init__(self, order: int = 4, vocab_size: int | None = None):
        if order < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        self.order = int(order)
        self.vocab_size = vocab_size
        self.orders: dict[int, _Order] = {}
        self.symbols = np.zeros(0, dtype=np.int64)
        self.n_train = 0

    # dense ids: 0 = begin, 1..U = symbols seen in training, U + 1 = unseen symbol
    def _dense(self, seq: np.ndarray) -> np.ndarray:
        seq = np.asarray(seq, dtype=np.int64)
        pos = np.searchsorted(self.symbols, seq)
        pos_c = np.minimum(pos, max(len(self.symbols) - 1, 0))
        seen = (pos < len(self.symbols)) & (self.symbols[pos_c] == seq) if len(self.symbols) else np.zeros(len(seq), bool)
        return np.where(seen, pos + 1, len(self.symbols) + 1).astype(np.int64)

    def _padded(self, seqs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(dense ids with begin padding, offset of each position in its padded item, real mask)."""
        pad = self.order - 1
        ws, offs = [], []
        for s in seqs:
            d = self._dense(s)
            ws.append(np.concatenate([np.zeros(pad, np.int64), d]))
            offs.append(np.arange(len(d) + pad))
        if not ws:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool)
        w = np.concatenate(ws)
        off = np.concatenate(offs)
        return w, off, off >= pad

    @property
    def V(self) -> int:
        return len(self.symbols) + 2

    def _uniform(self) -> float:
        v = self.vocab_size if self.vocab_size else len(self.symbols) + 1
        return 1.0 / float(v)

    def fit(self, seqs: Sequence[np.ndarray]) -> "KneserNey":
        seqs = [np.asarray(s, dtype=np.int64).ravel() for s in seqs]
        nonempty = [s for s in seqs if len(s)]
        self.symbols = np.unique(np.concatenate(nonempty)) if nonempty else np.zeros(0, np.int64)
        w, off, real = self._padded(seqs)
        self.n_train = int(real.sum())
        V, n = self.V, self.order
        ids = {1: w}
        keys = {}
        for k in range(2, n + 1):
            prev = np.concatenate([[-1], ids[k - 1][:-1]])
            valid = (off >= k - 1) & (prev >= 0)
            key = np.where(valid, prev * V + w, -1)
            uk, inv = np.unique(key[valid], return_inverse=True)
            idk = np.full(len(w), -1, dtype=np.int64)
            idk[valid] = inv.ravel()
            ids[k], keys[k] = idk, uk
        self.orders = {}
        for k in range(1, n + 1):
            n_types = V if k == 1 else len(keys[k])
            if k == n:
                count = np.bincount(ids[k][real], minlength=n_types)
            else:
                # continuation count: distinct (k+1)-gram types (at real positions) ending in it
                hi, lo = ids[k + 1][real], ids[k][real]
                _, first = np.unique(hi, return_index=True)
                count = np.bincount(lo[first], minlength=n_types)
            count = count.astype(np.float64)
            pos = count[count > 0]
            n1, n2 = float((pos == 1).sum()), float((pos == 2).sum())
            d = n1 / (n1 + 2 * n2) if n1 > 0 else 0.5
            d = min(max(d, 0.05), 0.95)
            if k == 1:
                den = np.array([count.sum()])
                types = np.array([float((count > 0).sum())])
            else:
                prefix = keys[k] // V
                n_ctx = V if k == 2 else len(keys[k - 1])
                den = np.bincount(prefix, weights=count, minlength=n_ctx)
                types = np.bincount(prefix, weights=(count > 0).astype(np.float64), minlength=n_ctx)
            self.orders[k] = _Order(keys.get(k, np.zeros(0, np.int64)), count, den, types, d)
        return self

    def _lookup(self, k: int, prev: np.ndarray, w: np.ndarray) -> np.ndarray:
        keys = self.orders[k].keys
        q = prev * self.V + w
        pos = np.searchsorted(keys, q)
        pos_c = np.minimum(pos, max(len(keys) - 1, 0))
        found = (prev >= 0) & (pos < len(keys))
        if len(keys):
            found &= keys[pos_c] == q
        return np.where(found, pos_c, -1)

    def bits(self, seq: np.ndarray) -> np.ndarray:
        """``-log2 P(w_t | w_{t-n+1} .. w_{t-1})`` of every token of ``seq`` (float64 [T])."""
        n = self.order
        w, off, real = self._padded([np.asarray(seq, dtype=np.int64).ravel()])
        if not real.any():
            return np.zeros(0)
        p = np.full(len(w), self._uniform())
        o1 = self.orders[1]
        c1 = o1.count[np.minimum(w, len(o1.count) - 1)] * (w < len(o1.count))
        if o1.den[0] > 0:
            p = (np.maximum(c1 - o1.discount, 0.0) + o1.discount * o1.types[0] * p) / o1.den[0]
        prev_ids = w
        for k in range(2, n + 1):
            o = self.orders[k]
            prev = np.concatenate([[-1], prev_ids[:-1]])
            prev = np.where(off >= k - 1, prev, -1)
            idk = self._lookup(k, prev, w)
            has_ctx = prev >= 0
            den = np.where(has_ctx, o.den[np.maximum(prev, 0)], 0.0)
            types = np.where(has_ctx, o.types[np.maximum(prev, 0)], 0.0)
            c = np.where(idk >= 0, o.count[np.maximum(idk, 0)], 0.0)
            use = den > 0
            safe = np.where(use, den, 1.0)
            p = np.where(use, (np.maximum(c - o.discount, 0.0) + o.discount * types * p) / safe, p)
            prev_ids = idk
        return -np.log2(p[real])


# -- edit distances ---------------------------------------------------------------------------
def edit_distance(a: np.ndarray, b: np.ndarray) -> int:
    """Levenshtein distance between two integer sequences (rapidfuzz)."""
    from rapidfuzz.distance import Levenshtein

    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if len(a) == 0 or len(b) == 0:
        return max(len(a), len(b))
    # dense relabelling: rapidfuzz hashes large integers slowly; small ones go straight through
    _, inv = np.unique(np.concatenate([a, b]), return_inverse=True)
    inv = inv.ravel()
    return int(Levenshtein.distance(inv[: len(a)].tolist(), inv[len(a):].tolist()))


def normalized_edit_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Edit distance over streams divided by the longer sequence's length, mean over streams.
    ``a`` and ``b`` are ``[K, T]`` (lengths may differ); 0 = the same tokens."""
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"different stream counts {a.shape[0]} and {b.shape[0]}")
    vals = []
    for sa, sb in zip(a, b):
        m = max(len(sa), len(sb))
        vals.append(0.0 if m == 0 else edit_distance(sa, sb) / m)
    return float(np.mean(vals))


def mismatch_rate(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of positions where the tokens differ, position by position over the common
    length, positions beyond it counted as mismatches; mean over streams."""
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    vals = []
    for sa, sb in zip(a, b):
        m, common = max(len(sa), len(sb)), min(len(sa), len(sb))
        if m == 0:
            vals.append(0.0)
            continue
        vals.append((float(np.count_nonzero(sa[:common] != sb[:common])) + (m - common)) / m)
    return float(np.mean(vals))


__all__ = ["KneserNey", "edit_distance", "entropy_bits", "mismatch_rate", "normalized_edit_distance",
           "pooled_counts", "symbol_counts"]
