"""Control codecs for probe tests: tokens that carry no information about the input.

A probe that scores above chance on these is broken (leaking labels, bad splits). They are not
registered by default; tests register them under a name of their choice::

    CODECS.register("control-random", "bench.testing.control:RandomTokens")
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bench.codecs.base import Codec, EncodeResult


@dataclasses.dataclass(frozen=True)
class RandomTokensConfig:
    streams: int = 2
    vocab: int = 64
    frame_rate: float = 50.0
    sample_rate: int = 16_000
    seed: int = 0
    constant: bool = False  # every token 0 instead of random
    #: seed each item's generator from a hash of its samples as well: tokens still say nothing
    #: about the content, but two inputs of one length no longer get the same tokens (a
    #: length-only control "recognizes" repeats of a word whose length is the same)
    seed_from_input: bool = False


class RandomTokens(Codec):
    """Seeded random (or constant) tokens whose only dependence on the input is its length;
    decodes to silence of the right length."""

    Config = RandomTokensConfig

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def frame_rate(self) -> float:
        return float(self.config.frame_rate)

    @property
    def vocab_sizes(self) -> tuple[int, ...]:
        return (self.config.vocab,) * self.config.streams

    def encode(self, wave: np.ndarray) -> EncodeResult:
        frames = int(np.ceil(len(wave) / self.hop_length))
        shape = (self.config.streams, frames)
        if self.config.constant:
            return EncodeResult(np.zeros(shape, dtype=np.int64))
        # a fresh generator per call: same length, same tokens (deterministic, input-blind)
        seed = [self.config.seed, frames]
        if self.config.seed_from_input:
            import hashlib

            digest = hashlib.sha256(np.ascontiguousarray(wave, dtype=np.float32).tobytes()).digest()
            seed.append(int.from_bytes(digest[:8], "little"))
        rng = np.random.default_rng(seed)
        return EncodeResult(rng.integers(0, self.config.vocab, size=shape, dtype=np.int64))

    def decode(self, tokens: np.ndarray) -> np.ndarray:
        return np.zeros(int(round(tokens.shape[1] * self.hop_length)), dtype=np.float32)


@dataclasses.dataclass(frozen=True)
class LabelTokensConfig:
    #: JSON file {key: {"accent": int, "speaker": int}}; key = :func:`wave_key` of the input
    labels_path: str = ""
    sample_rate: int = 16_000
    frame_rate: float = 50.0
    #: write the speaker index too (stream 1; else 0). Off by default: a probe trained on other
    #: voices meets the test voices' codes untrained, and their random embeddings shift every
    #: frame of those items, which hides the F0 stream (frame-F0 R2 0.01 with it on)
    speaker: bool = False


def wave_key(wave: np.ndarray) -> str:
    """A content key of a waveform (SHA-256 of its 16-bit rounding, first 16 hex digits)."""
    import hashlib

    pcm = np.clip(np.round(np.asarray(wave, dtype=np.float64) * 32768.0), -32768, 32767).astype(np.int16)
    return hashlib.sha256(pcm.tobytes()).hexdigest()[:16]


class LabelTokens(Codec):
    """A cheating codec for probe tests: it writes the answers into its tokens. Stream 0 is the
    accent index and stream 1 the speaker index (with ``speaker=true``) looked up by the input's :func:`wave_key` in
    ``labels_path`` (-> 0 when absent); stream 2 is Praat's F0 of the input, in 25-cent steps
    above 55 Hz (0 = unvoiced), per frame. A probe that does not read about 1.0 on it is broken.
    Decodes to silence."""

    Config = LabelTokensConfig

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def frame_rate(self) -> float:
        return float(self.config.frame_rate)

    @property
    def vocab_sizes(self) -> tuple[int, ...]:
        return (64, 64, 512)

    def encode(self, wave: np.ndarray) -> EncodeResult:
        import json

        from bench.metrics.f0 import praat_f0

        frames = int(np.ceil(len(wave) / self.hop_length))
        labels = {}
        if self.config.labels_path:
            with open(self.config.labels_path, encoding="utf-8") as fh:
                labels = json.load(fh).get(wave_key(wave), {})
        times, f0 = praat_f0(np.asarray(wave, dtype=np.float64), 50.0, 600.0, 1.0 / self.frame_rate)
        centers = (np.arange(frames) + 0.5) / self.frame_rate
        track = np.zeros(frames)
        if len(times):
            j = np.clip(np.searchsorted(times, centers), 0, len(times) - 1)
            track = f0[j]
        steps = np.where(track > 0, 1 + np.round(1200 * np.log2(np.maximum(track, 55.0) / 55.0) / 25), 0)
        tokens = np.stack([np.full(frames, int(labels.get("accent", 0))),
                           np.full(frames, int(labels.get("speaker", 0)) if self.config.speaker else 0),
                           np.clip(steps, 0, 511)]).astype(np.int64)
        return EncodeResult(tokens)

    def decode(self, tokens: np.ndarray) -> np.ndarray:
        return np.zeros(int(round(tokens.shape[1] * self.hop_length)), dtype=np.float32)
