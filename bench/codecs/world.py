"""A source-filter tokenizer: WORLD vocoder parameters (Morise et al., 2016), quantized.

The "physical parameters of the voice as tokens" idea: each frame says how high the voice is
(F0), what the vocal tract does to it (spectral envelope) and how noisy it is (aperiodicity).
Analysis and synthesis are WORLD's, through ``pyworld`` (the ``world`` extra, package
``pyworld-prebuilt``); the quantizers are ours, fixed, with no training.

Per frame (``frame_ms``; 16 kHz input):

* **F0**: Harvest (default; or DIO refined by StoneMask, ``f0_method=dio``) between ``f0_min``
  and ``f0_max``. Token 0 = unvoiced; a voiced frame's ``1200 log2(F0 / f0_min)`` cents are
  rounded to a grid of ``f0_step_cents`` (default 50 cents, half a semitone: at most 25 cents
  off), tokens ``1 .. 1 + 1200 log2(f0_max / f0_min) / step`` (97 voiced values for 50-800 Hz).
* **Spectral envelope**: CheapTrick, coded by WORLD's ``code_spectral_envelope`` into
  ``n_coefs`` mel-cepstral coefficients. ``c0`` (level) is quantized uniformly on
  ``[c0_min, c0_max]`` to ``c0_levels`` levels; ``c_k`` (k >= 1) uniformly on
  ``[m_k - h_k, m_k + h_k]`` with ``h_k = cep_range / k ** cep_decay`` (higher coefficients
  vary less; defaults 4 and 0.5) and ``m_1 = c1_centre`` (2: speech's spectral tilt makes c1
  positive), ``m_k = 0`` otherwise, to ``cep_levels`` levels, values outside clipped. These
  constants were chosen by hand on three corpus sentences (clipping under 5% per coefficient). Decode takes the level's value.
* **Aperiodicity**: D4C, coded by ``code_aperiodicity`` (one band per 3 kHz above 3 kHz: one
  band at 16 kHz), in dB, uniform on ``[ap_min_db, 0]`` to ``ap_levels`` levels (defaults -16 dB
  and 8; voiced speech here lies between -18 and 0 dB). A coarser grid (4 levels on [-30, 0])
  rounded voiced frames up to 0 dB, i.e. noise, and Praat then lost the pitch on 5 of 8 test
  sentences (F0 RMSE up to 3,100 cents): aperiodicity needs its bits as much as F0 does.

Tokens ``[K = 2 + n_coefs, T]``: stream 0 = F0, stream 1 = aperiodicity, streams ``2..`` =
``c0 .. c_{n-1}``. ``T = 1 + n // hop`` (WORLD's frames are centred on ``t * hop``). Bitrate =
frames/s x (log2 F0 vocabulary + log2 ap_levels + log2 c0_levels + (n_coefs - 1) log2 cep_levels).

Decode: WORLD's ``synthesize`` of the dequantized F0, envelope and aperiodicity, cut to
``(T - 1) * hop`` samples. WORLD's synthesis re-seeds its noise generator on each call, so the
same tokens give the same samples (checked by the conformance suite). The output keeps no
waveform phase: ``max_align_lag = 0`` (WORLD's frames are centred, no delay to find).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from bench.codecs.base import Codec, CodecError, EncodeResult, require


@dataclasses.dataclass(frozen=True)
class WorldConfig:
    sample_rate: int = 16_000
    frame_ms: float = 10.0
    f0_method: str = "harvest"
    f0_min: float = 50.0
    f0_max: float = 800.0
    f0_step_cents: float = 50.0
    n_coefs: int = 24
    c0_levels: int = 32
    c0_min: float = -60.0
    c0_max: float = 0.0
    cep_levels: int = 8
    cep_range: float = 4.0
    #: exponent of the decay of the coefficient ranges: h_k = cep_range / k ** cep_decay
    cep_decay: float = 0.5
    #: centre of c1's range (c1, the spectral tilt, is positive for speech)
    c1_centre: float = 2.0
    ap_levels: int = 8
    ap_min_db: float = -16.0

    def __post_init__(self) -> None:
        if self.f0_method not in ("harvest", "dio"):
            raise ValueError(f"f0_method must be harvest or dio, got {self.f0_method!r}")
        if not 0 < self.f0_min < self.f0_max or self.f0_step_cents <= 0:
            raise ValueError("need 0 < f0_min < f0_max and f0_step_cents > 0")
        if self.frame_ms <= 0 or (self.sample_rate * self.frame_ms / 1000) % 1:
            raise ValueError(f"frame_ms must give a whole number of samples, got {self.frame_ms}")
        if self.n_coefs < 2:
            raise ValueError(f"n_coefs must be >= 2, got {self.n_coefs}")
        if min(self.c0_levels, self.cep_levels, self.ap_levels) < 2:
            raise ValueError("every quantizer needs >= 2 levels")
        if self.c0_max <= self.c0_min or self.cep_range <= 0 or self.ap_min_db >= 0:
            raise ValueError("bad quantizer range")


def _uniform(x: np.ndarray, lo: np.ndarray | float, hi: np.ndarray | float, levels: int) -> np.ndarray:
    """Nearest of ``levels`` evenly spaced values from lo to hi (inclusive): indices."""
    q = np.round((x - lo) / (np.asarray(hi) - lo) * (levels - 1))
    return np.clip(q, 0, levels - 1).astype(np.int64)


def _dequantize(q: np.ndarray, lo: np.ndarray | float, hi: np.ndarray | float, levels: int) -> np.ndarray:
    return lo + q.astype(np.float64) / (levels - 1) * (np.asarray(hi) - lo)


class World(Codec):
    """WORLD F0 + mel-cepstral envelope + band aperiodicity, quantized, as ``2 + n_coefs`` streams."""

    Config = WorldConfig
    version = "1"
    extra = "world"
    #: vocoder output: no waveform phase to align; WORLD's frames are centred (no delay)
    max_align_lag = 0.0

    @classmethod
    def unavailable_reason(cls, options: dict) -> str | None:
        import importlib.util

        if importlib.util.find_spec("pyworld") is None:
            return "pyworld is not installed (pip install 'bench[world]')"
        return None

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def hop(self) -> int:
        return int(round(self.config.sample_rate * self.config.frame_ms / 1000))

    @property
    def frame_rate(self) -> float:
        return 1000.0 / self.config.frame_ms

    @property
    def f0_vocab(self) -> int:
        cfg = self.config
        return 2 + int(round(1200 * math.log2(cfg.f0_max / cfg.f0_min) / cfg.f0_step_cents))

    @property
    def vocab_sizes(self) -> tuple[int, ...]:
        cfg = self.config
        return (self.f0_vocab, cfg.ap_levels, cfg.c0_levels) + (cfg.cep_levels,) * (cfg.n_coefs - 1)

    def _load(self) -> None:
        self._pw = require("pyworld", extra="world", package="pyworld-prebuilt")
        self._fft_size = self._pw.get_cheaptrick_fft_size(self.config.sample_rate)

    def _cep_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        cfg = self.config
        h = cfg.cep_range / np.arange(1, cfg.n_coefs) ** cfg.cep_decay
        centre = np.zeros_like(h)
        centre[0] = cfg.c1_centre
        return centre - h, centre + h

    def analyse(self, wave: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """WORLD analysis: F0 ``[T]``, coded envelope ``[T, n_coefs]``, coded aperiodicity (dB) ``[T, bands]``."""
        self.load()
        pw, cfg = self._pw, self.config
        x = np.ascontiguousarray(wave, dtype=np.float64)
        fs = cfg.sample_rate
        if cfg.f0_method == "harvest":
            f0, t = pw.harvest(x, fs, f0_floor=cfg.f0_min, f0_ceil=cfg.f0_max, frame_period=cfg.frame_ms)
        else:
            f0, t = pw.dio(x, fs, f0_floor=cfg.f0_min, f0_ceil=cfg.f0_max, frame_period=cfg.frame_ms)
            f0 = pw.stonemask(x, f0, t, fs)
        sp = pw.cheaptrick(x, f0, t, fs, fft_size=self._fft_size)
        ap = pw.d4c(x, f0, t, fs, fft_size=self._fft_size)
        return f0, pw.code_spectral_envelope(sp, fs, cfg.n_coefs), pw.code_aperiodicity(ap, fs)

    def encode(self, wave: np.ndarray) -> EncodeResult:
        cfg = self.config
        if len(wave) == 0:
            raise CodecError("world cannot analyse an empty signal")
        f0, cep, ap = self.analyse(wave)
        voiced = f0 > 0
        cents = 1200 * np.log2(np.where(voiced, f0, cfg.f0_min) / cfg.f0_min)
        f0_tok = np.where(voiced, np.clip(np.round(cents / cfg.f0_step_cents), 0, self.f0_vocab - 2) + 1, 0)
        ap_tok = _uniform(ap.mean(axis=1), cfg.ap_min_db, 0.0, cfg.ap_levels)
        c0_tok = _uniform(cep[:, 0], cfg.c0_min, cfg.c0_max, cfg.c0_levels)
        lo, hi = self._cep_bounds()
        cep_tok = _uniform(cep[:, 1:], lo, hi, cfg.cep_levels)  # [T, n-1]
        tokens = np.concatenate([f0_tok[None].astype(np.int64), ap_tok[None], c0_tok[None], cep_tok.T])
        return EncodeResult(tokens=tokens)

    def decode(self, tokens: np.ndarray) -> np.ndarray:
        cfg, pw = self.config, self._pw
        tokens = np.asarray(tokens, dtype=np.int64)
        if tokens.ndim != 2 or tokens.shape[0] != self.num_streams:
            raise CodecError(f"expected tokens [{self.num_streams}, T], got {tokens.shape}")
        n_frames = tokens.shape[1]
        if n_frames == 0:
            return np.zeros(0, dtype=np.float32)
        f0_tok = tokens[0]
        f0 = np.where(f0_tok > 0, cfg.f0_min * 2.0 ** ((f0_tok - 1) * cfg.f0_step_cents / 1200), 0.0)
        n_bands = pw.code_aperiodicity(np.zeros((1, self._fft_size // 2 + 1)) + 0.5, cfg.sample_rate).shape[1]
        ap_db = np.repeat(_dequantize(tokens[1], cfg.ap_min_db, 0.0, cfg.ap_levels)[:, None], n_bands, axis=1)
        lo, hi = self._cep_bounds()
        cep = np.concatenate([_dequantize(tokens[2], cfg.c0_min, cfg.c0_max, cfg.c0_levels)[:, None],
                              _dequantize(tokens[3:].T, lo, hi, cfg.cep_levels)], axis=1)
        sp = pw.decode_spectral_envelope(np.ascontiguousarray(cep), cfg.sample_rate, self._fft_size)
        ap = pw.decode_aperiodicity(np.ascontiguousarray(ap_db), cfg.sample_rate, self._fft_size)
        y = pw.synthesize(np.ascontiguousarray(f0), sp, ap, cfg.sample_rate, cfg.frame_ms)
        y = y[: (n_frames - 1) * self.hop]
        return np.clip(y, -1.0, 1.0).astype(np.float32)
