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

# Pretrained neural codecs (weights=DIR or the local Hugging Face cache; see docs/pretrained-codecs.md).
# The number of quantizers fixes the bitrate that is measured from the tokens.
CODECS.register(
    "hf-codec", "bench.codecs.hf:HFCodec", aliases=("transformers",),
    description="any transformers EnCodec/DAC/Mimi checkpoint: weights=DIR, num_quantizers=K",
)
for _q, _kbps in ((2, "1.5"), (4, "3"), (8, "6"), (16, "12"), (32, "24")):
    CODECS.register(
        f"encodec-24k-{_kbps}k", "bench.codecs.hf:HFCodec",
        defaults={"repo_id": "facebook/encodec_24khz", "family": "encodec", "num_quantizers": _q},
        description=f"EnCodec 24 kHz, {_q} quantizers x 75 Hz x 10 bits = {_kbps} kbps",
    )
for _name, _repo, _text in (
    ("dac-16k", "descript/dac_16khz", "DAC 16 kHz, 12 quantizers x 50 Hz x 10 bits = 6 kbps"),
    ("dac-24k", "descript/dac_24khz", "DAC 24 kHz, 32 quantizers x 75 Hz x 10 bits = 24 kbps"),
    ("dac-44k", "descript/dac_44khz", "DAC 44.1 kHz, 9 quantizers x 86.1 Hz x 10 bits = 7.75 kbps"),
):
    CODECS.register(_name, "bench.codecs.hf:HFCodec", defaults={"repo_id": _repo, "family": "dac"},
                    description=_text)
for _q, _kbps in ((8, "1.1"), (32, "4.4")):
    CODECS.register(
        f"mimi-{_q}q", "bench.codecs.hf:HFCodec",
        defaults={"repo_id": "kyutai/mimi", "family": "mimi", "num_quantizers": _q},
        description=f"Mimi, {_q} quantizers x 12.5 Hz x 11 bits = {_kbps} kbps",
    )
for _name, _repo, _text in (
    ("snac-24k", "hubertsiuzdak/snac_24khz", "SNAC 24 kHz speech, 3 scales, 7 tokens per 85 ms = 0.98 kbps"),
    ("snac-32k", "hubertsiuzdak/snac_32khz", "SNAC 32 kHz, 4 scales = 1.9 kbps"),
    ("snac-44k", "hubertsiuzdak/snac_44khz", "SNAC 44.1 kHz, 4 scales = 2.6 kbps"),
):
    CODECS.register(_name, "bench.codecs.snac_codec:SNACCodec", defaults={"repo_id": _repo},
                    description=_text)
