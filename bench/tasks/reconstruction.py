"""Reconstruction quality: PESQ, STOI, SI-SDR and spectral distances, all at 16 kHz.

Every metric runs on the aligned reconstruction (the runner removes codec delay first). A metric
that cannot be computed on an item is returned as :class:`Failed` with the reason, never as a
floor or ceiling score. The metrics themselves live in :mod:`bench.metrics.signal`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np

from bench.metrics.signal import (  # noqa: F401 - names also imported from here
    MCD_ALPHA, MCD_FFT, MCD_FLOOR_DB, MCD_FRAME, MCD_HOP, MCD_ORDER, MCD_SILENCE_DB, PESQ_MAX_SEGMENT_S,
    SI_SDR_CAP_DB, SILENCE_RMS, Spectra, mel_cepstra, mel_cepstral_distortion, mel_l1, mrstft, pesq_score,
    si_sdr, stoi_pair, stoi_score,
)
from bench.config import ConfigError
from bench.tasks.base import Failed, ItemContext, Measurement, MetricSpec, Task


@dataclasses.dataclass(frozen=True)
class ReconstructionConfig:
    #: the metrics to compute, joined by "+" (``reconstruction:metrics=pesq_wb+stoi+si_sdr``);
    #: empty: all of them. Left out of the recorded config when empty, so the default task key
    #: is the one records had before the option.
    metrics: str = ""


class Reconstruction(Task):
    name = "reconstruction"
    default_dataset = "synth-speech-test"  # the test split: speakers and sentences the rvq codec never saw
    needs_modules = ('pesq', 'pystoi')
    #: 2: mcd is the SPTK mel-cepstral distortion (mcep, alpha 0.42, order 24); it was a distance
    #: of DCT cepstra of an 80-band mel filterbank, 2-3x smaller on the same audio. mel_l1 unchanged.
    version = "2"
    description = "PESQ (wb, nb), STOI, ESTOI, SI-SDR, mel L1, multi-resolution STFT, MCD at 16 kHz"
    requires = frozenset({"reference", "reconstruction"})
    Config = ReconstructionConfig
    metrics = (
        MetricSpec("pesq_wb", "MOS", True, "PESQ wide-band (P.862.2), 1.04-4.64"),
        MetricSpec("pesq_nb", "MOS", True, "PESQ narrow-band (P.862), 1.02-4.55"),
        MetricSpec("stoi", "", True, "short-time objective intelligibility, 0-1"),
        MetricSpec("estoi", "", True, "extended STOI, 0-1"),
        MetricSpec("si_sdr", "dB", True, f"scale-invariant SDR, capped at {SI_SDR_CAP_DB:g} dB"),
        MetricSpec("mel_l1", "log10", False,
                   "L1 distance of log10 (not ln: x2.303 for natural-log papers) magnitude mel spectrograms, "
                   "80 bands, 64 ms / 16 ms"),
        MetricSpec("mrstft", "", False, "multi-resolution STFT distance"),
        MetricSpec("mcd", "dB", False,
                   "mel-cepstral distortion (Kubichek), SPTK mcep c1..c24, alpha 0.42, 25 ms / 10 ms frames, "
                   "spectra floored 80 dB below the reference peak; frames paired as aligned (no DTW), "
                   "frames 40 dB below the reference's loudest left out"),
    )

    def __init__(self, config: Any = None, *, name: str | None = None):
        super().__init__(config, name=name)
        chosen = [m.strip() for m in self.config.metrics.split("+")]
        if self.config.metrics.strip() and not any(chosen):
            raise ConfigError(f"task {self.registered_name}: metrics={self.config.metrics!r} names no metric")
        chosen = [m for m in chosen if m]
        if chosen:
            known = [m.name for m in type(self).metrics]
            unknown = [m for m in chosen if m not in known]
            if unknown:
                raise ConfigError(f"unknown metric(s) {', '.join(unknown)} for task {self.registered_name}: "
                                  f"choose from {', '.join(known)}, joined by '+'")
            self.metrics = tuple(m for m in type(self).metrics if m.name in chosen)

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        if len(self.metrics) == len(type(self).metrics):  # all of them, named or not: the default key
            out["config"] = {}
        else:  # in the task's own order, so the same choice always has the same key
            out["config"] = {"metrics": "+".join(m.name for m in self.metrics)}
        return out

    def _ref_cepstra(self, item: ItemContext) -> Callable[[np.ndarray, float], np.ndarray]:
        """The reference's mel-cepstra for MCD, computed once per item and kept by content
        (bench/tasks/original_cache.py): every other codec of the corpus reuses them, exactly."""
        from bench.tasks import original_cache

        key = f"reconstruction-mcd-ref/1:{MCD_FRAME},{MCD_HOP},{MCD_FFT},{MCD_ORDER},{MCD_ALPHA},{MCD_FLOOR_DB}," \
              f"{MCD_SILENCE_DB}"

        def get(frames: np.ndarray, eps: float) -> np.ndarray:
            hit = original_cache.get(self.cache_dir, item.item_hash, key)
            if hit is not None and hit["cepstra"].shape[0] == len(frames):
                return hit["cepstra"]
            out = mel_cepstra(frames, eps)
            original_cache.put(self.cache_dir, item.item_hash, key, {"cepstra": out})
            return out

        return get

    def measure(self, item: ItemContext) -> Measurement:
        ref, deg = item.reference, item.reconstruction
        sref, sdeg = Spectra(ref), Spectra(deg)
        both: list = []

        def stoi_of(k: int) -> float | Failed:  # STOI and ESTOI share one pass (stoi_pair)
            if not both:
                both.extend(stoi_pair(ref, deg))
            return both[k]

        calls = {
            "pesq_wb": lambda: pesq_score(ref, deg, "wb"),
            "pesq_nb": lambda: pesq_score(ref, deg, "nb"),
            "stoi": lambda: stoi_of(0),
            "estoi": lambda: stoi_of(1),
            "si_sdr": lambda: si_sdr(ref, deg),
            "mel_l1": lambda: mel_l1(sref, sdeg),
            "mrstft": lambda: mrstft(sref, sdeg),
            "mcd": lambda: mel_cepstral_distortion(sref, sdeg, self._ref_cepstra(item)),
        }
        values: dict[str, float | Failed] = {}
        for name in (m.name for m in self.metrics):  # the chosen ones (metrics=), in the task's order
            try:
                values[name] = calls[name]()
            except Exception as exc:  # one metric's library error must not lose the others
                values[name] = Failed(f"{name} error: {type(exc).__name__}: {exc}")
        return Measurement(values)


__all__ = ["MCD_ALPHA", "MCD_FFT", "MCD_FLOOR_DB", "MCD_FRAME", "MCD_HOP", "MCD_ORDER", "MCD_SILENCE_DB",
           "PESQ_MAX_SEGMENT_S", "SILENCE_RMS", "SI_SDR_CAP_DB", "Reconstruction", "Spectra", "mel_cepstra",
           "mel_cepstral_distortion", "mel_l1", "mrstft", "pesq_score", "ReconstructionConfig", "si_sdr", "stoi_pair",
           "stoi_score"]
