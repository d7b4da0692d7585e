"""Linear probes on the tokens: is pitch, accent or speaker readable from what a codec emits?

The features come from the token array alone (int64 ``[K, T]``), with one recipe for every codec,
so that 16-bit PCM samples, mu-law bytes and RVQ codes are read the same way:

* **Utterance features.** Bags of unigrams and of bigrams of each stream's codes, hashed into
  ``buckets`` shared bins each (feature hashing, Weinberger et al., 2009); the stream index is
  part of the hashed key. Relative frequencies, square-rooted (Hellinger), unit norm. Hashing
  fixes the dimension whatever the vocabulary (65,536 PCM levels, 256 bytes, 1,024 RVQ codes)
  and the number of streams (1 to several hundred).
* **Frame features** for F0 regression, on an analysis grid of hop ``h = max(1 / frame_rate,
  10 ms)`` (the token frame rate is measured as ``T`` over the duration): for grid cell ``i``,
  the counts of the tokens that fall in cells ``i - 1``, ``i`` and ``i + 1``, keyed by (stream,
  cell position, code) and hashed into ``frame_buckets`` bins, unit norm. Targets are Praat F0
  of the *original* audio at the cell centre, in cents re 55 Hz; only voiced cells are kept, at
  most ``frames_per_item`` of them, evenly spaced.

Both go into the row's extras as zlib-compressed arrays (on synth-speech 0.5 KB per item for
Codec 2, 6 KB for MP3/Opus bytes, 15-33 KB for sample-level and 337-stream codecs), so
``summarize`` trains the probes on stored rows without the tokens. Training happens in the exact
row space of the features (:func:`row_space`), so its cost does not depend on the codec.

Probes are scikit-learn linear models (logistic regression, ridge regression) evaluated by
repeated random splits that are disjoint in speakers **and** in sentences: in each repeat a
third of the speakers and a third of the sentences are drawn for test; train items have neither a
test speaker nor a test sentence, test items have both (items with one of each are unused).
Closed-set speaker identification can only be disjoint in sentences. Each accuracy is reported
as the mean over repeats with the 2.5-97.5 percentile range of the repeats, and beside it the
chance level: the majority-class rate of the test folds. The corpus report adds balanced
accuracy (chance: one over the number of classes) and the same probes with shuffled labels.
A split is used only if every class of its test fold has at least ``min_train_per_class`` train
items and the test fold has at least ``min_test_items`` items (for the F0 probe: that many train
and test items); when fewer than half of the splits qualify, as on a 10-item subset, the
question's metrics are failed with that reason instead of a number.

Changing the features, the model or the splits moves the numbers: bump ``Probe.version``.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import math
import zlib
from typing import Any, Callable

import numpy as np

from bench.audio import METRIC_SR
from bench.metrics.f0 import praat_f0
from bench.metrics.stats import percentile_interval
from bench.tasks.base import Failed, ItemContext, Measurement, MetricSpec, MetricValue, Row, Task

#: Questions asked of utterance features: metric prefix -> (label key, grouping, class filter).
#: grouping "speaker+sentence": train and test disjoint in both; "sentence": disjoint in sentences.
QUESTIONS: dict[str, tuple[str, str, tuple[str, ...] | None]] = {
    "pitch": ("pitch_class", "speaker+sentence", None),
    "accent2": ("accent", "speaker+sentence", ("en-us", "en-gb")),
    "accent": ("accent", "speaker+sentence", None),
    "speaker": ("speaker", "sentence", None),
}
F0_REF_HZ = 55.0


# -- hashing --------------------------------------------------------------------------------
def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer (Steele et al., 2014): a fast, well-spread 64-bit hash, vectorized."""
    x = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * np.uint64(0xBF58476D1CE4E5B9)
        x = x ^ (x >> np.uint64(27))
        x = x * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return x


def _salt(*parts: int) -> np.uint64:
    h = np.uint64(0x9E3779B97F4A7C15)
    for p in parts:
        h = _mix(np.array([h ^ np.uint64(p + 1)], dtype=np.uint64))[0]
    return h


@functools.lru_cache(maxsize=64)
def _stream_salts(streams: int, kind: int) -> np.ndarray:
    """``[K, 1]`` salts of streams 0..K-1 for one kind of feature (unigram, bigram, position)."""
    return np.array([_salt(k, kind) for k in range(streams)], dtype=np.uint64)[:, None]


