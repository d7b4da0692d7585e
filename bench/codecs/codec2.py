"""Codec 2 (David Rowe's low-rate sinusoidal speech vocoder) through ``pycodec2``.

8 kHz, 16-bit input; one codec frame every 20 ms (modes 3200, 2400) or 40 ms (1600, 1400, 1300,
1200, 700C). Each frame is a fixed number of bits (64, 48, 64, 56, 52, 48, 28), which libcodec2
packs most-significant bit first into whole bytes, leaving the low bits of the last byte unused.

Token contract: ``T`` = codec frames; the K streams are the frame's bits cut into 8-bit chunks in
transmission order, the last chunk holding the remaining ``bits % 8`` bits (vocabulary
``2**(bits % 8)``). So ``sum(log2 vocab) = bits per frame`` and the token bitrate is exactly the
mode's bitrate (700C: 28 bits = 3 x 256 + 1 x 16 per 40 ms = 700 b/s), with no padding bits
counted. ``payload_bytes`` is the frames' bits packed back to back (``ceil(T * bits / 8)``); a
``.c2`` file would pad each frame to whole bytes instead (700C: 800 b/s).

The tokens are not the codec's parameter fields (pitch, energy, LSPs, voicing): those layouts
differ per mode and would tie the adapter to libcodec2 internals; the chunks are a lossless
re-grouping of the same bits.

Determinism: libcodec2's decoder draws random phases for unvoiced harmonics from a
process-global generator (``codec2_rand``, a static LCG seeded once per library load), so two
decodes of the same bits in one process differ. Encoding goes through ``pycodec2``; decoding
calls the same libcodec2 through ctypes, from a private copy of the library that is loaded
fresh for each call and unloaded after it, so every decode starts from the generator's initial
state and gives the same samples as a first decode in a new process.

Delay: Codec 2 is a parametric vocoder that does not keep the waveform's phase, so SI-SDR is
not meaningful for it (FEASIBILITY.md, section 2), and cross-correlating its output with the
input finds spurious peaks (on espeak-ng sentences the runner's search landed 90-570 samples
away from the true 16 kHz delay of ~320). The delay is a property of the mode, so the adapter
removes it itself (``MODE_DELAY``, measured here as the shift that maximizes STOI on espeak-ng
sentences: 160 samples at 8 kHz for 1200-3200, about 220 for 700C, a flat optimum) and sets
``max_align_lag = 0`` so the runner does not move the output again. encode appends that many
zeros so the tail is coded.
"""

from __future__ import annotations

import atexit
import ctypes
import dataclasses
import os
import shutil
import tempfile

import numpy as np

from bench.codecs.base import Codec, CodecError, EncodeResult, require

#: mode -> (samples per frame at 8 kHz, bits per frame), as libcodec2 reports them.
MODES = {3200: (160, 64), 2400: (160, 48), 1600: (320, 64), 1400: (320, 56),
         1300: (320, 52), 1200: (320, 48), 700: (320, 28)}
#: Encoder + decoder delay in samples at 8 kHz (measured, see the module docstring).
MODE_DELAY = {3200: 160, 2400: 160, 1600: 160, 1400: 160, 1300: 160, 1200: 160, 700: 220}
#: bitrate -> libcodec2's CODEC2_MODE_* constant (codec2.h).
MODE_IDS = {3200: 0, 2400: 1, 1600: 2, 1400: 3, 1300: 4, 1200: 5, 700: 8}

_PRIVATE_LIB: str | None = None


def _private_libcodec2() -> str:
    """Path of a private copy of the libcodec2 that pycodec2 loaded (copied once per process)."""
    global _PRIVATE_LIB
    if _PRIVATE_LIB is not None:
        return _PRIVATE_LIB
    source = None
    try:
        with open("/proc/self/maps") as fh:  # the library pycodec2's extension is linked to
            source = next((line.split()[-1] for line in fh if "libcodec2" in line and "/" in line), None)
    except OSError:
        pass
    if source is None:
        import ctypes.util

        found = ctypes.util.find_library("codec2")
        source = found if found and os.path.isabs(found) else None
    if source is None:
        raise CodecError("cannot locate the libcodec2 shared library that pycodec2 uses")
    folder = tempfile.mkdtemp(prefix="bench-codec2-")
    atexit.register(shutil.rmtree, folder, True)
    _PRIVATE_LIB = shutil.copy(source, os.path.join(folder, "libcodec2-private.so"))
    return _PRIVATE_LIB


