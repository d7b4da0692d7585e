"""Built-in codecs. Each entry is lazy: listing codecs imports no backend.

To add a built-in, register its presets here; outside packages use the ``bench.codecs``
entry-point group instead (see README, "Writing a codec plugin").
"""

from bench.codecs.base import Codec, CodecError, EncodeResult, MissingDependency
from bench.registry import CODECS

__all__ = ["CODECS", "Codec", "CodecError", "EncodeResult", "MissingDependency"]

CODECS.register(
    "identity", "bench.codecs.identity:Identity", aliases=("pcm16",),
    description="16-bit PCM samples as tokens (upper bound)",
)
CODECS.register(
    "mulaw", "bench.codecs.mulaw:MuLaw", aliases=("mu-law",),
    description="WaveNet mu-law sample quantization (bits=2..16, default 8)",
)
for _bits in (2, 3, 4, 5, 6, 8, 10, 12):
    CODECS.register(
        f"mulaw-{_bits}bit", "bench.codecs.mulaw:MuLaw", defaults={"bits": _bits},
        description=f"mu-law, {_bits} bits per sample at 16 kHz",
    )
