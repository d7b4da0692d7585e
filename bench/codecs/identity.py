"""The ceiling and a plain PCM baseline.

``identity`` passes the signal through unchanged: its tokens are the 32 bits of each float32
sample, so decoding gives back exactly the array that was encoded. Every metric must read its
ceiling on it (PESQ-WB 4.644, STOI 1, SI-SDR at the cap, WER change 0, speaker cosine 1); a
metric that does not measures itself, not the codec.

``pcm16`` quantizes each sample to 16-bit PCM, as a WAV file would. That is a codec, not the
ceiling: on quiet recordings the rounding alone costs PESQ (a clip from an 8 kHz recording at
-40 dBFS can lose more than a point).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bench.codecs.base import Codec, EncodeResult


@dataclasses.dataclass(frozen=True)
class IdentityConfig:
    sample_rate: int = 16_000


class _SampleCodec(Codec):
    """One token per sample at the configured rate."""

    Config = IdentityConfig

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def frame_rate(self) -> float:
        return float(self.config.sample_rate)


class Identity(_SampleCodec):
    """Lossless: each float32 sample's bit pattern is one token (vocabulary 2**32)."""

    version = "2"  # 1 was 16-bit PCM (now the pcm16 codec)

    @property
    def vocab_sizes(self) -> tuple[int, ...]:
        return (1 << 32,)

    def encode(self, wave: np.ndarray) -> EncodeResult:
        bits = np.ascontiguousarray(wave, dtype=np.float32).view(np.uint32)
        tokens = bits.astype(np.int64)[None, :]
        return EncodeResult(tokens=tokens, payload_bytes=4 * tokens.shape[1])

    def decode(self, tokens: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(tokens[0], dtype=np.int64).astype(np.uint32).view(np.float32).copy()


class PCM16(_SampleCodec):
    """One stream of 65,536 symbols per sample: the signal rounded to 16-bit PCM."""

    @property
    def vocab_sizes(self) -> tuple[int, ...]:
        return (65_536,)

    def encode(self, wave: np.ndarray) -> EncodeResult:
        pcm = np.clip(np.round(np.asarray(wave, dtype=np.float64) * 32768.0), -32768, 32767)
        tokens = (pcm.astype(np.int64) + 32768)[None, :]
        return EncodeResult(tokens=tokens, payload_bytes=2 * tokens.shape[1])

    def decode(self, tokens: np.ndarray) -> np.ndarray:
        return ((np.asarray(tokens[0], dtype=np.float64) - 32768.0) / 32768.0).astype(np.float32)
