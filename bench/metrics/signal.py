"""Signal quality of a reconstruction against its reference, both mono float at 16 kHz.

PESQ (wide- and narrow-band; long items scored per segment), STOI and extended STOI, SI-SDR,
the log-mel L1 distance, the multi-resolution STFT distance and the SPTK mel-cepstral
distortion. Pure functions: two aligned arrays in (or :class:`Spectra` of them, so that spectral
metrics of one item share their STFTs), a float or :class:`~bench.types.Failed` with the
reason out, never a floor or ceiling score.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Callable

import numpy as np

from bench.audio import METRIC_SR
from bench.types import Failed

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


def stoi_pair(ref: np.ndarray, deg: np.ndarray) -> tuple[float | Failed, float | Failed]:
    """(STOI, extended STOI) in one pass: the resampling to 10 kHz, silent-frame removal, STFT
    and one-third-octave bands they share are computed once, with pystoi's own functions and
    constants, then each measure's last step as in ``pystoi.stoi`` (values identical to two
    :func:`stoi_score` calls; tests/test_metrics.py checks it)."""
    import importlib

    from pystoi import utils

    _mod = importlib.import_module("pystoi.stoi")  # the module (the package exports its function)

    short = Failed("too short for STOI (fewer than 30 non-silent frames)")
    if len(ref) < 0.4 * METRIC_SR:
        return short, short
    x, y = ref.astype(np.float64), deg.astype(np.float64)
    if x.shape != y.shape:
        raise ValueError(f"x and y should have the same length, found {x.shape} and {y.shape}")
    if METRIC_SR != _mod.FS:
        x = utils.resample_oct(x, _mod.FS, METRIC_SR)
        y = utils.resample_oct(y, _mod.FS, METRIC_SR)
    x, y = utils.remove_silent_frames(x, y, _mod.DYN_RANGE, _mod.N_FRAME, int(_mod.N_FRAME / 2))
    x_spec = utils.stft(x, _mod.N_FRAME, _mod.NFFT, overlap=2).transpose()
    y_spec = utils.stft(y, _mod.N_FRAME, _mod.NFFT, overlap=2).transpose()
    n = _mod.N
    if x_spec.shape[-1] < n:  # pystoi warns and returns 1e-5 here
        return short, short
    x_tob = np.sqrt(np.matmul(_mod.OBM, np.square(np.abs(x_spec))))
    y_tob = np.sqrt(np.matmul(_mod.OBM, np.square(np.abs(y_spec))))
    x_seg = np.array([x_tob[:, m - n:m] for m in range(n, x_tob.shape[1] + 1)])
    y_seg = np.array([y_tob[:, m - n:m] for m in range(n, x_tob.shape[1] + 1)])

    x_n, y_n = utils.row_col_normalize(x_seg), utils.row_col_normalize(y_seg)
    extended = np.sum(x_n * y_n / n) / x_n.shape[0]

    norm = np.linalg.norm(x_seg, axis=2, keepdims=True) / (np.linalg.norm(y_seg, axis=2, keepdims=True) + utils.EPS)
    y_primes = np.minimum(y_seg * norm, x_seg * (1 + 10 ** (-_mod.BETA / 20)))
    y_primes = y_primes - np.mean(y_primes, axis=2, keepdims=True)
    xs = x_seg - np.mean(x_seg, axis=2, keepdims=True)
    y_primes /= (np.linalg.norm(y_primes, axis=2, keepdims=True) + utils.EPS)
    xs /= (np.linalg.norm(xs, axis=2, keepdims=True) + utils.EPS)
    standard = np.sum(y_primes * xs) / (xs.shape[0] * xs.shape[1])

    def checked(v: float) -> float | Failed:
        v = float(v)
        if v <= 1e-5:
            return short
        return v if math.isfinite(v) else Failed("STOI returned a non-finite value")

    return checked(standard), checked(extended)


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
    """Mean absolute difference of log10 magnitude mel spectrograms (80 bands, 64 ms / 16 ms,
    floored at 1e-5). Base-10 logs, while most codec papers (e.g. DAC, EnCodec) use natural
    logs: multiply by ln 10 = 2.303 to compare with a natural-log mel L1 of the same setup."""
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


#: SPTK-style mel-cepstral analysis behind ``mcd``: Blackman window of 25 ms, 10 ms hop, 512-point
#: FFT, order 24 (c1..c24 compared, c0 = energy excluded), all-pass constant 0.42 (a mel-like
#: warping at 16 kHz).
MCD_FRAME, MCD_HOP, MCD_FFT, MCD_ORDER, MCD_ALPHA = 400, 160, 512, 24, 0.42
#: Added to every periodogram bin of both signals before the log (SPTK's ``mcep -e``), relative
#: to the reference's largest bin: 80 dB below it. SPTK's own eps is absolute; with a tiny one
#: (1e-8) the empty upper band of a band-limited codec dominates (mp3-16k 17.4 dB instead of
#: 10.1 dB on six corpus items), as with the floors of mrstft.
MCD_FLOOR_DB = 80.0
#: Frames whose reference energy is this far (dB) below the reference's loudest frame are silence.
MCD_SILENCE_DB = 40.0


def _import_pysptk():
    """pysptk, importable also under setuptools >= 82, which removed the ``pkg_resources``
    module pysptk 1.0.1 imports at start-up (only to locate its example audio file)."""
    import importlib
    import importlib.resources
    import sys
    import types

    from bench.codecs.base import MissingDependency

    hint = "pysptk is not installed. Install it with: pip install 'bench[probe]'"
    try:
        return importlib.import_module("pysptk")
    except ModuleNotFoundError as exc:
        if exc.name != "pkg_resources":
            raise MissingDependency(f"{hint} ({exc})") from exc
    for name in [k for k in sys.modules if k == "pysptk" or k.startswith("pysptk.")]:
        del sys.modules[name]  # the half-imported package
    stub = types.ModuleType("pkg_resources")
    stub.resource_filename = lambda package, resource: str(importlib.resources.files(package) / resource)
    sys.modules["pkg_resources"] = stub
    try:
        return importlib.import_module("pysptk")
    finally:
        if sys.modules.get("pkg_resources") is stub:
            del sys.modules["pkg_resources"]  # nobody else should find the stub


def _frames(x: np.ndarray, n_frames: int) -> np.ndarray:
    """``[n_frames, MCD_FRAME]`` frames starting every MCD_HOP samples (zero-padded at the end)."""
    need = (n_frames - 1) * MCD_HOP + MCD_FRAME
    x = np.pad(np.asarray(x, dtype=np.float64), (0, max(0, need - len(x))))
    idx = np.arange(MCD_FRAME)[None, :] + MCD_HOP * np.arange(n_frames)[:, None]
    return x[idx]


def mel_cepstra(frames: np.ndarray, eps: float) -> np.ndarray:
    """SPTK mel-cepstral analysis (``mcep``, Tokuda et al., 1994) of each frame, Blackman-windowed,
    ``eps`` added to its periodogram: ``[n, MCD_ORDER + 1]`` coefficients of the natural-log
    amplitude envelope on the warped frequency axis."""
    sptk = _import_pysptk()
    win = np.blackman(MCD_FRAME)
    out = np.empty((len(frames), MCD_ORDER + 1))
    buf = np.zeros(MCD_FFT)
    for i, f in enumerate(frames):
        buf[:MCD_FRAME] = f * win
        out[i] = sptk.mcep(buf, order=MCD_ORDER, alpha=MCD_ALPHA, etype=1, eps=eps)
    return out


def mel_cepstral_distortion(ref: np.ndarray | Spectra, deg: np.ndarray | Spectra,
                            ref_cepstra: Callable[[np.ndarray, float], np.ndarray] | None = None) -> float | Failed:
    """Mel-cepstral distortion in dB (Kubichek, 1993) on SPTK mel-cepstra, non-silent frames.

    Per frame ``(10 / ln 10) sqrt(2 sum_{d=1..24} (c_d - c'_d)^2)`` with ``c`` from
    :func:`mel_cepstra` (alpha 0.42, order 24, 25 ms Blackman frames every 10 ms; c0 excluded),
    averaged over the frames whose reference energy is within 40 dB of its loudest frame; both
    periodograms are floored 80 dB below the reference's largest bin (see MCD_FLOOR_DB). The
    reconstruction is already time-aligned to the reference, so frames are paired one to one
    (no DTW, unlike papers comparing TTS output with a different recording).

    ``ref_cepstra(frames, eps)``, if given, returns :func:`mel_cepstra` of all the reference's
    kept frames (a caller that scores several reconstructions of one reference computes them
    once: the value is the same, frame by frame).
    """
    x = ref.x if isinstance(ref, Spectra) else np.asarray(ref, dtype=np.float32)
    y = deg.x if isinstance(deg, Spectra) else np.asarray(deg, dtype=np.float32)
    if len(x) < MCD_FRAME:
        return Failed(f"too short for MCD (< {MCD_FRAME} samples)")
    n = 1 + (len(x) - MCD_FRAME) // MCD_HOP
    fx = _frames(x, n)
    energy = np.sum((fx * np.blackman(MCD_FRAME)) ** 2, axis=1)
    if float(energy.max()) <= MCD_FRAME * SILENCE_RMS**2:
        return Failed("reference is silent")
    keep = energy > energy.max() * 10 ** (-MCD_SILENCE_DB / 10)
    fx, fy = fx[keep], _frames(y, n)[keep]
    # identical frames have identical cepstra: analyse only the frames that differ
    differ = np.any(fx != fy, axis=1)
    per_frame = np.zeros(len(fx))
    if differ.any():
        peak = float(np.max(np.abs(np.fft.rfft(fx * np.blackman(MCD_FRAME), MCD_FFT)) ** 2))
        eps = max(peak * 10 ** (-MCD_FLOOR_DB / 10), 1e-20)
        a = mel_cepstra(fx[differ], eps) if ref_cepstra is None else ref_cepstra(fx, eps)[differ]
        b = mel_cepstra(fy[differ], eps)
        per_frame[differ] = (10 / math.log(10)) * np.sqrt(2 * np.sum((a[:, 1:] - b[:, 1:]) ** 2, axis=1))
    if not np.all(np.isfinite(per_frame)):
        return Failed("mel-cepstral analysis returned non-finite coefficients")
    return float(np.mean(per_frame))


__all__ = ["MCD_ALPHA", "MCD_FFT", "MCD_FLOOR_DB", "MCD_FRAME", "MCD_HOP", "MCD_ORDER", "MCD_SILENCE_DB",
           "PESQ_MAX_SEGMENT_S", "SILENCE_RMS", "SI_SDR_CAP_DB", "Spectra", "mel_cepstra",
           "mel_cepstral_distortion", "mel_l1", "mrstft", "pesq_score", "si_sdr", "stoi_pair", "stoi_score"]
