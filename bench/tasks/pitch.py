"""Pitch and accent preservation in the decoded audio.

Per item, Praat's autocorrelation F0 tracker (Boersma, 1993; via ``praat-parselmouth``) runs on
the original and on the aligned reconstruction with the same settings:

* ``f0_rmse_cents``: RMS of ``1200 log2(F0_rec / F0_ref)`` over frames voiced in both;
* ``f0_rmse_fine``: the same RMS over the frames voiced in both that are within 50% (ratio
  between 1/1.5 and 1.5, i.e. within 702 cents either way), so that a few octave jumps (1,200
  cents each) do not dominate it;
* ``f0_gross_rate``: the fraction of frames voiced in both outside that 50% band, the frames
  ``f0_rmse_fine`` leaves out (octave errors in either direction);
* ``gpe``: gross pitch error in its usual form, the fraction of frames voiced in both with
  ``|F0_rec / F0_ref - 1| > 20%`` (a finer threshold than ``f0_gross_rate``);
* ``vde``: voicing decision error, the fraction of all frames whose voiced/unvoiced decision
  differs (Nakatani et al., 2008);
* ``f0_corr``: Pearson correlation of log F0 over frames voiced in both.

Per item it also stores small feature vectors of both signals (F0 statistics for pitch class;
MFCC statistics plus F0 statistics for accent). At corpus level, a linear classifier is trained
on features of the **original** audio of the train split and applied to the test split's
originals and reconstructions: ``*_acc_orig`` is the ceiling the recipe reaches on clean audio,
``*_acc_recon`` the accuracy on the codec's output, ``*_kept`` the fraction of test items whose
predicted class is the same for both, and ``*_chance`` the majority-class rate of the test
split. A reconstruction with no voiced frame cannot be classified and counts as an error.
Intervals of these are 95% percentile bootstrap intervals over test items. A classifier trained
or tested on too few items means nothing (on a 10-item subset: accuracy 0.38 against a chance of
0.94), so when a class of the test split has fewer than ``min_train_per_class`` train items, or
the test split has fewer than ``min_test_items`` items, its metrics are failed with that reason.

The F0 tracker's floor and ceiling are options recorded with the task config; ``describe``
adds the Praat and parselmouth versions and the tracker's other (default) settings.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from bench.audio import METRIC_SR
from bench.codecs.base import require
from bench.config import config_to_dict
from bench.metrics.f0 import f0_errors, praat_f0, tracker_provenance, voicing_decision_error
from bench.metrics.stats import bootstrap_ci
from bench.tasks.base import Failed, ItemContext, Measurement, MetricSpec, MetricValue, Row, Task, summarize_metric
from bench.tasks.probe import require_backends

#: Metrics measured per item (means with bootstrap intervals at corpus level).
ITEM_METRICS = ("f0_rmse_cents", "f0_rmse_fine", "f0_gross_rate", "gpe", "vde", "f0_corr")
#: Label key of each classified attribute, and which stored feature groups its classifier uses.
ATTRIBUTES = {"pitch": ("pitch_class", ("f0",)), "accent": ("accent", ("f0", "mfcc"))}


@dataclasses.dataclass(frozen=True)
class PitchConfig:
    #: Hz; Praat's window is 3 periods of the floor (60 ms). Not Praat's usual 75 Hz: the built-in
    #: corpus's low-pitch male voices have median F0 of 70-83 Hz and 5th percentiles of 55-63 Hz;
    #: 11% of its voiced frames (floor 50) lie under 75 Hz, and a 75 Hz floor makes 85% of those
    #: unvoiced and 9% octave errors. Measured on all 240 items, floors 40 / 50 / 75 Hz:
    #: codec2-1200 f0_rmse_fine 33 / 37 / 43 cents, vde .083 / .080 / .091; mp3-16k f0_rmse_cents
    #: 14.0 / 9.3 / 9.2 (at 40 Hz octave errors come in: f0_gross_rate 9x that of 50 Hz); pitch
    #: class accuracy on originals .89 / .88 / .86. 50 Hz is the floor with neither problem.
    f0_floor: float = 50.0
    f0_ceiling: float = 600.0  # Hz
    hop: float = 0.01  # s
    gross_error: float = 0.2  # relative deviation counted as a gross pitch error (gpe)
    #: frames off by more than this (ratio above 1 + fine_limit or below 1 / (1 + fine_limit))
    #: are left out of f0_rmse_fine and counted in f0_gross_rate
    fine_limit: float = 0.5
    min_voiced_frames: int = 5  # fewer voiced frames in the original: the item fails
    n_mfcc: int = 20
    C: float = 1.0  # inverse L2 strength of the logistic regressions
    #: a classifier is scored only if each class of the test split has this many train items...
    min_train_per_class: int = 5
    #: ...and the test split has this many items; otherwise its metrics fail with the reason
    min_test_items: int = 8


def too_few(y_train: np.ndarray, y_test: np.ndarray, min_train_per_class: int, min_test_items: int) -> str | None:
    """Why a classifier trained on ``y_train`` and tested on ``y_test`` would mean nothing, or None."""
    train_counts = dict(zip(*np.unique(y_train, return_counts=True)))
    thin = sorted(c for c in set(y_test.tolist()) if train_counts.get(c, 0) < min_train_per_class)
    if len(train_counts) < 2 or thin or len(y_test) < min_test_items:
        detail = f"; test classes with fewer train items: {', '.join(map(str, thin))}" if thin else ""
        return (f"too few items: {len(y_train)} train, {len(y_test)} test, {len(train_counts)} train classes "
                f"(need >= 2 classes, >= {min_train_per_class} train items per test class and "
                f">= {min_test_items} test items{detail})")
    return None


def f0_stats(f0: np.ndarray) -> list[float] | None:
    """log2 F0 median, 10th and 90th percentiles, mean, std, and the voiced fraction."""
    v = f0[f0 > 0]
    if len(v) == 0:
        return None
    lg = np.log2(v)
    return [float(np.median(lg)), float(np.quantile(lg, 0.1)), float(np.quantile(lg, 0.9)),
            float(lg.mean()), float(lg.std()), float(len(v) / max(1, len(f0)))]


def mfcc_stats(wave: np.ndarray, n_mfcc: int) -> list[float] | None:
    """Mean and std of MFCCs (c0 excluded) and std of their deltas over active frames."""
    import librosa

    x = np.asarray(wave, dtype=np.float32)
    if len(x) < 1024:
        return None
    m = librosa.feature.mfcc(y=x, sr=METRIC_SR, n_mfcc=n_mfcc + 1, n_fft=512, hop_length=160, n_mels=40)
    rms = librosa.feature.rms(y=x, frame_length=512, hop_length=160)[0]
    n = min(m.shape[1], len(rms))
    active = rms[:n] > max(float(rms.max()) * 10 ** (-30 / 20), 1e-5)
    if active.sum() < 3:
        return None
    c = m[1:, :n][:, active]
    d = librosa.feature.delta(m[1:, :n], width=3)[:, active] if n >= 3 else np.zeros_like(c)
    return [float(v) for v in np.concatenate([c.mean(axis=1), c.std(axis=1), d.std(axis=1)])]


def _round(values: list[float] | None) -> list[float] | None:
    return None if values is None else [float(f"{v:.5g}") for v in values]


class Pitch(Task):
    name = "pitch"
    default_dataset = "synth-speech"  # the whole corpus: its classifiers train on one split and test on the other
    needs_modules = ('parselmouth', 'sklearn')
    version = "2"
    description = ("F0 RMSE (cents; all frames and without >50% errors), gross pitch and voicing errors, "
                   "F0 correlation; pitch class and accent kept in reconstructions")
    requires = frozenset({"reference", "reconstruction", "labels"})
    extra = "probe"
    Config = PitchConfig
    metrics = (
        MetricSpec("f0_rmse_cents", "cents", False, "RMS F0 deviation on frames voiced in both"),
        MetricSpec("f0_rmse_fine", "cents", False,
                   "RMS F0 deviation on frames voiced in both and within 50% (ratio 1/1.5..1.5, 702 cents)"),
        MetricSpec("f0_gross_rate", "", False,
                   "fraction of frames voiced in both more than 50% off either way (left out of f0_rmse_fine)"),
        MetricSpec("gpe", "", False, "gross pitch error: fraction of frames voiced in both with |ratio - 1| > 20%"),
        MetricSpec("vde", "", False, "voicing decision error: fraction of frames whose voicing differs"),
        MetricSpec("f0_corr", "", True, "Pearson correlation of log F0 on frames voiced in both"),
        MetricSpec("pitch_acc_orig", "", True, "pitch-class accuracy on test originals (train: originals)"),
        MetricSpec("pitch_acc_recon", "", True, "pitch-class accuracy on test reconstructions"),
        MetricSpec("pitch_kept", "", True, "fraction of test items with the same predicted pitch class"),
        MetricSpec("pitch_chance", "", None, "majority-class rate of the test split, pitch class"),
        MetricSpec("accent_acc_orig", "", True, "accent accuracy on test originals (train: originals)"),
        MetricSpec("accent_acc_recon", "", True, "accent accuracy on test reconstructions"),
        MetricSpec("accent_kept", "", True, "fraction of test items with the same predicted accent"),
        MetricSpec("accent_chance", "", None, "majority-class rate of the test split, accent"),
    )

    def _load(self) -> None:
        require_backends()

    def describe(self) -> dict[str, Any]:
        cfg = self.config
        return {"name": self.name, "version": self.version,
                "config": {**config_to_dict(cfg),
                           "resolved": tracker_provenance(cfg.f0_floor, cfg.f0_ceiling, cfg.hop)}}

    def measure(self, item: ItemContext) -> Measurement:
        cfg = self.config
        ref = np.asarray(item.reference, dtype=np.float64)
        rec = np.asarray(item.reconstruction, dtype=np.float64)
        min_len = 3.0 / cfg.f0_floor + 2 * cfg.hop  # one Praat analysis window and a frame
        if len(ref) < min_len * METRIC_SR:
            reason = Failed(f"too short for F0 tracking (< {min_len:.2f} s)")
            return Measurement({m: reason for m in ITEM_METRICS})
        f_ref, mfcc_ref = self._original(item, ref)
        _, f_rec = praat_f0(rec, cfg.f0_floor, cfg.f0_ceiling, cfg.hop)
        n = min(len(f_ref), len(f_rec))
        f_ref, f_rec = f_ref[:n], f_rec[:n]
        values: dict[str, float | Failed] = {}
        extras: dict[str, Any] = {
            "ref": {"f0": _round(f0_stats(f_ref)), "mfcc": _round(mfcc_ref)},
            "rec": {"f0": _round(f0_stats(f_rec)), "mfcc": _round(mfcc_stats(rec, cfg.n_mfcc))},
        }
        if (f_ref > 0).sum() < cfg.min_voiced_frames:
            reason = Failed(f"original has fewer than {cfg.min_voiced_frames} voiced frames")
            return Measurement({m: reason for m in ITEM_METRICS}, extras)
        values["vde"] = voicing_decision_error(f_ref, f_rec)
        values.update(f0_errors(f_ref, f_rec, cfg.gross_error, cfg.fine_limit))
        return Measurement(values, extras)

    def _original(self, item: ItemContext, ref: np.ndarray) -> tuple[np.ndarray, list[float] | None]:
        """The original's F0 track and MFCC statistics: computed once per item and kept by content
        (see bench/tasks/original_cache.py), so that every other codec of the corpus reuses them."""
        import json

        from bench.tasks import original_cache

        cfg = self.config
        key = self.__dict__.get("_original_key")
        if key is None:
            key = self._original_key = "pitch-original/1:" + json.dumps(
                {"f0": [cfg.f0_floor, cfg.f0_ceiling, cfg.hop], "n_mfcc": cfg.n_mfcc,
                 "tracker": tracker_provenance(cfg.f0_floor, cfg.f0_ceiling, cfg.hop)}, sort_keys=True)
        hit = original_cache.get(self.cache_dir, item.item_hash, key)
        if hit is not None:
            return hit["f0"], (hit["mfcc"].tolist() if hit["mfcc"].size else None)
        _, f_ref = praat_f0(ref, cfg.f0_floor, cfg.f0_ceiling, cfg.hop)
        mfcc = mfcc_stats(ref, cfg.n_mfcc)
        original_cache.put(self.cache_dir, item.item_hash, key,
                           {"f0": f_ref, "mfcc": np.asarray(mfcc if mfcc is not None else [], dtype=np.float64)})
        return f_ref, mfcc

    # -- corpus level -------------------------------------------------------------------------
    def classify(self, rows: list[Row], seed: int) -> dict[str, Any]:
        """Train on originals of the train split, test on originals and reconstructions."""
        from threadpoolctl import threadpool_limits

        splits = {r.labels.get("split") for r in rows}
        if {"train", "test"} <= splits:
            # imported only when there is a split to fit (a corpus without one, such as
            # synth-speech-test, never pays scikit-learn's import), and before the thread limit,
            # which covers only the libraries loaded when it is set
            require("sklearn", "probe", "scikit-learn")
            import sklearn.linear_model  # noqa: F401

        with threadpool_limits(1):
            return self._classify(rows)

    def _classify(self, rows: list[Row]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for attr, (key, groups) in ATTRIBUTES.items():
            def feats(row: Row, side: str) -> np.ndarray | None:
                parts = [row.extras.get(side, {}).get(g) for g in groups]
                return None if any(p is None for p in parts) else np.concatenate(parts)

            usable = [r for r in rows if r.failure is None and r.labels.get(key) is not None
                      and feats(r, "ref") is not None]
            train = [r for r in usable if r.labels.get("split") == "train"]
            test = [r for r in usable if r.labels.get("split") == "test"]
            if not usable:
                out[attr] = {"error": f"no items with '{key}' labels and features"}
                continue
            if not train or not test:
                out[attr] = {"error": "no train/test split labels ('split' attribute)"}
                continue
            y_train = np.asarray([str(r.labels[key]) for r in train])
            y_test = np.asarray([str(r.labels[key]) for r in test])
            reason = too_few(y_train, y_test, self.config.min_train_per_class, self.config.min_test_items)
            if reason:
                out[attr] = {"error": reason}
                continue
            from sklearn.linear_model import LogisticRegression
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import StandardScaler

            model = make_pipeline(StandardScaler(), LogisticRegression(C=self.config.C, max_iter=5000))
            model.fit(np.stack([feats(r, "ref") for r in train]), y_train)
            pred_ref = model.predict(np.stack([feats(r, "ref") for r in test]))
            rec_feats = [feats(r, "rec") for r in test]
            decided = np.array([f is not None for f in rec_feats])
            pred_rec = np.full(len(test), None, dtype=object)
            if decided.any():
                pred_rec[decided] = model.predict(np.stack([f for f in rec_feats if f is not None]))
            classes, counts = np.unique(y_test, return_counts=True)
            out[attr] = {
                "orig": (pred_ref == y_test).astype(float),
                "recon": (pred_rec == y_test).astype(float),
                "kept": (pred_rec == pred_ref).astype(float),
                "chance": float(counts.max() / counts.sum()),
                "n_train": len(train), "n_test": len(test), "undecided": int((~decided).sum()),
                "y": y_test, "pred_ref": pred_ref, "pred_rec": pred_rec,
            }
        return out

    def summarize(self, rows: list[Row], seed: int) -> dict[str, MetricValue]:
        out = {spec.name: summarize_metric(spec, rows, seed) for spec in self.metrics if spec.name in ITEM_METRICS}
        res = self.classify(rows, seed)
        n = len(rows)
        direction = {spec.name: spec.higher_is_better for spec in self.metrics}
        for attr in ATTRIBUTES:
            r = res[attr]
            for suffix in ("acc_orig", "acc_recon", "kept", "chance"):
                name = f"{attr}_{suffix}"
                if "error" in r:
                    out[name] = MetricValue(None, None, None, 0, n, direction[name], "", {r["error"]: n})
                elif suffix == "chance":
                    c = r["chance"]
                    out[name] = MetricValue(c, c, c, r["n_test"], 0, direction[name], "")
                else:
                    vals = r[{"acc_orig": "orig", "acc_recon": "recon", "kept": "kept"}[suffix]]
                    lo, hi = bootstrap_ci(vals, seed)
                    fails = {"reconstruction has no voiced frame": r["undecided"]} if r["undecided"] and suffix != "acc_orig" else {}
                    out[name] = MetricValue(float(vals.mean()), lo, hi, len(vals), 0, True, "", fails)
        return out

    def corpus_report(self, rows: list[Row], seed: int, out_dir: str) -> dict[str, Any]:
        """Per-class accuracy on originals and reconstructions, and the confusion of predictions."""
        res = self.classify(rows, seed)
        report: dict[str, Any] = {}
        for attr, r in res.items():
            if "error" in r:
                report[attr] = {"error": r["error"]}
                continue
            per_class = {}
            for c in sorted(set(r["y"].tolist())):
                m = r["y"] == c
                per_class[c] = {"n": int(m.sum()), "acc_orig": float(r["orig"][m].mean()),
                                "acc_recon": float(r["recon"][m].mean())}
            report[attr] = {"n_train": r["n_train"], "n_test": r["n_test"], "chance": r["chance"],
                            "undecided_reconstructions": r["undecided"], "per_class": per_class,
                            "classifier": f"StandardScaler + LogisticRegression(C={self.config.C})",
                            "features": "+".join(ATTRIBUTES[attr][1])}
        return report
