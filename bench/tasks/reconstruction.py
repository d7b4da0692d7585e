"""Reconstruction quality: PESQ, STOI, SI-SDR and spectral distances, all at 16 kHz.

Every metric runs on the aligned reconstruction (the runner removes codec delay first). A metric
that cannot be computed on an item is returned as :class:`Failed` with the reason, never as a
floor or ceiling score.
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np

from bench.audio import METRIC_SR
from bench.tasks.base import Failed, ItemContext, Measurement, MetricSpec, Task

#: SI-SDR of a (nearly) exact reconstruction is unbounded; it is reported capped at this value.
SI_SDR_CAP_DB = 100.0
#: Below this RMS (about -90 dBFS) a signal counts as silent.
SILENCE_RMS = 3e-5


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


#: PESQ is specified for short recordings (P.862 recommends 8-30 s); the ``pesq`` library's C
#: code overflows its stack on about 3 minutes and runs for hours on 30. Longer items are cut
#: into equal consecutive segments of at most this length, each scored alone; the item's value
#: is their duration-weighted mean (segments where PESQ finds no utterance are left out).
PESQ_MAX_SEGMENT_S = 30.0


def pesq_score(ref: np.ndarray, deg: np.ndarray, mode: str) -> float | Failed:
    """ITU-T P.862.2 wide-band ('wb') or P.862 narrow-band ('nb') MOS-LQO via ``pesq``; items
    longer than :data:`PESQ_MAX_SEGMENT_S` are scored per segment (see there)."""
    max_len = int(PESQ_MAX_SEGMENT_S * METRIC_SR)
    if len(ref) <= max_len:
        return _pesq_once(ref, deg, mode)
    n_seg = -(-len(ref) // max_len)
    bounds = np.linspace(0, len(ref), n_seg + 1).astype(int)
    scores, weights, reasons = [], [], []
    for a, b in zip(bounds[:-1], bounds[1:]):
        v = _pesq_once(ref[a:b], deg[a:b], mode)
        if isinstance(v, Failed):
            reasons.append(v.reason)
        else:
            scores.append(v)
            weights.append(b - a)
    if not scores:
        return Failed(f"PESQ failed on all {n_seg} segments ({reasons[0]})")
    return float(np.average(scores, weights=weights))


def _pesq_once(ref: np.ndarray, deg: np.ndarray, mode: str) -> float | Failed:
    from pesq import pesq as _pesq

    if len(ref) < 0.25 * METRIC_SR:
        return Failed("too short for PESQ (< 0.25 s)")
    if _rms(ref) < SILENCE_RMS:
        return Failed("reference is silent")
    if _rms(deg) < SILENCE_RMS:
        return Failed("reconstruction is silent")
    try:
        value = float(_pesq(METRIC_SR, ref.astype(np.float64), deg.astype(np.float64), mode))
    except Exception as exc:  # pesq raises BufferTooShortError, NoUtterancesError, ...
        name = type(exc).__name__
        reason = {"NoUtterancesError": "PESQ found no utterance (speech too faint or short)",
                  "BufferTooShortError": "too short for PESQ"}.get(name, f"PESQ error: {name}: {exc}")
        return Failed(reason)
    if not math.isfinite(value):
        return Failed("PESQ returned a non-finite value")
    return value


def stoi_score(ref: np.ndarray, deg: np.ndarray, extended: bool) -> float | Failed:
    """STOI (Taal et al., 2011) or extended STOI (Jensen & Taal, 2016) via ``pystoi``."""
    from pystoi import stoi

    if len(ref) < 0.4 * METRIC_SR:  # 30 frames of 25.6 ms at 50% overlap after pystoi's VAD
        return Failed("too short for STOI (fewer than 30 non-silent frames)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = float(stoi(ref.astype(np.float64), deg.astype(np.float64), METRIC_SR, extended=extended))
    # pystoi warns and returns 1e-5 when fewer than 30 non-silent frames remain (< ~1 s)
    for w in caught:
        if "frames" in str(w.message).lower() or value <= 1e-5:
            return Failed("too short for STOI (fewer than 30 non-silent frames)")
    if not math.isfinite(value):
        return Failed("STOI returned a non-finite value")
    return value


def si_sdr(ref: np.ndarray, deg: np.ndarray) -> float | Failed:
    """Scale-invariant SDR in dB (Le Roux et al., 2019), zero-mean, capped at SI_SDR_CAP_DB."""
    s = ref.astype(np.float64) - ref.mean()
    e = deg.astype(np.float64) - deg.mean()
    energy = float(np.dot(s, s))
    if energy <= len(s) * SILENCE_RMS**2:
        return Failed("reference is silent")
    if _rms(e) < SILENCE_RMS:
        return Failed("reconstruction is silent")
    target = (np.dot(e, s) / energy) * s
    noise = e - target
    noise_energy = float(np.dot(noise, noise))
    if noise_energy <= 0:
        return SI_SDR_CAP_DB
    return float(min(SI_SDR_CAP_DB, 10 * np.log10(np.dot(target, target) / noise_energy)))


class Spectra:
    """Magnitude STFTs of one 16 kHz signal (librosa, Hann window, centred, hop n_fft / 4),
    computed once per FFT size and shared by the spectral metrics of an item."""

    def __init__(self, x: np.ndarray):
        self.x = np.asarray(x, dtype=np.float32)
        self._mag: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.x)

    def mag(self, n_fft: int) -> np.ndarray:
        if n_fft not in self._mag:
            import librosa

            self._mag[n_fft] = np.abs(librosa.stft(self.x, n_fft=n_fft, hop_length=n_fft // 4))
        return self._mag[n_fft]

    def mel(self, power: float = 1.0) -> np.ndarray:
        """80-band mel spectrogram from the 1024-point STFT (64 ms window, 16 ms hop)."""
        return _mel_basis() @ (self.mag(1024) ** power)


@functools.lru_cache(maxsize=1)
def _mel_basis() -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=METRIC_SR, n_fft=1024, n_mels=80).astype(np.float32)


def _spectra(x: np.ndarray | Spectra) -> Spectra:
    return x if isinstance(x, Spectra) else Spectra(x)


def mel_l1(ref: np.ndarray | Spectra, deg: np.ndarray | Spectra) -> float | Failed:
    """Mean absolute difference of log10 magnitude mel spectrograms (80 bands, 64 ms / 16 ms)."""
    if len(ref) < 1024:
        return Failed("too short for mel distance (< 1024 samples)")
    a = np.log10(np.maximum(_spectra(ref).mel(), 1e-5))
    b = np.log10(np.maximum(_spectra(deg).mel(), 1e-5))
    return float(np.mean(np.abs(a - b)))


def mrstft(ref: np.ndarray | Spectra, deg: np.ndarray | Spectra) -> float | Failed:
    """Multi-resolution STFT distance: spectral convergence + log-magnitude L1, averaged over
    FFT sizes 512/1024/2048 with 75% overlap (Yamamoto et al., 2020); log magnitudes are floored
    at 80 dB below the reference's peak."""
    if len(ref) < 2048:
        return Failed("too short for multi-resolution STFT (< 2048 samples)")
    ref, deg = _spectra(ref), _spectra(deg)
    total = 0.0
    sizes = (512, 1024, 2048)
    for n_fft in sizes:
        a, b = ref.mag(n_fft), deg.mag(n_fft)
        norm = np.linalg.norm(a)
        if norm == 0:
            return Failed("reference is silent")
        sc = np.linalg.norm(a - b) / norm
        # log magnitudes floored 80 dB below the reference's peak: an empty band (8 kHz source,
        # band-limited codec) must not turn quantization noise into a large log distance
        floor = float(a.max()) * 1e-4
        mag = np.mean(np.abs(np.log(np.maximum(a, floor)) - np.log(np.maximum(b, floor))))
        total += sc + mag
    return float(total / len(sizes))


