"""Speaker metrics: embedding models, cosine similarity, verification trials and their EER.

:class:`SpeakerEncoder` wraps a speaker embedding model (the one stateful part: a model loaded
once per worker); :func:`cosine`, :func:`equal_error_rate` and :func:`build_trials` are pure.
"""

from __future__ import annotations

import dataclasses
import os
from collections import defaultdict
from typing import Any, ClassVar

import numpy as np

from bench.audio import file_hash
from bench.codecs.base import MissingDependency, require


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


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two embeddings; NaN when one has zero norm."""
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return float("nan")
    return float(np.dot(a, b) / (na * nb))


__all__ = ["ENCODERS", "ResemblyzerEncoder", "SpeakerEncoder", "Trial", "build_trials", "cosine", "equal_error_rate"]
