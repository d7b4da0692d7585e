"""Is it still the same voice? Speaker similarity and verification through the codec.

Per item: a speaker encoder embeds the original and the reconstruction; the score is the cosine
similarity of the two embeddings. The embeddings are kept in the row extras, so the corpus
stage can build speaker-verification trials from the stored rows: enrolment on an original
utterance, test on the reconstruction of another utterance, same-speaker ("target") and
different-speaker ("non-target") trials drawn deterministically from the seed. The equal error
rate of those trials says whether the codec keeps speakers apart; the same trials scored on
original against original give the encoder's own EER on the corpus (``eer_original``).

The trial list depends only on the items' speaker labels and the seed, never on the codec, so
every codec is scored on the same trials; it is written to ``<out>/speaker_trials/``.

Encoders live behind :class:`SpeakerEncoder`; the default is resemblyzer (GE2E d-vectors,
256 dims, weights bundled in the wheel). Its preprocessing trims long silences with WebRTC VAD.
An item fails only when the VAD leaves no speech at all in the original or the reconstruction:
the embedding would then be of silence (or of nothing) and the cosine meaningless. Items with
less speech than ``min_speech_s`` (a spoken digit keeps 0.2-0.6 s) are still scored, and marked
``short`` in the row extras; the corpus report counts them and gives their mean similarity
apart, since an embedding of a fraction of a second is noisier than one of a sentence.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from collections import Counter, defaultdict
from typing import Any, ClassVar

import numpy as np

from bench.audio import METRIC_SR, file_hash
from bench.codecs.base import MissingDependency, require
from bench.config import config_to_dict
from bench.tasks.base import Failed, ItemContext, Measurement, MetricSpec, MetricValue, Row, Task, summarize_metric


# -- encoders ---------------------------------------------------------------------------------
class SpeakerEncoder:
    """A speaker embedding model: ``preprocess`` (16 kHz wave -> the speech it keeps) and
    ``embed`` (preprocessed wave -> unit-norm vector)."""

    name: ClassVar[str] = ""

    def provenance(self) -> dict[str, Any]:
        raise NotImplementedError

    def load(self, threads: int | None = None) -> None:
        raise NotImplementedError

    def preprocess(self, wave: np.ndarray) -> np.ndarray:
        return wave

    def embed(self, wave: np.ndarray) -> np.ndarray:
        raise NotImplementedError




def _module_file(module: str, filename: str) -> str | None:
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin:
        return None
    return os.path.join(os.path.dirname(spec.origin), filename)


class ResemblyzerEncoder(SpeakerEncoder):
    """resemblyzer's VoiceEncoder (GE2E, Wan et al., 2018): 3-layer LSTM on 40-band mels,
    1.6 s partials averaged and L2-normalised."""

    name = "resemblyzer"

    def __init__(self, trim_silence: bool = True, threads: int = 1):
        self.trim_silence = trim_silence
        self.threads = max(1, threads)
        self._encoder = None

    def provenance(self) -> dict[str, Any]:
        import importlib.metadata

        weights = _module_file("resemblyzer", "pretrained.pt")
        if weights is None or not os.path.isfile(weights):
            raise MissingDependency(
                "resemblyzer is not installed. Install it with: pip install --no-deps resemblyzer "
                "&& pip install 'bench[speaker]'"
            )
        try:
            version = importlib.metadata.version("resemblyzer")
        except importlib.metadata.PackageNotFoundError:
            version = None
        return {"encoder": self.name, "version": version, "weights": "pretrained.pt",
                "weights_sha256": file_hash(weights), "trim_silence": self.trim_silence}

    def load(self, threads: int | None = None) -> None:
        require("webrtcvad", extra="speaker", package="webrtcvad-wheels")
        require("torch", extra="speaker")
        mod = require("resemblyzer", extra="speaker", package="resemblyzer (pip install --no-deps resemblyzer)")
        self._audio = require("resemblyzer.audio", extra="speaker", package="resemblyzer")
        self._encoder = mod.VoiceEncoder("cpu", verbose=False)

    def preprocess(self, wave: np.ndarray) -> np.ndarray:
        # resemblyzer's own steps, minus its librosa resampling (input is already 16 kHz):
        # volume normalised to -30 dBFS (raise only), then long silences trimmed by WebRTC VAD.
        from resemblyzer import hparams

        wav = np.clip(np.asarray(wave, dtype=np.float32), -1.0, 1.0)
        if not len(wav) or float(np.max(np.abs(wav))) < 1.0 / 32768:
            return wav[:0]  # digital silence: nothing to keep (and no gain to compute)
        wav = self._audio.normalize_volume(wav, hparams.audio_norm_target_dBFS, increase_only=True)
        # after the gain the VAD's int16 conversion must not wrap around
        wav = np.clip(wav, -1.0, 32767 / 32768)
        if self.trim_silence:
            wav = self._audio.trim_long_silences(wav)
        return wav.astype(np.float32)

    def embed(self, wave: np.ndarray) -> np.ndarray:
        import torch

        before = torch.get_num_threads()
        # a small LSTM: one thread is as fast as two on a quiet machine and far faster on a busy one
        torch.set_num_threads(self.threads)
        try:
            return np.asarray(self._encoder.embed_utterance(wave), dtype=np.float64)
        finally:
            torch.set_num_threads(before)


ENCODERS: dict[str, type[SpeakerEncoder]] = {"resemblyzer": ResemblyzerEncoder}


# -- verification -------------------------------------------------------------------------------
def equal_error_rate(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """EER of verification scores (higher = more likely the same speaker); labels 1 = target.

    The ROC is swept over every distinct score; the EER is where the miss rate and the
    false-alarm rate cross, linearly interpolated between the two operating points around the
    crossing. None when there are no target or no non-target trials.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(-scores, kind="mergesort")
    s, lab = scores[order], labels[order]
    last_of_tie = np.r_[s[1:] != s[:-1], True]
    tp = np.cumsum(lab)[last_of_tie]
    fp = np.cumsum(~lab)[last_of_tie]
    fpr = np.r_[0.0, fp / n_neg]
    fnr = np.r_[1.0, 1.0 - tp / n_pos]
    d = fnr - fpr  # from +1 down to -1, non-increasing
    i = int(np.argmax(d <= 0))
    d0, d1 = d[i - 1], d[i]
    if d1 == 0 or d0 == d1:
        return float((fnr[i] + fpr[i]) / 2)
    w = d0 / (d0 - d1)
    return float(fpr[i - 1] + w * (fpr[i] - fpr[i - 1]))