def mel_cepstral_distortion(ref: np.ndarray | Spectra, deg: np.ndarray | Spectra, n_mfcc: int = 25) -> float | Failed:
    """MCD in dB over cepstral coefficients 1..24, on frames where the reference is not silent.

    Cepstra are the cosine transform of the log amplitude mel spectrum (80 bands, 64 ms / 16 ms,
    floored at 80 dB below the reference's peak), scaled as a real cepstrum.
    The frames are already time-aligned, so no DTW. MCD = (10 / ln 10) sqrt(2 sum_d (c_d - c'_d)^2)
    with c in natural-log amplitude units (Kubichek, 1993).
    """
    import scipy.fft

    if len(ref) < 1024:
        return Failed("too short for MCD (< 1024 samples)")
    ref, deg = _spectra(ref), _spectra(deg)
    p_ref, p_deg = ref.mel(2.0), deg.mel(2.0)
    # Floor both at 80 dB below the reference's peak: a band-limited codec leaves the upper mel
    # bands empty, and an absolute floor would turn that into hundreds of dB of "distortion".
    floor = max(float(p_ref.max()) * 1e-8, 1e-20)
    # Cepstrum of ln|X| = 0.5 ln(power) on the mel axis: with L(w) = c0 + 2 sum_n c_n cos(n w),
    # c_n = (1/M) sum_m L_m cos(pi n (m + 1/2) / M), i.e. scipy's unnormalised DCT-II / (2M).
    bands = p_ref.shape[0]
    a = scipy.fft.dct(0.5 * np.log(np.maximum(p_ref, floor)), type=2, axis=0)[:n_mfcc] / (2 * bands)
    b = scipy.fft.dct(0.5 * np.log(np.maximum(p_deg, floor)), type=2, axis=0)[:n_mfcc] / (2 * bands)
    frame_rms = np.sqrt(np.sum(ref.mag(1024) ** 2, axis=0)) / 1024
    frames = min(a.shape[1], b.shape[1])
    voiced = frame_rms[:frames] > max(frame_rms.max() * 10 ** (-40 / 20), 1e-9)
    if not voiced.any():
        return Failed("reference is silent")
    diff = (a[1:, :frames] - b[1:, :frames])[:, voiced]
    per_frame = (10 / math.log(10)) * np.sqrt(2 * np.sum(diff**2, axis=0))
    return float(np.mean(per_frame))