def hash_codes(codes: np.ndarray, salt: Any, buckets: int) -> np.ndarray:
    """Bucket of each code (int64 array) under ``salt`` (a scalar, or one per row of a
    ``[K, n]`` array as ``[K, 1]``): consistent across items and codecs."""
    with np.errstate(over="ignore"):
        return (_mix(codes.astype(np.int64).view(np.uint64) ^ salt) % np.uint64(buckets)).astype(np.int64)


def hash_bigrams(codes: np.ndarray, salt: Any, buckets: int) -> np.ndarray:
    """Bucket of each pair of consecutive codes along the last axis."""
    a = codes[..., :-1].astype(np.int64).view(np.uint64)
    b = codes[..., 1:].astype(np.int64).view(np.uint64)
    with np.errstate(over="ignore"):
        return (_mix(_mix(a ^ salt) ^ b) % np.uint64(buckets)).astype(np.int64)


# -- arrays in extras -----------------------------------------------------------------------
def pack(arr: np.ndarray) -> np.ndarray:
    """A 1-D array for the row's extras: the store keeps numpy arrays in typed rows."""
    return np.ascontiguousarray(arr)


def unpack(stored: Any) -> np.ndarray:
    """An array from the extras: a numpy array (the store's typed rows) or, in stores written
    before those existed, the old ``dtype:base64(zlib(bytes))`` text."""
    if isinstance(stored, np.ndarray):
        return stored
    tag, _, data = str(stored).partition(":")
    return np.frombuffer(zlib.decompress(base64.b64decode(data)), dtype=np.dtype(tag))


# -- feature extraction (per item, in the workers) ------------------------------------------
def utterance_features(tokens: np.ndarray, buckets: int) -> np.ndarray:
    """Counts of hashed unigrams (first ``buckets`` bins) and bigrams (next ``buckets``) of all
    streams in one shared space: the stream index is part of the hashed key, so the dimension
    is ``2 * buckets`` whatever the number of streams."""
    counts = np.zeros(2 * buckets, dtype=np.int64)
    K, T = tokens.shape
    counts[:buckets] = np.bincount(hash_codes(tokens, _stream_salts(K, 1), buckets).ravel(), minlength=buckets)
    if T > 1:
        counts[buckets:] = np.bincount(hash_bigrams(tokens, _stream_salts(K, 2), buckets).ravel(), minlength=buckets)
    return counts


def require_backends() -> None:
    """Praat and scikit-learn, which the pitch and probe tasks need (extra ``probe``). Praat is
    imported (the items' F0 needs it); scikit-learn is only looked up: the classifiers run in the
    corpus summary, which imports it there."""
    from bench.codecs.base import require, require_installed

    require("parselmouth", "probe", "praat-parselmouth")
    require_installed("sklearn", "probe", "scikit-learn")


def frame_features(
    tokens: np.ndarray, duration: float, f0_times: np.ndarray, f0_hz: np.ndarray,
    frame_buckets: int, max_frames: int,
) -> dict[str, Any] | Failed:
    """Hashed token counts of up to ``max_frames`` voiced analysis cells, with F0 targets.

    The key of a token is (stream, cell position -1/0/+1, code), hashed into ``frame_buckets``
    shared bins. Returns packed CSR arrays (``p`` row pointers, ``i`` bins, ``v`` counts) and
    ``y``, the original's F0 in cents re 55 Hz, or :class:`Failed`.
    """
    K, T = tokens.shape
    if T == 0 or duration <= 0:
        return Failed("no tokens")
    frame_rate = T / duration
    hop = max(1.0 / frame_rate, 0.01)
    n_cells = int(math.floor(duration / hop))
    if n_cells < 3:
        return Failed("too short for frame probes (fewer than 3 analysis cells)")
    if len(f0_times) == 0:
        return Failed("too short for F0 tracking")
    centers = (np.arange(n_cells) + 0.5) * hop
    nearest = np.clip(np.searchsorted(f0_times, centers), 0, len(f0_times) - 1)
    prev = np.clip(nearest - 1, 0, len(f0_times) - 1)
    nearest = np.where(np.abs(f0_times[prev] - centers) < np.abs(f0_times[nearest] - centers), prev, nearest)
    f0 = np.where(np.abs(f0_times[nearest] - centers) <= hop, f0_hz[nearest], 0.0)
    voiced = np.flatnonzero(f0 > 0)
    if len(voiced) == 0:
        return Failed("original has no voiced frames")
    pick = voiced[np.unique(np.round(np.linspace(0, len(voiced) - 1, min(max_frames, len(voiced)))).astype(int))]
    cell_of_token = np.floor(((np.arange(T) + 0.5) / frame_rate) / hop).astype(np.int64)
    indptr, indices, data = [0], [], []
    for i in pick:
        cols = []
        for j, cell in enumerate((i - 1, i, i + 1)):
            lo, hi = np.searchsorted(cell_of_token, [cell, cell + 1])
            if hi <= lo:
                continue
            cols.append(hash_codes(tokens[:, lo:hi], _stream_salts(K, 10 + j), frame_buckets).ravel())
        u, c = np.unique(np.concatenate(cols) if cols else np.zeros(0, np.int64), return_counts=True)
        indices.append(u)
        data.append(np.minimum(c, 65535))
        indptr.append(indptr[-1] + len(u))
    cents = 1200.0 * np.log2(f0[pick] / F0_REF_HZ)
    return {
        "p": pack(np.asarray(indptr, dtype=np.uint32)),
        "i": pack(np.concatenate(indices).astype(np.uint32)),
        "v": pack(np.concatenate(data).astype(np.uint16)),
        "y": [round(float(c), 2) for c in cents],
    }