@dataclasses.dataclass(frozen=True)
class Trial:
    enrol: str  # item id of the enrolment utterance (its original audio)
    test: str  # item id of the test utterance (its reconstruction)
    target: bool


def build_trials(speakers: dict[str, str], seed: int, targets: int, impostors: int) -> list[Trial]:
    """Trials from item id -> speaker labels, deterministic given the labels and the seed.

    For each test item: up to ``targets`` other utterances of the same speaker and up to
    ``impostors`` utterances of other speakers (at most one per other speaker while speakers
    last) as enrolments. Items of a speaker with a single utterance still get non-target trials.
    """
    by_spk: dict[str, list[str]] = defaultdict(list)
    for iid in sorted(speakers):
        by_spk[speakers[iid]].append(iid)
    spk_names = sorted(by_spk)
    rng = np.random.default_rng(seed)
    trials: list[Trial] = []
    for test in sorted(speakers):
        spk = speakers[test]
        same = [i for i in by_spk[spk] if i != test]
        if same:
            pick = rng.permutation(len(same))[:targets]
            trials += [Trial(same[j], test, True) for j in sorted(pick)]
        others = [s for s in spk_names if s != spk]
        if not others or impostors <= 0:
            continue
        chosen: list[str] = []
        order = [others[j] for j in rng.permutation(len(others))]
        while len(chosen) < impostors and order:
            progressed = False
            for s in order:
                left = [i for i in by_spk[s] if i not in chosen]
                if left and len(chosen) < impostors:
                    chosen.append(left[int(rng.integers(len(left)))])
                    progressed = True
            if not progressed:
                break
        trials += [Trial(e, test, False) for e in sorted(chosen)]
    return trials


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return float("nan")
    return float(np.dot(a, b) / (na * nb))


# -- the task -----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SpeakerConfig:
    #: Speaker encoder (see ENCODERS).
    encoder: str = "resemblyzer"
    #: Trim long silences (resemblyzer's WebRTC VAD) before embedding.
    trim_silence: bool = True
    #: Less speech than this (seconds, after VAD trimming, in the original or the reconstruction)
    #: and the item is marked ``short`` in its row (still scored); only no speech at all fails.
    min_speech_s: float = 0.5
    #: Same-speaker enrolment utterances per test item in the verification trials.
    targets: int = 5
    #: Different-speaker enrolment utterances per test item.
    impostors: int = 10
    #: Label keys to break the mean similarity down by (in the record's extra).
    groups: tuple[str, ...] = ("speaker", "gender", "accent")
    #: torch threads while embedding.
    threads: int = 1

    def __post_init__(self) -> None:
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {', '.join(ENCODERS)}, got {self.encoder!r}")


