"""ABX on minimal pairs: is the accent, or the pitch class, still there in the tokens and in the
decoded audio? Model-free; chance is 0.5 (docs/abx.md).

Per item, ``measure`` stores two frame sequences in the row's extras (typed arrays of the store):

* **tokens**, pooled to a common grid of hop ``h = max(1 / frame_rate, 10 ms)`` (the token frame
  rate is measured as ``T`` over the duration; sample-level codecs at 16,000 tokens/s get 10-ms
  cells, a 50 Hz codec 20-ms cells): each cell is the bag of the tokens that fall in it, every
  (stream, code) pair hashed into ``token_bins`` shared bins (as the probe task hashes, so 2^32
  float32 bit patterns, 256 bytes and 1,024 RVQ codes are read alike); stored as counts (CSR);
  frames are compared by cosine distance of the count vectors;
* **audio** of the reconstruction at 10 ms: MFCC 1-12 (librosa, 25-ms window, 40 mel bands; c0,
  the level, left out) and the F0 in semitones re 55 Hz (Praat, interpolated across unvoiced
  frames; 0 throughout when nothing is voiced) times ``f0_weight``; frames are compared by
  Euclidean distance. The F0 channel is there because MFCCs are built to ignore pitch: with
  MFCCs alone the pitch ABX of the original audio is 0.57 (same-gender X), with it 1.0.

``summarize`` forms the triples of :func:`bench.metrics.abx.form_triples` over the measured
rows, computes DTW distances (each pair once) and the four accuracies. Accent triples: X from
any other speaker; pitch triples: X from the other speaker *of the same gender* (pitch class is
relative to a voice: a low female voice sits near a high male one, so across genders the
question has no answer). The value is the mean over words of each word's mean triple score;
the interval is a percentile bootstrap over words (``bootstrap_ci``, the run's seed), since
triples of one word share items. Deterministic: no randomness but the seeded bootstrap.

Changing the features, distances or triples moves the numbers: bump ``Abx.version``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from bench.audio import METRIC_SR
from bench.metrics.abx import PairDistances, form_triples, per_group_means, score_triples
from bench.metrics.stats import bootstrap_ci
from bench.tasks.base import Failed, ItemContext, Measurement, MetricSpec, MetricValue, Row, Task

CHANCE = 0.5
F0_REF_HZ = 55.0
#: metric -> (target factor, modality, X of the same gender as A and B)
QUESTIONS: dict[str, tuple[str, str, bool]] = {
    "accent_abx_tokens": ("accent", "tokens", False),
    "accent_abx_audio": ("accent", "audio", False),
    "pitch_abx_tokens": ("pitch_class", "tokens", True),
    "pitch_abx_audio": ("pitch_class", "audio", True),
}


@dataclasses.dataclass(frozen=True)
class AbxConfig:
    token_bins: int = 4096  # shared hash bins of (stream, code) per token cell
    min_hop_s: float = 0.01  # token cells are max(1 / frame_rate, this) long
    n_mfcc: int = 13  # MFCC 1..n_mfcc-1 are kept (c0 dropped)
    f0_weight: float = 4.0  # MFCC units per semitone of F0 in the audio frames
    f0_floor: float = 50.0  # Hz, Praat
    f0_ceiling: float = 600.0


# -- per-item features ------------------------------------------------------------------------
def token_cells(tokens: np.ndarray, duration: float, bins: int, min_hop: float) -> dict[str, Any] | Failed:
    """Hashed (stream, code) counts per cell of hop ``max(1 / frame_rate, min_hop)``, as CSR
    arrays ``p`` (row pointers), ``i`` (bins), ``v`` (counts), plus the hop in seconds."""
    from bench.tasks.probe import _stream_salts, hash_codes

    K, T = tokens.shape
    if T == 0 or duration <= 0:
        return Failed("no tokens")
    frame_rate = T / duration
    hop = max(1.0 / frame_rate, min_hop)
    cell = np.floor(((np.arange(T) + 0.5) / frame_rate) / hop).astype(np.int64)
    n_cells = int(cell[-1]) + 1
    if n_cells < 2:
        return Failed("too short for ABX (fewer than 2 token cells)")
    keys = hash_codes(tokens, _stream_salts(K, 20), bins)  # [K, T]
    flat = (np.broadcast_to(cell, (K, T)) * bins + keys).ravel()
    u, c = np.unique(flat, return_counts=True)
    rows = u // bins
    indptr = np.searchsorted(rows, np.arange(n_cells + 1)).astype(np.uint32)
    return {"p": np.ascontiguousarray(indptr), "i": (u % bins).astype(np.uint16),
            "v": np.minimum(c, 65535).astype(np.uint16), "hop": hop}


def audio_frames(wave: np.ndarray, cfg: AbxConfig) -> np.ndarray | Failed:
    """``[T, n_mfcc]`` float32 at 10 ms: MFCC 1..n_mfcc-1 and ``f0_weight`` x F0 semitones."""
    import librosa

    from bench.metrics.f0 import praat_f0

    wave = np.asarray(wave, dtype=np.float32)
    if len(wave) < 400:
        return Failed("too short for ABX (< 25 ms)")
    mfcc = librosa.feature.mfcc(y=wave, sr=METRIC_SR, n_mfcc=cfg.n_mfcc, n_fft=400, hop_length=160,
                                n_mels=40)[1:].T  # [T, n_mfcc - 1]
    centers = np.arange(len(mfcc)) * 0.01  # librosa frames are centred on n * hop
    times, f0 = praat_f0(wave, cfg.f0_floor, cfg.f0_ceiling, 0.01)
    voiced = f0 > 0
    if voiced.any():
        st = np.interp(centers, times[voiced], 12.0 * np.log2(f0[voiced] / F0_REF_HZ))
    else:
        st = np.zeros(len(centers))
    return np.hstack([mfcc, cfg.f0_weight * st[:, None]]).astype(np.float32)


def _unit_rows(cells: dict[str, Any], bins: int):
    from scipy import sparse

    p = np.asarray(cells["p"], dtype=np.int64)
    m = sparse.csr_matrix((np.asarray(cells["v"], dtype=np.float64), np.asarray(cells["i"], dtype=np.int64), p),
                          shape=(len(p) - 1, bins))
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    return sparse.diags(1.0 / np.maximum(norms, 1e-12)) @ m


# -- the task ---------------------------------------------------------------------------------
def _specs() -> tuple[MetricSpec, ...]:
    text = {
        "accent_abx_tokens": "accent ABX (en-us vs en-gb, X from another speaker) on DTW over pooled one-hot tokens",
        "accent_abx_audio": "accent ABX (en-us vs en-gb, X from another speaker) on DTW over MFCC+F0 of the decoded audio",
        "pitch_abx_tokens": "pitch-class ABX (low vs high, X from another speaker of the same gender) on pooled tokens",
        "pitch_abx_audio": "pitch-class ABX (low vs high, X from another speaker of the same gender) on decoded audio",
    }
    return tuple(MetricSpec(m, "", True, f"{d}; chance 0.5") for m, d in text.items()) + (
        MetricSpec("abx_chance", "", None, "chance level of every ABX score (0.5)"),)


class Abx(Task):
    name = "abx"
    version = "1"
    description = ("model-free ABX on minimal pairs: accent and pitch class, on the tokens and on the "
                   "decoded audio (chance 0.5)")
    requires = frozenset({"reference", "reconstruction", "tokens", "labels"})
    extra = "probe"  # Praat (praat-parselmouth)
    default_dataset = "minimal-pairs"  # its triples need the minimal pairs' word labels
    needs_modules = ("parselmouth", "librosa", "scipy")
    Config = AbxConfig
    metrics = _specs()

    def __init__(self, config: Any = None, *, name: str | None = None):
        super().__init__(config, name=name)
        self._memo: dict[tuple, dict[str, Any]] = {}

    def _load(self) -> None:
        from bench.codecs.base import require

        require("parselmouth", "probe", "praat-parselmouth")

    def measure(self, item: ItemContext) -> Measurement:
        cfg = self.config
        tokens = np.asarray(item.tokens, dtype=np.int64)
        values: dict[str, float | Failed] = {}
        extras: dict[str, Any] = {}
        if tokens.ndim != 2:
            values["token_frames"] = Failed(f"tokens must be [K, T], got shape {tokens.shape}")
        else:
            cells = token_cells(tokens, len(item.reference) / METRIC_SR, cfg.token_bins, cfg.min_hop_s)
            if isinstance(cells, Failed):
                values["token_frames"] = cells
            else:
                values["token_frames"] = float(len(cells["p"]) - 1)
                extras["tok"] = cells
        frames = audio_frames(item.reconstruction, cfg)
        if isinstance(frames, Failed):
            values["audio_frames"] = frames
        else:
            values["audio_frames"] = float(len(frames))
            extras["aud"] = np.ascontiguousarray(frames)
        return Measurement(values, extras)

    # -- corpus level ----------------------------------------------------------------------
    def evaluate(self, rows: list[Row], seed: int) -> dict[str, Any]:
        """{metric: {"scores": per-word means, "n_triples", "n_items", ...} or {"error"}}; memoized."""
        key = (id(rows), len(rows), seed)
        if key not in self._memo:
            self._memo = {key: self._evaluate(rows)}
        return self._memo[key]

    def _evaluate(self, rows: list[Row]) -> dict[str, Any]:
        from scipy.spatial.distance import cdist

        cfg = self.config
        rows = sorted(rows, key=lambda r: r.item_id)
        out: dict[str, Any] = {}
        for modality, field in (("tokens", "tok"), ("audio", "aud")):
            usable = [r for r in rows if r.failure is None and field in r.extras]
            labels = [r.labels for r in usable]
            if modality == "tokens":
                mats: dict[int, Any] = {}

                def unit(i: int, usable=usable, mats=mats):
                    if i not in mats:
                        mats[i] = _unit_rows(usable[i].extras["tok"], cfg.token_bins)
                    return mats[i]

                def cost(i: int, j: int, unit=unit) -> np.ndarray:
                    sim = (unit(i) @ unit(j).T).toarray()
                    return np.clip(1.0 - sim, 0.0, 2.0)
            else:
                feats = [np.asarray(r.extras["aud"], dtype=np.float64) for r in usable]

                def cost(i: int, j: int, feats=feats) -> np.ndarray:
                    return cdist(feats[i], feats[j], "euclidean")

            dist = PairDistances(cost)
            for metric, (target, mod, same_gender) in QUESTIONS.items():
                if mod != modality:
                    continue
                triples = form_triples(labels, target, same_gender_x=same_gender)
                if not triples:
                    out[metric] = {"error": _no_triples_reason(labels, target, same_gender), "n_items": len(usable)}
                    continue
                scores = score_triples(triples, dist)
                words = per_group_means(triples, scores)
                used = {i for t in triples for i in (t.a, t.b, t.x)}
                out[metric] = {"words": words, "n_triples": len(triples), "n_items": len(used),
                               "triple_mean": float(scores.mean())}
        return out

    def summarize(self, rows: list[Row], seed: int) -> dict[str, MetricValue]:
        res = self.evaluate(rows, seed)
        n = len(rows)
        failures: dict[str, dict[str, int]] = {"tokens": {}, "audio": {}}
        for r in rows:
            for modality, field, value in (("tokens", "tok", "token_frames"), ("audio", "aud", "audio_frames")):
                if r.failure is not None:
                    reason = r.failure
                elif field in r.extras:
                    continue
                else:
                    v = r.values.get(value)
                    reason = v.reason if isinstance(v, Failed) else "not measured"
                failures[modality][reason] = failures[modality].get(reason, 0) + 1
        out: dict[str, MetricValue] = {}
        for metric, (_, modality, _) in QUESTIONS.items():
            r = res.get(metric, {"error": "no usable rows"})
            fails = dict(sorted(failures[modality].items()))
            if "error" in r:
                fails = {**fails, r["error"]: n - sum(fails.values())} if n > sum(fails.values()) else fails
                out[metric] = MetricValue(None, None, None, 0, n, True, "", fails or {r["error"]: n})
                continue
            per_word = np.asarray(list(r["words"].values()))
            lo, hi = bootstrap_ci(per_word, seed)
            out[metric] = MetricValue(float(per_word.mean()), lo, hi, r["n_items"], sum(fails.values()), True, "",
                                      fails)
        measured = [m for m in QUESTIONS if out[m].value is not None]
        out["abx_chance"] = MetricValue(CHANCE, CHANCE, CHANCE, max((out[m].n for m in measured), default=0), 0,
                                        None, "")
        return out

    def corpus_report(self, rows: list[Row], seed: int, out_dir: str | None = None) -> dict[str, Any]:
        """Triple counts, per-word scores and the design, for the record's ``extra``."""
        cfg = self.config
        res = self.evaluate(rows, seed)
        report: dict[str, Any] = {
            "chance": CHANCE,
            "design": {
                "accent": "A, B: same word, speaker and pitch class, accents differ; X: A's accent, same word, "
                          "another speaker, either pitch class",
                "pitch_class": "A, B: same word, speaker and accent, pitch classes differ; X: A's pitch class, "
                               "same word, the other speaker of the same gender, either accent",
                "score": "1 if DTW(X, A) < DTW(X, B), 0.5 on a tie, else 0; value: mean over words of the "
                         "per-word mean; interval: bootstrap over words",
            },
            "features": {
                "tokens": f"per cell of max(1/frame_rate, {cfg.min_hop_s:g} s): counts of (stream, code) hashed "
                          f"into {cfg.token_bins} bins; cosine frame distance",
                "audio": f"10-ms frames: MFCC 1-{cfg.n_mfcc - 1} and {cfg.f0_weight:g} x F0 semitones re "
                         f"{F0_REF_HZ:g} Hz; Euclidean frame distance",
                "dtw": "librosa.sequence.dtw, steps (1,1),(1,0),(0,1); cost / path length",
            },
        }
        for metric in QUESTIONS:
            r = res.get(metric, {"error": "no usable rows"})
            report[metric] = ({"error": r["error"]} if "error" in r else
                              {"n_triples": r["n_triples"], "n_items": r["n_items"], "triple_mean": r["triple_mean"],
                               "per_word": {w: round(s, 4) for w, s in r["words"].items()}})
        return report


def _no_triples_reason(labels: list[dict[str, Any]], target: str, same_gender: bool) -> str:
    need = ["word", "speaker", "accent", "pitch_class"] + (["gender"] if same_gender else [])
    absent = [k for k in need if not any(lab.get(k) is not None for lab in labels)]
    if not labels:
        return "no measured items"
    if absent:
        return "no ABX triples: items lack the labels " + ", ".join(repr(k) for k in absent)
    return (f"no ABX triples for {target}: no word is said by two speakers"
            + (" of one gender" if same_gender else "") + " in both classes")