class Reconstruction(Task):
    name = "reconstruction"
    version = "1"
    description = "PESQ (wb, nb), STOI, ESTOI, SI-SDR, mel L1, multi-resolution STFT, MCD at 16 kHz"
    requires = frozenset({"reference", "reconstruction"})
    metrics = (
        MetricSpec("pesq_wb", "MOS", True, "PESQ wide-band (P.862.2), 1.04-4.64"),
        MetricSpec("pesq_nb", "MOS", True, "PESQ narrow-band (P.862), 1.02-4.55"),
        MetricSpec("stoi", "", True, "short-time objective intelligibility, 0-1"),
        MetricSpec("estoi", "", True, "extended STOI, 0-1"),
        MetricSpec("si_sdr", "dB", True, f"scale-invariant SDR, capped at {SI_SDR_CAP_DB:g} dB"),
        MetricSpec("mel_l1", "", False, "L1 distance of log10 mel spectrograms"),
        MetricSpec("mrstft", "", False, "multi-resolution STFT distance"),
        MetricSpec("mcd", "dB", False, "mel-cepstral distortion, c1..c24"),
    )

    def measure(self, item: ItemContext) -> Measurement:
        ref, deg = item.reference, item.reconstruction
        sref, sdeg = Spectra(ref), Spectra(deg)
        calls = {
            "pesq_wb": lambda: pesq_score(ref, deg, "wb"),
            "pesq_nb": lambda: pesq_score(ref, deg, "nb"),
            "stoi": lambda: stoi_score(ref, deg, extended=False),
            "estoi": lambda: stoi_score(ref, deg, extended=True),
            "si_sdr": lambda: si_sdr(ref, deg),
            "mel_l1": lambda: mel_l1(sref, sdeg),
            "mrstft": lambda: mrstft(sref, sdeg),
            "mcd": lambda: mel_cepstral_distortion(sref, sdeg),
        }
        values: dict[str, float | Failed] = {}
        for name, call in calls.items():
            try:
                values[name] = call()
            except Exception as exc:  # one metric's library error must not lose the others
                values[name] = Failed(f"{name} error: {type(exc).__name__}: {exc}")
        return Measurement(values)