class Speaker(Task):
    name = "speaker"
    version = "2"
    description = "speaker similarity (cosine of embeddings) and verification EER on reconstructions"
    requires = frozenset({"reference", "reconstruction", "labels"})
    extra = "speaker"
    Config = SpeakerConfig
    batch_size = 8
    metrics = (
        MetricSpec("similarity", "", True, "cosine of original and reconstruction embeddings"),
        MetricSpec("eer", "%", False, "speaker verification EER: enrol on originals, test on reconstructions"),
        MetricSpec("eer_original", "%", False, "EER of the same trials on original audio (encoder floor)"),
    )

    def __init__(self, config: Any = None, *, name: str | None = None):
        super().__init__(config, name=name)
        self.encoder: SpeakerEncoder = ENCODERS[self.config.encoder](
            trim_silence=self.config.trim_silence, threads=self.config.threads)
        self._provenance: dict[str, Any] | None = None

    def provenance(self) -> dict[str, Any]:
        if self._provenance is None:
            self._provenance = self.encoder.provenance()
        return self._provenance

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version,
                "config": {**config_to_dict(self.config), "resolved": self.provenance()}}

    def _load(self) -> None:
        self.provenance()
        self.encoder.load()

    def measure(self, item: ItemContext) -> Measurement:
        self.load()
        t0, c0 = time.perf_counter(), time.process_time()
        ref = self.encoder.preprocess(item.reference)
        rec = self.encoder.preprocess(item.reconstruction)
        t1 = time.perf_counter()
        min_n = int(self.config.min_speech_s * METRIC_SR)
        extras: dict[str, Any] = {"speech_seconds": {"original": len(ref) / METRIC_SR,
                                                     "reconstruction": len(rec) / METRIC_SR},
                                  "duration": len(item.reference) / METRIC_SR,
                                  "short": bool(min(len(ref), len(rec)) < min_n)}
        reason = None
        if len(ref) == 0:
            reason = "no speech in the original after VAD trimming"
        elif len(rec) == 0:
            reason = "no speech in the reconstruction after VAD trimming"
        if reason:
            return Measurement({"similarity": Failed(reason)}, extras)
        e_ref = self.encoder.embed(ref)
        e_rec = e_ref if np.array_equal(ref, rec) else self.encoder.embed(rec)
        t2, c2 = time.perf_counter(), time.process_time()
        sim = _cos(e_ref, e_rec)
        if not np.isfinite(sim):
            return Measurement({"similarity": Failed("embedding has zero norm")}, extras)
        extras.update(
            embedding_original=[round(float(x), 6) for x in e_ref],
            embedding_reconstruction=[round(float(x), 6) for x in e_rec],
            seconds={"preprocess": t1 - t0, "embed": t2 - t1, "cpu": c2 - c0},
        )
        return Measurement({"similarity": sim}, extras)

    # -- corpus level ---------------------------------------------------------------------------
    def trials(self, rows: list[Row], seed: int) -> list[Trial]:
        speakers = {r.item_id: str(r.labels["speaker"]) for r in rows if r.labels.get("speaker") not in (None, "")}
        return build_trials(speakers, seed, self.config.targets, self.config.impostors)

    def score_trials(self, rows: list[Row], trials: list[Trial]) -> dict[str, Any]:
        """Scores of every trial whose two embeddings exist; the rest are counted as dropped."""
        emb_o: dict[str, np.ndarray] = {}
        emb_r: dict[str, np.ndarray] = {}
        for r in rows:
            if r.failure is None and "embedding_original" in r.extras:
                emb_o[r.item_id] = np.asarray(r.extras["embedding_original"])
                emb_r[r.item_id] = np.asarray(r.extras["embedding_reconstruction"])
        kept, recon, orig = [], [], []
        for k, t in enumerate(trials):
            if t.enrol in emb_o and t.test in emb_r:
                kept.append(k)
                recon.append(_cos(emb_o[t.enrol], emb_r[t.test]))
                orig.append(_cos(emb_o[t.enrol], emb_o[t.test]))
        labels = np.array([trials[k].target for k in kept], dtype=bool)
        tests = [trials[k].test for k in kept]
        return {"kept": kept, "labels": labels, "tests": tests, "recon": np.asarray(recon), "orig": np.asarray(orig),
                "dropped": len(trials) - len(kept)}

    def _eer_metric(self, spec: MetricSpec, scored: dict[str, Any], key: str, seed: int,
                    n_boot: int = 500) -> MetricValue:
        scores, labels, tests = scored[key], scored["labels"], scored["tests"]
        failures = {"trial item not embedded": scored["dropped"]} if scored["dropped"] else {}
        value = equal_error_rate(scores, labels) if len(scores) else None
        lo = hi = None
        if value is not None:
            value *= 100.0
            # bootstrap over test items: a test item's trials stay together
            groups: dict[str, list[int]] = defaultdict(list)
            for k, t in enumerate(tests):
                groups[t].append(k)
            keys = sorted(groups)
            idx_lists = [np.asarray(groups[t]) for t in keys]
            rng = np.random.default_rng(seed)
            boots = []
            for _ in range(n_boot):
                pick = rng.integers(0, len(keys), size=len(keys))
                idx = np.concatenate([idx_lists[p] for p in pick])
                e = equal_error_rate(scores[idx], labels[idx])
                if e is not None:
                    boots.append(100.0 * e)
            if boots:
                lo, hi = float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))
        return MetricValue(value=value, ci_low=lo, ci_high=hi, n=len(scores), n_failed=scored["dropped"],
                           higher_is_better=False, unit=spec.unit, failures=failures)

    def summarize(self, rows: list[Row], seed: int) -> dict[str, MetricValue]:
        specs = {m.name: m for m in self.metrics}
        out = {"similarity": summarize_metric(specs["similarity"], rows, seed)}
        scored = self.score_trials(rows, self.trials(rows, seed))
        out["eer"] = self._eer_metric(specs["eer"], scored, "recon", seed)
        out["eer_original"] = self._eer_metric(specs["eer_original"], scored, "orig", seed)
        return out

    def corpus_report(self, rows: list[Row], seed: int, out_dir: str | None = None) -> dict[str, Any]:
        trials = self.trials(rows, seed)
        scored = self.score_trials(rows, trials)
        report: dict[str, Any] = {"encoder": self.provenance()}
        n_target = sum(t.target for t in trials)
        report["trials"] = {"n": len(trials), "target": n_target, "nontarget": len(trials) - n_target,
                            "scored": len(scored["kept"]), "dropped": scored["dropped"],
                            "speakers": len({r.labels.get("speaker") for r in rows if r.labels.get("speaker")})}
        if out_dir and trials:
            report["trials"].update(save_trials(trials, {r.item_id: r.labels.get("speaker") for r in rows}, out_dir))
        groups: dict[str, Any] = {}
        for key in self.config.groups:
            vals: dict[str, list[float]] = defaultdict(list)
            for r in rows:
                v = r.values.get("similarity") if r.failure is None else None
                if r.labels.get(key) is not None and v is not None and not isinstance(v, Failed):
                    vals[str(r.labels[key])].append(float(v))
            if vals:
                groups[key] = {g: {"n": len(v), "similarity": round(float(np.mean(v)), 5),
                                   "min": round(float(np.min(v)), 5)} for g, v in sorted(vals.items())}
        report["by_group"] = groups
        report["short"] = short_report(rows, self.config.min_speech_s)
        timing = Counter()
        audio_s = 0.0
        for r in rows:
            if r.failure is None and "duration" in r.extras:
                audio_s += r.extras["duration"]
                timing.update(r.extras.get("seconds", {}))
        wall = timing["preprocess"] + timing["embed"]
        report["speed"] = {"audio_seconds": round(audio_s, 3),
                           **{f"{k}_seconds": round(v, 3) for k, v in timing.items()},
                           "rtf_wall": round(wall / audio_s, 5) if audio_s else None,
                           "rtf_cpu": round(timing["cpu"] / audio_s, 5) if audio_s else None}
        return report