def row_space(X: Any) -> np.ndarray:
    """Coordinates ``Z = U sqrt(L)`` of the rows of ``X`` in their own span (``X X^T = U L U^T``).

    ``Z Z^T = X X^T``: an L2-regularized linear model (logistic or ridge, with intercept) fitted
    on any subset of rows of ``Z`` makes exactly the predictions of the same model fitted on
    ``X``, because its weights lie in the span of the training rows (representer theorem). It
    turns a 16,384-wide hashed matrix into an n-wide dense one, so probes cost the same for a
    one-stream and a 337-stream codec.
    """
    G = X @ X.T
    G = np.asarray(G.todense() if hasattr(G, "todense") else G, dtype=np.float64)
    lam, U = np.linalg.eigh(G)
    keep = lam > max(float(lam.max()), 0.0) * 1e-10
    return U[:, keep] * np.sqrt(lam[keep])


# -- splits ------------------------------------------------------------------------------------
def grouped_splits(
    speakers: list[str], sentences: list[str], grouping: str, repeats: int, test_fraction: float,
    seed: int,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train indices, test indices) per repeat; disjoint in sentences, and in speakers when
    ``grouping == "speaker+sentence"``. Reproducible from ``seed``."""
    spk = np.asarray(speakers, dtype=object)
    sen = np.asarray(sentences, dtype=object)
    uspk, usen = sorted(set(speakers)), sorted(set(sentences))
    by_speaker = grouping == "speaker+sentence"
    if len(usen) < 2 or (by_speaker and len(uspk) < 2):
        return []
    out = []
    for r in range(repeats):
        rng = np.random.default_rng([seed, r])
        n_sen = min(len(usen) - 1, max(1, int(round(test_fraction * len(usen)))))
        test_sen = set(rng.choice(usen, size=n_sen, replace=False).tolist())
        in_sen = np.array([s in test_sen for s in sen], dtype=bool)
        if by_speaker:
            n_spk = min(len(uspk) - 1, max(1, int(round(test_fraction * len(uspk)))))
            test_spk = set(rng.choice(uspk, size=n_spk, replace=False).tolist())
            in_spk = np.array([s in test_spk for s in spk], dtype=bool)
            train, test = ~in_sen & ~in_spk, in_sen & in_spk
        else:
            train, test = ~in_sen, in_sen
        out.append((np.flatnonzero(train), np.flatnonzero(test)))
    return out


def interval(values: list[float]) -> tuple[float, float]:
    """The spread of split-level scores: their 2.5 and 97.5 percentiles."""
    return percentile_interval(np.asarray(values, dtype=np.float64))


def majority_rate(y: np.ndarray) -> float:
    _, counts = np.unique(y, return_counts=True)
    return float(counts.max() / counts.sum())


def split_too_small(y_train: np.ndarray, y_test: np.ndarray, min_train_per_class: int = 0,
                    min_test_items: int = 1) -> bool:
    """A split whose classifier would mean nothing: fewer than 2 train classes, fewer than
    ``min_test_items`` test items, or a test class with fewer than ``min_train_per_class``
    train items."""
    if len(y_test) < max(1, min_test_items):
        return True
    classes, counts = np.unique(y_train, return_counts=True)
    if len(classes) < 2:
        return True
    have = dict(zip(classes.tolist(), counts.tolist()))
    return any(have.get(c, 0) < min_train_per_class for c in set(y_test.tolist()))


def too_few_reason(n: int, used: int, total: int, need: str) -> str:
    return f"too few items: {n} (need {need} in at least half of the splits; {used} of {total} qualify)"


def cv_classify(
    X: Any, y: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]],
    make_model: Callable[[], Any], min_train_per_class: int = 0, min_test_items: int = 1,
) -> dict[str, Any]:
    """Accuracy, chance (majority-class rate of the test fold) and balanced accuracy (mean
    recall over the classes of the test fold; chance 1 / their number) over the usable splits
    (see :func:`split_too_small`; the others are counted as skipped)."""
    accs, chances, balanced, skipped = [], [], [], 0
    for train, test in splits:
        if split_too_small(y[train], y[test], min_train_per_class, min_test_items):
            skipped += 1
            continue
        model = make_model().fit(X[train], y[train])
        pred = model.predict(X[test])
        accs.append(float(np.mean(pred == y[test])))
        chances.append(majority_rate(y[test]))
        balanced.append(float(np.mean([np.mean(pred[y[test] == c] == c) for c in np.unique(y[test])])))
    return {"acc": accs, "chance": chances, "balanced": balanced, "skipped": skipped}


def _mv(values: list[float], n: int, unit: str, higher: bool | None, failures: dict[str, int] | None = None) -> MetricValue:
    if not values:
        return MetricValue(None, None, None, 0, n, higher, unit, failures or {"no usable split": n})
    lo, hi = interval(values)
    return MetricValue(float(np.mean(values)), lo, hi, n, 0, higher, unit, failures or {})


def _none(n: int, unit: str, higher: bool | None, reason: str) -> MetricValue:
    return MetricValue(None, None, None, 0, n, higher, unit, {reason: n})


def missing_labels_reason(rows: list[Row], needed: tuple[str, ...], key: str,
                          keep: tuple[str, ...] | None) -> str:
    """Why no row can be used: the labels in ``needed`` that no row has, or the class filter."""
    absent = [k for k in needed if not any(r.labels.get(k) is not None for r in rows)]
    if absent:
        why = {"sentence_id": "to keep train and test sentences apart",
               "speaker": "to keep train and test speakers apart"}
        return "; ".join(f"no '{k}' labels" + (f" ({why[k]})" if k in why else "") for k in absent)
    if keep is not None:
        return f"no items whose '{key}' is one of {', '.join(keep)}"
    return f"no items with all of the labels {', '.join(repr(k) for k in needed)}"


# -- the task -------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ProbeConfig:
    buckets: int = 8192  # shared hash bins for unigrams, and as many again for bigrams
    frame_buckets: int = 4096  # shared hash bins of the frame probes
    frames_per_item: int = 8  # voiced analysis cells stored per item for F0 regression
    repeats: int = 20  # random grouped splits
    test_fraction: float = 1 / 3  # of speakers and of sentences drawn for test in each split
    C: float = 10.0  # inverse L2 strength of the logistic regression
    alpha: float = 1.0  # L2 strength of the ridge regression
    f0_floor: float = 50.0  # Hz; as the pitch task (see PitchConfig.f0_floor for why not 75)
    f0_ceiling: float = 600.0
    #: a split counts only if each class of its test fold has this many train items...
    min_train_per_class: int = 5
    #: ...and its test fold this many items (F0 probe: train and test items); fewer than half
    #: of the splits counting: the question fails with the reason
    min_test_items: int = 8


def _accuracy_specs() -> tuple[MetricSpec, ...]:
    specs = []
    descr = {"pitch": "pitch class (low/high)", "accent2": "accent, en-us vs en-gb",
             "accent": "accent, all accents", "speaker": "speaker identity (closed set)"}
    for q, text in descr.items():
        specs.append(MetricSpec(f"{q}_acc", "", True, f"probe accuracy from tokens: {text}"))
        specs.append(MetricSpec(f"{q}_chance", "", None, f"majority-class rate of the test folds: {text}"))
    return tuple(specs)


class Probe(Task):
    name = "probe-linear"  # "probe" until the learned probes (bench.tasks.learned_probe) took the name
    default_dataset = "synth-speech"  # the whole corpus: its classifiers train on one split and test on the other
    needs_modules = ('parselmouth', 'sklearn')
    version = "2"
    description = ("linear probes on hashed token n-grams: pitch class, accent, speaker; "
                   "frame-level F0 regression")
    requires = frozenset({"reference", "tokens", "labels"})
    extra = "probe"
    Config = ProbeConfig
    metrics = _accuracy_specs() + (
        MetricSpec("f0_r2", "", True, "R² of a ridge probe predicting F0 (cents) of voiced frames from tokens"),
        MetricSpec("f0_mae_cents", "cents", False, "median absolute F0 error of that probe, voiced frames"),
    )

    def __init__(self, config: Any = None, *, name: str | None = None):
        super().__init__(config, name=name)
        self._memo: dict[tuple, dict[str, Any]] = {}

    def _load(self) -> None:
        require_backends()

    def measure(self, item: ItemContext) -> Measurement:
        cfg = self.config
        tokens = np.asarray(item.tokens, dtype=np.int64)
        if tokens.ndim != 2 or tokens.shape[1] == 0:
            reason = Failed("no tokens")
            return Measurement({"features": reason, "frames": reason})
        duration = len(item.reference) / METRIC_SR
        counts = utterance_features(tokens, cfg.buckets)
        extras: dict[str, Any] = {
            "K": int(tokens.shape[0]), "T": int(tokens.shape[1]), "B": cfg.buckets,
            "u": pack(np.minimum(counts, 2**32 - 1).astype(np.uint32)),
        }
        values: dict[str, float | Failed] = {"features": float(np.count_nonzero(counts))}
        if duration < 0.1:
            frames: dict[str, Any] | Failed = Failed("too short for F0 tracking (< 0.1 s)")
        else:
            times, f0 = praat_f0(item.reference, cfg.f0_floor, cfg.f0_ceiling, 0.01)
            frames = frame_features(tokens, duration, times, f0, cfg.frame_buckets, cfg.frames_per_item)
        if isinstance(frames, Failed):
            values["frames"] = frames
        else:
            values["frames"] = float(len(frames["y"]))
            extras["f"] = frames
        return Measurement(values, extras)

    # -- corpus level ----------------------------------------------------------------------
    def _utterance_matrix(self, rows: list[Row]) -> np.ndarray:
        """Rows of sqrt relative frequencies (unigram and bigram halves each of unit norm, whole
        row of unit norm), reduced exactly to their row space (see :func:`row_space`)."""
        B = self.config.buckets
        X = np.zeros((len(rows), 2 * B))
        for n, r in enumerate(rows):
            c = unpack(r.extras["u"]).astype(np.float64)
            for half in (slice(0, B), slice(B, 2 * B)):
                total = c[half].sum()
                if total > 0:
                    X[n, half] = np.sqrt(c[half] / total)
        return row_space(X / math.sqrt(2))

    def _classifier(self):
        from sklearn.linear_model import LogisticRegression

        C = self.config.C
        return lambda: LogisticRegression(C=C, max_iter=2000)

    def evaluate(self, rows: list[Row], seed: int, shuffle_labels: bool = False) -> dict[str, Any]:
        """All probe results: {question: {acc: [...], chance: [...], skipped, n}} and F0 results.

        ``shuffle_labels`` permutes the labels first (a control: accuracy must fall to chance).
        The result is memoized for the rows object (``summarize`` and ``corpus_report`` share it).
        """
        from bench.codecs.base import require

        require("sklearn", "probe", "scikit-learn")
        from threadpoolctl import threadpool_limits

        key = (id(rows), len(rows), seed, shuffle_labels)
        if key not in self._memo:
            # small dense problems: one BLAS thread is faster, and does not fight other workers
            with threadpool_limits(1):
                self._memo = {**self._memo, key: self._evaluate(rows, seed, shuffle_labels)}
        return self._memo[key]

    def _evaluate(self, rows: list[Row], seed: int, shuffle_labels: bool) -> dict[str, Any]:
        cfg = self.config
        usable = [r for r in rows if r.failure is None and "u" in r.extras
                  and r.extras.get("B") == cfg.buckets]
        out: dict[str, Any] = {"n_rows": len(rows), "n_usable": len(usable)}
        if not usable:
            return out
        X = self._utterance_matrix(usable)
        rng = np.random.default_rng([seed, 7919])
        for q, (key, grouping, keep) in QUESTIONS.items():
            needed = (key, "sentence_id") + (() if grouping == "sentence" else ("speaker",))
            sel = [i for i, r in enumerate(usable)
                   if all(r.labels.get(k) is not None for k in needed)
                   and (keep is None or r.labels.get(key) in keep)]
            if len(sel) < 4:
                if sel:
                    reason = f"too few labelled items: {len(sel)} (need >= 4)"
                else:
                    reason = missing_labels_reason(usable, needed, key, keep)
                out[q] = {"error": reason, "n": len(sel)}
                continue
            y = np.asarray([str(usable[i].labels[key]) for i in sel], dtype=object)
            if shuffle_labels:
                y = y[rng.permutation(len(y))]
            splits = grouped_splits([str(usable[i].labels.get("speaker")) for i in sel],
                                    [str(usable[i].labels["sentence_id"]) for i in sel],
                                    grouping, cfg.repeats, cfg.test_fraction, seed)
            res = cv_classify(X[sel], y, splits, self._classifier(), cfg.min_train_per_class, cfg.min_test_items)
            if len(res["acc"]) * 2 < max(1, len(splits)):
                need = f">= {cfg.min_train_per_class} train items per test class and >= {cfg.min_test_items} test items"
                out[q] = {"error": too_few_reason(len(sel), len(res["acc"]), len(splits), need), "n": len(sel)}
                continue
            res["n"] = len(sel)
            res["classes"] = sorted(set(y.tolist()))
            out[q] = res
        out["f0"] = self._f0_probe(usable, seed, rng if shuffle_labels else None)
        return out

    def _f0_probe(self, rows: list[Row], seed: int, shuffle_rng=None) -> dict[str, Any]:
        from scipy import sparse
        from sklearn.linear_model import Ridge
        from sklearn.metrics import r2_score

        cfg = self.config
        frame_rows = [r for r in rows if "f" in r.extras and r.labels.get("sentence_id") is not None]
        if len(frame_rows) < 4:
            voiced = sum("f" in r.extras for r in rows)
            if voiced >= 4 and not frame_rows:
                reason = missing_labels_reason([r for r in rows if "f" in r.extras], ("sentence_id",), "sentence_id", None)
            else:
                reason = f"too few items with voiced frames and a 'sentence_id' label: {len(frame_rows)} (need >= 4)"
            return {"error": reason, "n": len(frame_rows)}
        mats, ys, owner = [], [], []
        for j, r in enumerate(frame_rows):
            f = r.extras["f"]
            indptr = unpack(f["p"]).astype(np.int64)
            m = sparse.csr_matrix((unpack(f["v"]).astype(np.float64), unpack(f["i"]).astype(np.int64), indptr),
                                  shape=(len(indptr) - 1, cfg.frame_buckets))
            mats.append(m)
            ys.append(np.asarray(f["y"], dtype=np.float64))
            owner.append(np.full(len(f["y"]), j))
        X = sparse.vstack(mats).tocsr()
        norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
        X = row_space(sparse.diags(1.0 / np.maximum(norms, 1e-12)) @ X)  # unit-norm frames
        y = np.concatenate(ys)
        owner = np.concatenate(owner)
        if shuffle_rng is not None:  # shuffle whole items' targets, keeping frames together
            perm = shuffle_rng.permutation(len(frame_rows))
            y = np.concatenate([ys[p][np.linspace(0, len(ys[p]) - 1, len(ys[j])).round().astype(int)]
                                for j, p in enumerate(perm)])
        splits = grouped_splits([str(r.labels.get("speaker")) for r in frame_rows],
                                [str(r.labels["sentence_id"]) for r in frame_rows],
                                "speaker+sentence", cfg.repeats, cfg.test_fraction, seed)
        r2s, maes = [], []
        for train_items, test_items in splits:
            tr = np.isin(owner, train_items)
            te = np.isin(owner, test_items)
            if tr.sum() < 2 or te.sum() < 2 or min(len(train_items), len(test_items)) < cfg.min_test_items:
                continue
            model = Ridge(alpha=cfg.alpha).fit(X[tr], y[tr])
            pred = model.predict(X[te])
            r2s.append(float(r2_score(y[te], pred)))
            maes.append(float(np.median(np.abs(pred - y[te]))))
        if len(r2s) * 2 < max(1, len(splits)):
            need = f">= {cfg.min_test_items} train and test items"
            return {"error": too_few_reason(len(frame_rows), len(r2s), len(splits), need), "n": len(frame_rows)}
        return {"r2": r2s, "mae": maes, "n": len(frame_rows), "frames": int(len(y))}

    def summarize(self, rows: list[Row], seed: int) -> dict[str, MetricValue]:
        res = self.evaluate(rows, seed)
        n = len(rows)
        out: dict[str, MetricValue] = {}
        for q in QUESTIONS:
            r = res.get(q)
            if r is None:
                out[f"{q}_acc"] = _none(n, "", True, "no usable rows")
                out[f"{q}_chance"] = _none(n, "", None, "no usable rows")
            elif "error" in r:
                out[f"{q}_acc"] = _none(n, "", True, r["error"])
                out[f"{q}_chance"] = _none(n, "", None, r["error"])
            else:
                out[f"{q}_acc"] = _mv(r["acc"], r["n"], "", True)
                out[f"{q}_chance"] = _mv(r["chance"], r["n"], "", None)
        f0 = res.get("f0")
        if f0 is None or "error" in f0:
            reason = "no usable rows" if f0 is None else f0["error"]
            out["f0_r2"] = _none(n, "", True, reason)
            out["f0_mae_cents"] = _none(n, "cents", False, reason)
        else:
            out["f0_r2"] = _mv(f0["r2"], f0["n"], "", True)
            out["f0_mae_cents"] = _mv(f0["mae"], f0["n"], "cents", False)
        return out

    def corpus_report(self, rows: list[Row], seed: int, out_dir: str) -> dict[str, Any]:
        """Per-question detail (classes, splits used) and the shuffled-label control."""
        cfg = self.config
        report: dict[str, Any] = {"recipe": {
            "features": f"hashed (stream, code) unigrams and bigrams, {cfg.buckets} shared bins each, "
                        f"sqrt relative frequency, unit norm",
            "frames": f"hashed (stream, position, code) counts of cells i-1, i, i+1 (hop max(1/frame_rate, 10 ms)), "
                      f"{cfg.frame_buckets} bins, unit norm; <= {cfg.frames_per_item} voiced cells per item",
            "classifier": f"LogisticRegression(C={cfg.C}), L2",
            "regressor": f"Ridge(alpha={cfg.alpha}) on cents re {F0_REF_HZ:g} Hz",
            "splits": f"{cfg.repeats} random splits, {cfg.test_fraction:.3g} of speakers and of sentences to test",
            "interval": "2.5-97.5 percentiles of the split-level scores",
        }}
        real = self.evaluate(rows, seed)
        control = self.evaluate(rows, seed, shuffle_labels=True)
        for q in QUESTIONS:
            r, c = real.get(q), control.get(q)
            if not r or "error" in r:
                report[q] = {"error": (r or {}).get("error", "no usable rows")}
                continue
            entry = {"n_items": r["n"], "classes": r["classes"], "splits_used": len(r["acc"]),
                     "splits_skipped": r["skipped"]}
            if r["acc"]:
                entry.update(acc=float(np.mean(r["acc"])), acc_interval=interval(r["acc"]),
                             chance=float(np.mean(r["chance"])),
                             balanced_acc=float(np.mean(r["balanced"])),
                             balanced_chance=1.0 / len(r["classes"]))
            if c and c.get("acc"):
                entry["shuffled_labels_acc"] = float(np.mean(c["acc"]))
            report[q] = entry
        f0 = real.get("f0") or {}
        if f0.get("r2"):
            report["f0"] = {"n_items": f0["n"], "frames": f0["frames"], "r2": float(np.mean(f0["r2"])),
                            "median_abs_error_cents": float(np.mean(f0["mae"]))}
            cf0 = control.get("f0") or {}
            if cf0.get("r2"):
                report["f0"]["shuffled_targets_r2"] = float(np.mean(cf0["r2"]))
        return report
