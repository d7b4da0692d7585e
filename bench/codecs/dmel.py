"""dMel-style tokenizer: log-mel band energies quantized to a few uniform levels, one stream per band.

The idea (discretized mel filterbanks as speech tokens, "dMel", Bai et al., 2024) needs no
training: the tokens are a DSP feature, and the inverse is signal processing, not a vocoder.

Encode
    1. STFT (Hann window ``n_fft``, hop ``hop``, centred frames; ``T = 1 + n // hop``) of the
       16 kHz input; power spectrum ``|X|^2``.
    2. ``n_mels`` Slaney-normalised mel filters (``librosa.filters.mel``, 0 Hz to Nyquist) ->
       mel power per band, in dB (``10 log10``, floored at -200 dB).
    3. Per band, the same fixed range ``[floor_db, ceil_db]`` (not fitted to any data): level 0
       means "at or below ``floor_db``" (silence), levels ``1 .. levels-1`` split the range into
       equal cells; a value above ``ceil_db`` takes the top level.

    Tokens ``[K = n_mels, T]``, vocabulary ``levels`` per stream.

Decode
    1. Level ``l >= 1`` -> the centre of its cell in dB; level 0 -> zero power.
    2. Mel power -> linear power spectrum by the filterbank's pseudo-inverse, clipped at zero
       (the least-squares inverse; the clip is what makes it non-negative), then magnitude.
    3. Griffin-Lim (``gl_iters`` iterations, librosa's fast variant with momentum 0.99), from a
       phase drawn with a fixed seed: the same tokens always give the same samples.

Bitrate: ``sample_rate / hop * n_mels * log2(levels)`` (every band every frame); at the default
hop of 256 samples (16 ms, 62.5 frames/s), 80 bands x 2 bits = 10 kbps, x 4 bits = 20 kbps.
Griffin-Lim keeps no waveform phase, so sample-level scores (SI-SDR) and cross-correlation
alignment mean little: ``max_align_lag = 0`` (the STFT is centred, so there is no delay).
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from bench.codecs.base import Codec, CodecError, EncodeResult


@dataclasses.dataclass(frozen=True)
class DMelConfig:
    sample_rate: int = 16_000
    n_mels: int = 80
    #: quantization levels per band (level 0 = silent); 4 -> 2 bits per band per frame
    levels: int = 16
    n_fft: int = 1024
    hop: int = 256
    #: fixed range of every band's mel power in dB (Slaney-normalised filters, full scale = 1.0)
    floor_db: float = -60.0
    ceil_db: float = 15.0
    gl_iters: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        if not 2 <= self.levels <= 65536:
            raise ValueError(f"levels must be 2..65536, got {self.levels}")
        if not 1 <= self.n_mels <= self.n_fft // 2 + 1:
            raise ValueError(f"n_mels must be 1..n_fft/2+1, got {self.n_mels}")
        if not 0 < self.hop <= self.n_fft:
            raise ValueError(f"hop must be in (0, n_fft], got {self.hop}")
        if self.ceil_db <= self.floor_db:
            raise ValueError("ceil_db must exceed floor_db")
        if self.gl_iters < 0 or self.sample_rate <= 0:
            raise ValueError("gl_iters must be >= 0 and sample_rate positive")


class DMel(Codec):
    """Quantized log-mel bands as tokens, inverted by pseudo-inverse + Griffin-Lim."""

    Config = DMelConfig
    version = "1"
    #: Griffin-Lim output has no waveform phase; the centred STFT adds no delay
    max_align_lag = 0.0

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def frame_rate(self) -> float:
        return self.config.sample_rate / self.config.hop

    @property
    def vocab_sizes(self) -> tuple[int, ...]:
        return (self.config.levels,) * self.config.n_mels

    @property
    def step_db(self) -> float:
        cfg = self.config
        return (cfg.ceil_db - cfg.floor_db) / max(1, cfg.levels - 1)

    @functools.cached_property
    def _filters(self) -> tuple[np.ndarray, np.ndarray]:
        import librosa

        cfg = self.config
        fb = librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels,
                                 fmin=0.0, fmax=cfg.sample_rate / 2, norm="slaney").astype(np.float64)
        return fb, np.linalg.pinv(fb)

    def mel_db(self, wave: np.ndarray) -> np.ndarray:
        """Mel power in dB ``[n_mels, T]`` (the feature the tokens quantize)."""
        import librosa

        cfg = self.config
        spec = librosa.stft(np.asarray(wave, dtype=np.float64), n_fft=cfg.n_fft, hop_length=cfg.hop,
                            window="hann", center=True)
        return 10.0 * np.log10(np.maximum(self._filters[0] @ (np.abs(spec) ** 2), 1e-20))

    def encode(self, wave: np.ndarray) -> EncodeResult:
        cfg = self.config
        db = self.mel_db(wave)
        level = np.floor((db - cfg.floor_db) / self.step_db) + 1
        tokens = np.clip(level, 0, cfg.levels - 1).astype(np.int64)
        return EncodeResult(tokens=tokens)

    def decode(self, tokens: np.ndarray) -> np.ndarray:
        import librosa

        cfg = self.config
        tokens = np.asarray(tokens, dtype=np.int64)
        if tokens.ndim != 2 or tokens.shape[0] != self.num_streams:
            raise CodecError(f"expected tokens [{self.num_streams}, T], got {tokens.shape}")
        n_out = max(0, tokens.shape[1] - 1) * cfg.hop
        if tokens.shape[1] == 0:
            return np.zeros(0, dtype=np.float32)
        centre_db = cfg.floor_db + (tokens - 0.5) * self.step_db
        mel_power = np.where(tokens > 0, 10.0 ** (centre_db / 10.0), 0.0)
        magnitude = np.sqrt(np.maximum(self._filters[1] @ mel_power, 0.0))
        rng = np.random.default_rng(cfg.seed)
        phase = np.exp(2j * np.pi * rng.random(magnitude.shape))
        if cfg.gl_iters == 0:
            y = librosa.istft(magnitude * phase, hop_length=cfg.hop, n_fft=cfg.n_fft, window="hann",
                              center=True, length=n_out)
        else:
            y = _griffin_lim(magnitude, phase, cfg.n_fft, cfg.hop, cfg.gl_iters, n_out)
        return np.clip(y, -1.0, 1.0).astype(np.float32)


def _griffin_lim(magnitude: np.ndarray, phase: np.ndarray, n_fft: int, hop: int, iters: int,
                 length: int, momentum: float = 0.99) -> np.ndarray:
    """Fast Griffin-Lim (Perraudin et al., 2013) from a given initial phase: deterministic."""
    import librosa

    kw = dict(n_fft=n_fft, hop_length=hop, window="hann", center=True)
    angles = phase
    previous = np.zeros_like(magnitude, dtype=np.complex128)
    for _ in range(iters):
        y = librosa.istft(magnitude * angles, length=length, **kw)
        rebuilt = librosa.stft(y, **kw)
        if rebuilt.shape[1] != magnitude.shape[1]:  # length rounding: pad or cut to T frames
            fixed = np.zeros_like(magnitude, dtype=np.complex128)
            m = min(rebuilt.shape[1], magnitude.shape[1])
            fixed[:, :m] = rebuilt[:, :m]
            rebuilt = fixed
        accelerated = rebuilt - (momentum / (1 + momentum)) * previous
        previous = rebuilt
        angles = accelerated / np.maximum(np.abs(accelerated), 1e-16)
    return librosa.istft(magnitude * angles, length=length, **kw)
