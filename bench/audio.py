"""Audio type, loading (soundfile), resampling (soxr) and alignment."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import time
from typing import Any, Iterator

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
    name = os.path.basename(path)  # reasons end up in records: no local folders in them
    if not os.path.exists(path):
        raise AudioError(f"file not found: {name}")
    if os.path.getsize(path) == 0:
        raise AudioError("empty file (0 bytes)")
    try:
        data, sr = sf.read(path, dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError / RuntimeError / TypeError
        raise AudioError(f"unreadable or corrupt audio file: {str(exc).replace(path, name)}") from None
    notes = []
    declared = _declared_wav_frames(path)
    if declared is not None and declared > len(data):
        notes.append(f"truncated file: the header declares {declared / sr:.3f} s, the file holds "
                     f"{len(data) / sr:.3f} s (measured on what is there)")
    if data.shape[1] > 1:
        notes.append(f"{data.shape[1]} channels downmixed to mono")
    wave = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    wave = check_wave(wave)
    peak = float(np.max(np.abs(wave)))
    if peak > 1.0:
        notes.append(f"beyond full scale: peak {peak:.2f} ({int(np.sum(np.abs(wave) > 1.0))} samples "
                     "outside [-1, 1]; codecs that expect [-1, 1] clip them)")
    return Audio(wave, int(sr), tuple(notes))


def _declared_wav_frames(path: str) -> int | None:
    """Frames a RIFF/WAVE header declares for its data chunk (None if not a plain WAV file).

    libsndfile quietly reads what is there when a file was cut short; comparing with the header
    lets a truncation be noted instead of scored silently."""
    import struct

    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            block_align = None
            while True:
                chunk = fh.read(8)
                if len(chunk) < 8:
                    return None
                cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if cid == b"fmt ":
                    fmt = fh.read(size)
                    if len(fmt) < 14:
                        return None
                    block_align = struct.unpack("<H", fmt[12:14])[0]
                    if size % 2:
                        fh.read(1)
                elif cid == b"data":
                    if not block_align or size in (0, 0xFFFFFFFF):
                        return None
                    return size // block_align
                else:
                    fh.seek(size + (size % 2), 1)
    except OSError:
        return None


#: Shortest input bench measures: below it no metric (PESQ needs 0.25 s, STOI 0.4 s, Whisper
#: hallucinates on near-empty clips) and no bitrate means anything.
MIN_INPUT_S = 0.1
#: An input whose RMS after removing its mean is below this (-80 dBFS) carries no signal: DC or
#: digital silence. Every metric would read its own edge case (PESQ 4.64 on DC, STOI 0 on zeros).
MIN_SIGNAL_RMS = 1e-4


#: Longest input measured by default (seconds): it bounds a worker's memory (the spectral
#: metrics hold a few STFTs of the item: about 0.7 GB for 3 minutes) and time.
MAX_INPUT_S = 300.0


def check_duration(duration: float, min_seconds: float = MIN_INPUT_S,
                   max_seconds: float | None = MAX_INPUT_S) -> None:
    """The gate's length rule, also applied to a file's header before it is read."""
    if duration < min_seconds:
        raise AudioError(f"too short: {duration * 1000:.1f} ms of audio (at least {min_seconds:g} s)")
    if max_seconds is not None and duration > max_seconds:
        raise AudioError(f"too long: {duration:.0f} s of audio (at most {max_seconds:g} s; cut it into "
                         "shorter items, or raise --max-duration if the machine has the memory)")


def check_signal(wave: np.ndarray, sample_rate: int, min_seconds: float = MIN_INPUT_S,
                 max_seconds: float | None = MAX_INPUT_S) -> None:
    """The validity gate every input passes before any codec or metric sees it."""
    check_duration(len(wave) / float(sample_rate), min_seconds, max_seconds)
    ac = np.asarray(wave, dtype=np.float64)
    rms = float(np.sqrt(np.mean((ac - ac.mean()) ** 2)))
    if rms < MIN_SIGNAL_RMS:
        level = "-inf" if rms == 0 else f"{20 * np.log10(rms):.1f}"
        raise AudioError(f"no signal: RMS after removing DC is {level} dBFS (silence, DC only, or "
                         "channels that cancel)")


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


#: (hash, whether this process read the bytes) by (path, size, mtime, ctime, inode)
_FILE_HASHES: dict[tuple[str, int, int, int, int], tuple[str, bool]] = {}
#: entries kept on disk between runs (inside :func:`file_hash_cache`), by (path, size, mtime, ctime, inode)
_DISK_HASHES: dict[str, Any] = {"path": None, "entries": {}, "new": 0}
#: a file changed less than this long ago is hashed but not kept on disk: a rewrite inside the
#: file system's timestamp granularity could leave size and times as they were ("racy" entries)
_SETTLE_NS = 2_000_000_000


def file_identity(path: str | os.PathLike, st: os.stat_result) -> tuple[str, int, int, int, int]:
    """(real path, size, mtime, ctime, inode) of a file: unchanged while its bytes are, short of a
    rewrite within the file system's timestamp granularity (see ``_SETTLE_NS``)."""
    return (os.path.realpath(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def file_hash(path: str | os.PathLike, disk: bool = True) -> str:
    """SHA-256 (hex) of a file's bytes, remembered per process and, inside :func:`file_hash_cache`
    (unless ``disk`` is false: then the bytes are read once in this process), on disk, for an
    unchanged (path, size, mtime, ctime, inode)."""
    st = os.stat(path)
    key = file_identity(path, st)
    known, was_read = _FILE_HASHES.get(key, (None, False))
    if known is not None and (disk or was_read):
        return known
    use_disk = disk and _DISK_HASHES["path"] is not None
    disk_key = "|".join(map(str, key))
    known = _DISK_HASHES["entries"].get(disk_key) if use_disk else None
    if known is not None:
        _FILE_HASHES[key] = (known, False)
        return known
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    known = h.hexdigest()
    _FILE_HASHES[key] = (known, True)
    if _DISK_HASHES["path"] is not None and time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > _SETTLE_NS:
        _DISK_HASHES["entries"][disk_key] = known
        _DISK_HASHES["new"] += 1
    return known


def _stored_hashes(path: str) -> dict[str, str]:
    """The well-formed entries of a hash cache file; none when it is missing or unreadable."""
    import json

    try:
        with open(path, encoding="utf-8") as fh:
            entries = json.load(fh)
    except (OSError, ValueError):
        return {}
    if not isinstance(entries, dict):
        return {}
    return {k: v for k, v in entries.items()
            if isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v)}


@contextlib.contextmanager
def file_hash_cache(path: str | os.PathLike) -> Iterator[None]:
    """Within this block :func:`file_hash` also keeps what it computes in the JSON file at
    ``path`` (read at the start, written at the end when something was added), so that a run
    done again does not read the model weights and corpus files again to hash them. A file
    whose size, modification or change time or inode changed is hashed again, and so is one
    changed less than 2 s before it was hashed; an unreadable cache file or entry is ignored.
    Integrity checks against a list of checksums pass ``disk=False`` and read the file."""
    import json

    path = os.fspath(path)
    saved = dict(_DISK_HASHES)
    _DISK_HASHES.update(path=path, entries=_stored_hashes(path), new=0)
    try:
        yield
    finally:
        if _DISK_HASHES["new"]:
            try:
                os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
                # another run's entries, written meanwhile, are kept too
                entries = {**_stored_hashes(path), **_DISK_HASHES["entries"]}
                tmp = f"{path}.{os.getpid()}.tmp"
                with open(tmp, "w", encoding="utf-8") as fh:
                    json.dump(entries, fh)
                os.replace(tmp, path)  # never torn; two runs at once: at worst a hash is computed again
            except OSError:
                pass  # a cache: the next run hashes again
        _DISK_HASHES.update(saved)
