"""Audio type, loading (soundfile), resampling (soxr) and alignment."""

from __future__ import annotations

import dataclasses
import hashlib
import os

import numpy as np

#: Every metric runs at this rate.
METRIC_SR = 16_000


class AudioError(ValueError):
    """Audio that cannot be used: missing, unreadable, empty, non-finite."""


@dataclasses.dataclass(frozen=True)
class Audio:
    """Mono float32 samples in [-1, 1] (not enforced) at ``sample_rate`` Hz."""

    wave: np.ndarray
    sample_rate: int
    notes: tuple[str, ...] = ()  # what loading changed: "stereo downmixed", "resampled"...

    @property
    def duration(self) -> float:
        return len(self.wave) / float(self.sample_rate)


def load_audio(path: str | os.PathLike) -> Audio:
    """Read a file as mono float32; raise :class:`AudioError` with a clear reason if unusable."""
    import soundfile as sf

    path = os.fspath(path)
    if not os.path.exists(path):
        raise AudioError(f"file not found: {path}")
    if os.path.getsize(path) == 0:
        raise AudioError("empty file (0 bytes)")
    try:
        data, sr = sf.read(path, dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError / RuntimeError / TypeError
        raise AudioError(f"unreadable or corrupt audio file: {exc}") from None
    notes = []
    if data.shape[1] > 1:
        notes.append(f"{data.shape[1]} channels downmixed to mono")
    wave = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    return Audio(check_wave(wave), int(sr), tuple(notes))


def check_wave(wave: np.ndarray, what: str = "audio") -> np.ndarray:
    """Return ``wave`` as contiguous float32 1-D, or raise AudioError if empty or non-finite."""
    wave = np.ascontiguousarray(np.asarray(wave, dtype=np.float32).reshape(-1))
    if wave.size == 0:
        raise AudioError(f"{what} is empty (0 samples)")
    bad = ~np.isfinite(wave)
    if bad.any():
        raise AudioError(f"{what} contains {int(bad.sum())} NaN/Inf samples")
    return wave


def resample(wave: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Band-limited resampling with soxr (high quality); a no-op when the rates match."""
    if sr_in == sr_out:
        return np.asarray(wave, dtype=np.float32)
    import soxr

    return soxr.resample(np.asarray(wave, dtype=np.float32), sr_in, sr_out, quality="HQ").astype(
        np.float32
    )


def fit_length(wave: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad ``wave`` to exactly ``n`` samples."""
    if len(wave) >= n:
        return wave[:n]
    return np.concatenate([wave, np.zeros(n - len(wave), dtype=wave.dtype)])


def find_lag(reference: np.ndarray, estimate: np.ndarray, max_lag: int) -> int:
    """Delay of ``estimate`` against ``reference`` in samples, within ``[-max_lag, max_lag]``.

    Positive means the estimate lags (MP3 decoders add ~1100 samples at 16 kHz). The peak of the
    FFT cross-correlation is searched only inside the bound, so silence or noise cannot pull the
    alignment far away.
    """
    n = len(reference)
    if n == 0 or len(estimate) == 0 or max_lag <= 0:
        return 0
    est = fit_length(estimate, n + max_lag)
    size = 1 << int(np.ceil(np.log2(len(est) + n)))
    spec = np.fft.rfft(est.astype(np.float64), size) * np.conj(np.fft.rfft(reference.astype(np.float64), size))
    corr = np.fft.irfft(spec, size)
    lags = np.concatenate([np.arange(0, max_lag + 1), np.arange(-max_lag, 0)])
    values = np.concatenate([corr[: max_lag + 1], corr[size - max_lag :]])
    if not np.any(values):
        return 0
    return int(lags[int(np.argmax(values))])


def align(reference: np.ndarray, estimate: np.ndarray, max_lag: int) -> tuple[np.ndarray, int]:
    """Shift ``estimate`` by its measured lag and fit it to the reference length."""
    lag = find_lag(reference, estimate, max_lag)
    if lag > 0:
        shifted = estimate[lag:]
    elif lag < 0:
        shifted = np.concatenate([np.zeros(-lag, dtype=estimate.dtype), estimate])
    else:
        shifted = estimate
    return fit_length(shifted, len(reference)), lag


def content_hash(data: bytes | np.ndarray) -> str:
    """SHA-256 (hex) of raw bytes or of an array's dtype, shape and bytes."""
    h = hashlib.sha256()
    if isinstance(data, np.ndarray):
        h.update(f"{data.dtype.str}{data.shape}".encode())
        h.update(np.ascontiguousarray(data).tobytes())
    else:
        h.update(data)
    return h.hexdigest()


_FILE_HASHES: dict[tuple[str, int, int], str] = {}


def file_hash(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of a file's bytes, remembered per process for an unchanged (path, size, mtime)."""
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
    if key not in _FILE_HASHES:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        _FILE_HASHES[key] = h.hexdigest()
    return _FILE_HASHES[key]
