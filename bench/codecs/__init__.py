"""Built-in codecs. Each entry is lazy: listing codecs imports no backend.

To add a built-in, register its presets here; outside packages use the ``bench.codecs``
entry-point group instead (see README, "Writing a codec plugin").
"""

from bench.codecs.base import Codec, CodecError, EncodeResult, MissingDependency
from bench.registry import CODECS

__all__ = ["CODECS", "Codec", "CodecError", "EncodeResult", "MissingDependency"]

CODECS.register(
    "identity", "bench.codecs.identity:Identity",
    description="lossless: float32 samples as tokens (the ceiling every metric must read)",
)
CODECS.register(
    "pcm16", "bench.codecs.identity:PCM16", aliases=("pcm-16bit",),
    description="16-bit PCM samples as tokens (rounding costs quality on quiet audio)",
)
CODECS.register(
    "mulaw", "bench.codecs.mulaw:MuLaw", aliases=("mu-law",),
    description="WaveNet mu-law sample quantization (bits=2..16, default 8)",
)
for _bits in (2, 3, 4, 5, 6, 8, 10, 12):
    CODECS.register(
        f"mulaw-{_bits}bit", "bench.codecs.mulaw:MuLaw", defaults={"bits": _bits},
        description=f"mu-law, {_bits} bits per sample at 16 kHz = {_bits * 16} kbps",
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

# Our own EnCodec-style RVQ codec (bench/codecs/rvq): one shipped checkpoint, any depth 1..8.
CODECS.register(
    "rvq", "bench.codecs.rvq.codec:RVQ",
    description="our EnCodec-style RVQ codec, 50 Hz x 10 bits per level (n_q=1..8)",
)
for _n in range(1, 9):
    CODECS.register(
        f"rvq-{_n}q", "bench.codecs.rvq.codec:RVQ", defaults={"n_q": _n},
        description=f"our RVQ codec, first {_n} level(s): {_n * 0.5:g} kbps",
    )

# Traditional-codec baselines (issue 4). Token bitrates are exact for mp3/opus/codec2 (CBR; mp3
# adds 2-3 frames of delay/flush per file); dct's payload is an LZMA code of its tokens.
CODECS.register("mp3", "bench.codecs.mp3:MP3",
                description="MP3 (LAME CBR via lameenc), tokens = MP3 frame bytes (bitrate_kbps=8..160)")
for _kbps in (8, 16, 24, 32, 64):
    # mp3-8k keeps a 16 kHz stream: LAME's own 8 kHz MPEG-2.5 choice has 72 ms frames whose fixed
    # per-file overhead puts a 2.5 s utterance 7.5% over the target rate (16 kHz: +3.6%).
    CODECS.register(f"mp3-{_kbps}k", "bench.codecs.mp3:MP3",
                    defaults={"bitrate_kbps": _kbps, **({"out_sample_rate": 16000} if _kbps == 8 else {})},
                    description=f"MP3 (LAME CBR) {_kbps} kbps, tokens = MP3 frame bytes")
CODECS.register("opus", "bench.codecs.opus:Opus",
                description="Opus (libopus hard CBR via opuslib), tokens = packet bytes (bitrate_kbps=6..510)")
for _kbps in (6, 8, 12, 16, 24):
    CODECS.register(f"opus-{_kbps}k", "bench.codecs.opus:Opus", defaults={"bitrate_kbps": _kbps},
                    description=f"Opus (hard CBR, 20 ms packets) {_kbps} kbps, tokens = packet bytes")
CODECS.register("codec2", "bench.codecs.codec2:Codec2",
                description="Codec 2 vocoder at 8 kHz (mode=700,1200,1300,1400,1600,2400,3200 b/s)")
for _mode in (700, 1200, 1600, 2400, 3200):
    CODECS.register(f"codec2-{_mode}", "bench.codecs.codec2:Codec2", defaults={"mode": _mode},
                    description=f"Codec 2 {_mode / 1000:g} kbps ({'700C, ' if _mode == 700 else ''}"
                                f"{20 if _mode >= 2400 else 40} ms frames), tokens = frame bits in bytes")
CODECS.register("dct", "bench.codecs.dct:DCT",
                description="our MDCT tokenizer: per-band scales, bits=2..8 per coefficient, keep=top-k")
# nominal = 50 frames/s x (17 band scales x 6 bits + 320 bins x log2(2**bits - 1))
for _bits, _keep, _nominal in ((2, 0, 30.5), (3, 0, 50.0), (4, 0, 67.6), (6, 0, 100.7), (8, 0, 133.0),
                               (4, 16, 67.6), (4, 32, 67.6), (4, 64, 67.6)):
    CODECS.register(
        f"dct-q{_bits}" + (f"-k{_keep}" if _keep else ""), "bench.codecs.dct:DCT",
        defaults={"bits": _bits, "keep": _keep},
        description=f"MDCT tokens, {_bits}-bit coefficients, "
                    + (f"{_keep} of 320 kept" if _keep else "all 320 kept")
                    + f" per 20 ms: {_nominal:g} kbps nominal, payload = LZMA of the tokens",
    )

# Training-free DSP tokenizers (issue 19): quantized log-mel bands, and WORLD vocoder parameters.
CODECS.register("dmel", "bench.codecs.dmel:DMel",
                description="dMel-style: 80 log-mel bands x levels (default 16), Griffin-Lim inverse")
for _levels in (4, 8, 16):
    CODECS.register(
        f"dmel-80x{_levels}", "bench.codecs.dmel:DMel", defaults={"levels": _levels},
        description=f"80 log-mel bands x {_levels} levels x 62.5 frames/s = {62.5 * 80 * (_levels.bit_length() - 1) / 1000:g} kbps, Griffin-Lim inverse",
    )
CODECS.register("world", "bench.codecs.world:World",
                description="WORLD vocoder parameters as tokens: F0 (half-semitone grid), mel-cepstrum, aperiodicity")
# nominal = frames/s x (log2 98 F0 values + 3 ap bits + 5 c0 bits + (n_coefs - 1) x log2 cep_levels)
for _kbps, _ms, _n, _levels in (("3", 20.0, 16, 8), ("5.3", 20.0, 24, 16), ("8.4", 10.0, 24, 8)):
    CODECS.register(
        f"world-{_kbps}k", "bench.codecs.world:World",
        defaults={"frame_ms": _ms, "n_coefs": _n, "cep_levels": _levels},
        description=f"WORLD tokens, {_ms:g} ms frames, F0 + aperiodicity + {_n} mel-cepstral coefficients "
                    f"({_levels} levels): {_kbps} kbps",
    )
