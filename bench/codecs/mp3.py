"""MP3 (LAME, constant bitrate) as a tokenizer: the tokens are the bytes of the MP3 frames.

Encoding uses ``lameenc`` (LAME), which returns raw MP3 frames with no ID3 or Xing/LAME info
tag, so every byte is payload. Decoding uses soundfile (libsndfile's mpg123). One token stream,
vocabulary 256, ``frame_rate`` = bytes per second = bitrate / 8.

Facts measured here (see FEASIBILITY.md) that shape the adapter:

* The decoded stream starts 1105 samples late (LAME's 576-sample encoder delay plus the
  decoder's 529), counted at the MP3 stream's own rate. :meth:`MP3.decode` removes it, so the
  output is aligned with the input; the runner's cross-correlation would find it anyway.
* The stream ends with padding up to a whole MP3 frame (576 samples at 8-24 kHz) and LAME's
  flush, so the decoded length exceeds the input by up to about one frame after the delay is
  removed; ``length_slack`` allows two frames. decode sees only the tokens and cannot know the
  exact input length (LAME's gapless info tag is not written by lameenc).
* For the same reason the byte count is ``bitrate / 8`` per second plus a fixed overhead of two
  to three MP3 frames (encoder delay, padding, flush): at 16-64 kbps (36 ms frames) +4% on a
  2 s input and +0.8% on 10 s; at 8 kbps (72 ms frames) +7.5% on 2.5 s and +1.5% on 10 s
  (``out_sample_rate=16000`` halves that at slightly lower quality). The token count is
  therefore not proportional to the input length on short inputs and the codec declares
  ``variable_frame_count``; bitrate is measured from the bytes, overhead included.
* At 8 kbps with 16 kHz input LAME resamples to 8 kHz (MPEG-2.5, 72 ms frames); decode
  resamples back to the codec's rate with soxr.
"""

from __future__ import annotations

import dataclasses
import io

import numpy as np

from bench.codecs.base import ByteStreamCodec, CodecError, EncodeResult, require

#: LAME's encoder delay (576) plus the mpg123 decoder delay (529), in samples of the MP3 stream.
MP3_DELAY = 1105
#: Samples per MP3 frame for MPEG-2 and MPEG-2.5 (sample rates up to 24 kHz).
MP3_FRAME_LSF = 576
#: Bitrates (kbps) that MPEG-2/2.5 layer III allows (ISO/IEC 13818-3).
LSF_BITRATES = (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)


@dataclasses.dataclass(frozen=True)
class MP3Config:
    bitrate_kbps: int = 16
    sample_rate: int = 16_000
    #: LAME's algorithm quality, 0 (best, slowest) .. 9 (fastest); 2 is LAME's "-h".
    quality: int = 2
    #: MP3 stream sample rate; 0 lets LAME choose (8 kHz MPEG-2.5 at 8 kbps for 16 kHz input).
    #: 16000 at 8 kbps halves the frame length (less per-file overhead) at slightly lower quality.
    out_sample_rate: int = 0

    def __post_init__(self) -> None:
        if self.sample_rate not in (8_000, 11_025, 12_000, 16_000, 22_050, 24_000):
            raise ValueError(f"sample_rate must be an MPEG-2/2.5 rate (8-24 kHz), got {self.sample_rate}")
        if self.bitrate_kbps not in LSF_BITRATES:
            raise ValueError(f"bitrate_kbps must be one of {LSF_BITRATES}, got {self.bitrate_kbps}")
        if not 0 <= self.quality <= 9:
            raise ValueError(f"quality must be 0..9, got {self.quality}")
        if self.out_sample_rate not in (0, 8_000, 11_025, 12_000, 16_000, 22_050, 24_000):
            raise ValueError(f"out_sample_rate must be 0 or an MPEG-2/2.5 rate, got {self.out_sample_rate}")


class MP3(ByteStreamCodec):
    """LAME CBR at ``bitrate_kbps``; tokens are the MP3 bytes (one stream, vocabulary 256)."""

    Config = MP3Config
    version = "1"
    extra = "baselines"
    #: Byte count = bitrate/8 per second plus a fixed 2-3 frame overhead (see module docstring).
    variable_frame_count = True

    @property
    def length_slack(self) -> int:
        """Two MP3 frames of the slowest stream LAME may choose (8 kHz), at the codec's rate:
        tail padding that decode cannot know to trim."""
        return int(np.ceil(2 * MP3_FRAME_LSF * self.config.sample_rate / 8_000))

    def _load(self) -> None:
        self._lameenc = require("lameenc", extra="baselines")
        self._sf = require("soundfile", extra="baselines")

    def encode(self, wave: np.ndarray) -> EncodeResult:
        self.load()
        pcm = np.clip(np.round(np.asarray(wave, dtype=np.float64) * 32767.0), -32768, 32767).astype("<i2")
        enc = self._lameenc.Encoder()
        enc.set_bit_rate(self.config.bitrate_kbps)
        enc.set_in_sample_rate(self.config.sample_rate)
        enc.set_channels(1)
        enc.set_quality(self.config.quality)
        if self.config.out_sample_rate:
            enc.set_out_sample_rate(self.config.out_sample_rate)
        data = bytes(enc.encode(pcm.tobytes())) + bytes(enc.flush())
        if not data:
            raise CodecError("LAME returned no MP3 frames")
        tokens = np.frombuffer(data, dtype=np.uint8).astype(np.int64)[None, :]
        return EncodeResult(tokens=tokens, payload_bytes=len(data))

    def decode(self, tokens: np.ndarray) -> np.ndarray:
        self.load()
        data = np.asarray(tokens[0], dtype=np.uint8).tobytes()
        try:
            y, sr = self._sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
        except Exception as exc:  # libsndfile raises LibsndfileError on a corrupt stream
            raise CodecError(f"MP3 stream could not be decoded: {exc}") from exc
        y = y[MP3_DELAY:, 0]
        from bench.audio import resample

        return np.ascontiguousarray(resample(y, int(sr), self.config.sample_rate), dtype=np.float32)