def short_report(rows: list[Row], min_speech_s: float) -> dict[str, Any]:
    """How many scored items had less than ``min_speech_s`` of speech, and the mean similarity of
    those and of the others (an embedding of a fraction of a second is noisier)."""
    groups: dict[bool, list[float]] = {True: [], False: []}
    for r in rows:
        v = r.values.get("similarity") if r.failure is None else None
        if v is not None and not isinstance(v, Failed) and "short" in r.extras:
            groups[bool(r.extras["short"])].append(float(v))
    mean = lambda v: round(float(np.mean(v)), 5) if v else None  # noqa: E731
    return {"min_speech_s": min_speech_s, "n_short": len(groups[True]), "n_long": len(groups[False]),
            "similarity_short": mean(groups[True]), "similarity_long": mean(groups[False])}


def save_trials(trials: list[Trial], speakers: dict[str, Any], out_dir: str) -> dict[str, str]:
    """Write the trial list (TSV: enrol, test, target, speakers) under ``out_dir``; atomic, and
    named by its content hash so every codec of a run shares one file."""
    lines = ["enrol_id\ttest_id\ttarget\tenrol_speaker\ttest_speaker"]
    lines += [f"{t.enrol}\t{t.test}\t{int(t.target)}\t{speakers.get(t.enrol)}\t{speakers.get(t.test)}" for t in trials]
    text = "\n".join(lines) + "\n"
    digest = hashlib.sha256(text.encode()).hexdigest()
    folder = os.path.join(out_dir, "speaker_trials")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"trials-{digest[:12]}.tsv")
    if not os.path.isfile(path):
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    return {"file": os.path.relpath(path, out_dir), "sha256": digest}


__all__ = ["ENCODERS", "ResemblyzerEncoder", "Speaker", "SpeakerConfig", "SpeakerEncoder", "Trial",
           "build_trials", "equal_error_rate", "save_trials", "short_report"]
