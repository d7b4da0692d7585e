"""Opus (RFC 6716) at a constant bitrate as a tokenizer: the tokens are the packet bytes.

Backend: ``opuslib`` (ctypes binding of the system libopus; Debian package ``libopus0``, which
sox and libsndfile already pull in). It was chosen over soundfile's OGG/Opus because libopus
then takes an exact target bitrate and hard CBR, so every 20 ms packet has exactly
``bitrate * 20 ms / 8`` bytes and the measured bitrate is the target; soundfile only exposes
``compression_level`` (1.0 gives about 7 kbps, 0.9 about 29 kbps for 16 kHz speech) and wraps
packets in Ogg pages.

Tokens: one stream of bytes (vocabulary 256), the packets back to back with no container and
no length prefix: in hard CBR all packets have the same length, known from the config, so the
decoder splits the stream by that length. The payload is exactly the packet bytes (no Ogg
pages, no headers). ``frame_rate`` = bytes per second = bitrate / 8.

Delay: the encoder's lookahead (``OPUS_GET_LOOKAHEAD``, 104 samples at 16 kHz) is compensated:
encode appends that many zeros, decode drops that many samples, so the output is aligned with
the input. The last packet is zero-padded to a whole frame, so the decoded length exceeds the
input by up to one packet (``length_slack``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bench.codecs.base import ByteStreamCodec, CodecError, EncodeResult, MissingDependency, require

OPUS_RATES = (8_000, 12_000, 16_000, 24_000, 48_000)
OPUS_FRAME_MS = (2.5, 5.0, 10.0, 20.0, 40.0, 60.0)


@dataclasses.dataclass(frozen=True)
class OpusConfig:
    bitrate_kbps: float = 8.0
    sample_rate: int = 16_000
    frame_ms: float = 20.0
    #: "voip" (speech-tuned) or "audio" (fidelity-tuned), libopus's application setting.
    application: str = "audio"
    #: Encoder complexity 0..10.
    complexity: int = 10

    def __post_init__(self) -> None:
        if self.sample_rate not in OPUS_RATES:
            raise ValueError(f"sample_rate must be one of {OPUS_RATES}, got {self.sample_rate}")
        if self.frame_ms not in OPUS_FRAME_MS:
            raise ValueError(f"frame_ms must be one of {OPUS_FRAME_MS}, got {self.frame_ms}")
        if not 6.0 <= self.bitrate_kbps <= 510.0:
            raise ValueError(f"bitrate_kbps must be 6..510, got {self.bitrate_kbps}")
        packet_bits = self.bitrate_kbps * self.frame_ms
        if abs(packet_bits / 8 - round(packet_bits / 8)) > 1e-9:
            raise ValueError(
                f"{self.bitrate_kbps} kbps x {self.frame_ms} ms is not a whole number of bytes per packet"
            )
        if self.application not in ("voip", "audio"):
            raise ValueError(f"application must be 'voip' or 'audio', got {self.application!r}")
        if not 0 <= self.complexity <= 10:
            raise ValueError(f"complexity must be 0..10, got {self.complexity}")


class Opus(ByteStreamCodec):
    """libopus hard CBR; tokens are the packet bytes (one stream, vocabulary 256)."""

    Config = OpusConfig
    version = "1"
    extra = "baselines"

    @property
    def packet_samples(self) -> int:
        return int(round(self.config.sample_rate * self.config.frame_ms / 1000.0))

    @property
    def packet_bytes(self) -> int:
        return int(round(self.config.bitrate_kbps * self.config.frame_ms / 8.0))

    @property
    def length_slack(self) -> int:
        """One packet: the last one is zero-padded to a whole frame."""
        return self.packet_samples

    def _load(self) -> None:
        try:
            self._opuslib = require("opuslib", extra="baselines")
        except MissingDependency:
            raise
        except Exception as exc:  # opuslib raises a bare Exception when libopus is absent
            raise MissingDependency(
                f"opuslib cannot find the Opus library ({exc}). Install it with: apt-get install libopus0"
            ) from exc
        self._lookahead = int(self._encoder().lookahead)

    def _encoder(self):
        lib = self._opuslib
        app = lib.APPLICATION_VOIP if self.config.application == "voip" else lib.APPLICATION_AUDIO
        enc = lib.Encoder(self.config.sample_rate, 1, app)
        enc.bitrate = int(round(self.config.bitrate_kbps * 1000))
        enc.vbr = 0  # hard CBR: every packet has exactly packet_bytes bytes
        enc.complexity = self.config.complexity
        return enc

    def encode(self, wave: np.ndarray) -> EncodeResult:
        self.load()
        x = np.asarray(wave, dtype=np.float64)
        # append the lookahead (decode drops it from the front), then pad to whole packets
        n = len(x) + self._lookahead
        n_packets = max(1, -(-n // self.packet_samples))
        pcm = np.zeros(n_packets * self.packet_samples, dtype="<i2")
        pcm[: len(x)] = np.clip(np.round(x * 32767.0), -32768, 32767)
        enc = self._encoder()
        packets = []
        for i in range(n_packets):
            frame = pcm[i * self.packet_samples : (i + 1) * self.packet_samples]
            packet = bytes(enc.encode(frame.tobytes(), self.packet_samples))
            if len(packet) != self.packet_bytes:
                raise CodecError(f"Opus packet of {len(packet)} bytes in CBR mode; expected {self.packet_bytes}")
            packets.append(packet)
        data = b"".join(packets)
        tokens = np.frombuffer(data, dtype=np.uint8).astype(np.int64)[None, :]
        return EncodeResult(tokens=tokens, payload_bytes=len(data))

    def decode(self, tokens: np.ndarray) -> np.ndarray:
        self.load()
        data = np.asarray(tokens[0], dtype=np.uint8).tobytes()
        if len(data) % self.packet_bytes:
            raise CodecError(f"{len(data)} bytes is not a whole number of {self.packet_bytes}-byte packets")
        dec = self._opuslib.Decoder(self.config.sample_rate, 1)
        out = []
        for i in range(0, len(data), self.packet_bytes):
            pcm = dec.decode(data[i : i + self.packet_bytes], self.packet_samples)
            out.append(np.frombuffer(pcm, dtype="<i2"))
        y = np.concatenate(out)[self._lookahead :] if out else np.zeros(0, dtype="<i2")
        return (y.astype(np.float32) / 32768.0).astype(np.float32)