def _decode_frames(mode: int, frames: np.ndarray, samples_per_frame: int) -> np.ndarray:
    """Decode uint8 frames ``[T, bytes]`` with a freshly loaded libcodec2 (see module docstring)."""
    import _ctypes

    lib = ctypes.CDLL(_private_libcodec2(), mode=os.RTLD_LOCAL | os.RTLD_NOW)
    try:
        lib.codec2_create.restype = ctypes.c_void_p
        lib.codec2_create.argtypes = [ctypes.c_int]
        lib.codec2_decode.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p]
        lib.codec2_destroy.argtypes = [ctypes.c_void_p]
        state = lib.codec2_create(MODE_IDS[mode])
        if not state:
            raise CodecError(f"codec2_create({mode}) failed")
        out = np.zeros(len(frames) * samples_per_frame, dtype=np.int16)
        try:
            for i, frame in enumerate(frames):
                lib.codec2_decode(state, out[i * samples_per_frame :].ctypes.data, frame.tobytes())
        finally:
            lib.codec2_destroy(state)
    finally:
        _ctypes.dlclose(lib._handle)  # unload, so the next call starts from a fresh generator
    return out


@dataclasses.dataclass(frozen=True)
class Codec2Config:
    #: Bits per second: 3200, 2400, 1600, 1400, 1300, 1200 or 700 (700C).
    mode: int = 3200

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {sorted(MODES)}, got {self.mode}")


class Codec2(Codec):
    """Codec 2 frames as tokens: K streams of up to 8 bits each, one token frame per codec frame."""

    Config = Codec2Config
    version = "1"
    extra = "baselines"
    #: decode removes the mode's delay; the runner must not re-align random-phase output
    max_align_lag = 0.0

    @property
    def sample_rate(self) -> int:
        return 8_000

    @property
    def samples_per_frame(self) -> int:
        return MODES[self.config.mode][0]

    @property
    def frame_bits(self) -> int:
        return MODES[self.config.mode][1]

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.samples_per_frame

    @property
    def vocab_sizes(self) -> tuple[int, ...]:
        full, rest = divmod(self.frame_bits, 8)
        return (256,) * full + ((2**rest,) if rest else ())

    @property
    def frame_bytes(self) -> int:
        return -(-self.frame_bits // 8)

    def _load(self) -> None:
        self._pycodec2 = require("pycodec2", extra="baselines")
        probe = self._pycodec2.Codec2(self.config.mode)
        facts = (probe.samples_per_frame(), probe.bits_per_frame())
        if facts != MODES[self.config.mode]:
            raise CodecError(f"libcodec2 mode {self.config.mode} reports {facts}, expected {MODES[self.config.mode]}")
        _private_libcodec2()

    def encode(self, wave: np.ndarray) -> EncodeResult:
        self.load()
        x = np.asarray(wave, dtype=np.float64)
        spf = self.samples_per_frame
        n_frames = max(1, -(-(len(x) + MODE_DELAY[self.config.mode]) // spf))
        pcm = np.zeros(n_frames * spf, dtype=np.int16)
        pcm[: len(x)] = np.clip(np.round(x * 32767.0), -32768, 32767)
        c2 = self._pycodec2.Codec2(self.config.mode)  # fresh state: deterministic per call
        frames = np.empty((n_frames, self.frame_bytes), dtype=np.uint8)
        for i in range(n_frames):
            frames[i] = np.frombuffer(c2.encode(pcm[i * spf : (i + 1) * spf]), dtype=np.uint8)
        tokens = frames.astype(np.int64).T.copy()  # [K, T]
        rest = self.frame_bits % 8
        if rest:  # the last byte holds `rest` bits at its top; the low bits are padding
            tokens[-1] >>= 8 - rest
        payload = -(-n_frames * self.frame_bits // 8)
        return EncodeResult(tokens=tokens, payload_bytes=payload)

    def decode(self, tokens: np.ndarray) -> np.ndarray:
        self.load()
        tokens = np.asarray(tokens, dtype=np.int64)
        if tokens.ndim != 2 or tokens.shape[0] != self.num_streams:
            raise CodecError(f"expected tokens [{self.num_streams}, T], got {tokens.shape}")
        frames = tokens.T.copy()
        rest = self.frame_bits % 8
        if rest:
            frames[:, -1] <<= 8 - rest
        y = _decode_frames(self.config.mode, frames.astype(np.uint8), self.samples_per_frame)
        y = y[MODE_DELAY[self.config.mode] :]
        return (y.astype(np.float32) / 32768.0).astype(np.float32)
