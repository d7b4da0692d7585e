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
