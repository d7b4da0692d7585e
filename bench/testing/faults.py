"""Faulty plugins for fault-injection tests: a codec and a task that misbehave on chosen items.

Both pass audio through unchanged (16-bit PCM tokens) and fault only on inputs whose length in
samples is listed in ``faults`` (``"16001:segfault+16002:raise-TypeError"``: "+" between entries, since commas separate a spec's options), so one run mixes
good items and every kind of fault. Not registered by default; tests register them::

    CODECS.register("fault", "bench.testing.faults:FaultCodec")
    TASKS.register("fault-task", "bench.testing.faults:FaultTask")

Modes: ``raise-NAME`` (any built-in exception type, e.g. raise-MemoryError, raise-SystemExit),
``none`` (return None), ``nan`` (NaN output), ``hang`` (sleep for an hour), ``exit``
(``os._exit(3)``), ``segfault`` (read address 0), ``bad-tokens`` (tokens outside the vocabulary).
"""

from __future__ import annotations

import builtins
import dataclasses
import os
import time

import numpy as np

from bench.codecs.base import Codec, EncodeResult
from bench.tasks.base import ItemContext, Measurement, MetricSpec, Task

MODES = ("none", "nan", "hang", "exit", "segfault", "bad-tokens")


def parse_faults(spec: str) -> dict[int | str, str]:
    """``"16001:segfault+*:hang"`` -> {16001: "segfault", "*": "hang"} ("*": every other input)."""
    out: dict[int | str, str] = {}
    for part in filter(None, (p.strip() for p in spec.replace("+", ",").split(","))):
        n, _, mode = part.partition(":")
        if mode not in MODES and not (mode.startswith("raise-") and _exception(mode[6:]) is not None):
            raise ValueError(f"unknown fault mode {mode!r}")
        out[n if n == "*" else int(n)] = mode
    return out


def fault_for(spec: str, n: int) -> str | None:
    faults = parse_faults(spec)
    return faults.get(n, faults.get("*"))


def _exception(name: str) -> type[BaseException] | None:
    exc = getattr(builtins, name, None)
    return exc if isinstance(exc, type) and issubclass(exc, BaseException) else None


def trigger(mode: str) -> object:
    """Misbehave as ``mode`` says; returns the bad value for the value-returning modes."""
    if mode.startswith("raise-"):
        exc = _exception(mode[6:])
        if exc is UnicodeDecodeError:
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "injected fault")
        raise exc("injected fault")
    if mode == "hang":
        time.sleep(3600)
    if mode == "exit":
        os._exit(3)
    if mode == "segfault":
        import ctypes

        ctypes.string_at(0)
    if mode == "nan":
        return float("nan")
    return None


@dataclasses.dataclass(frozen=True)
class FaultConfig:
    faults: str = ""
    #: "encode" or "decode": where the codec faults
    where: str = "encode"


class FaultCodec(Codec):
    Config = FaultConfig
    sample_rate = 16_000
    frame_rate = 16_000.0
    vocab_sizes = (65_536,)

    def _fault(self, n: int) -> str | None:
        return fault_for(self.config.faults, n)

    def encode(self, wave: np.ndarray) -> EncodeResult:
        mode = self._fault(len(wave)) if self.config.where == "encode" else None
        if mode:
            bad = trigger(mode)
            if mode == "bad-tokens":
                return EncodeResult(np.full((1, len(wave)), 70_000, dtype=np.int64))
            if mode == "nan":
                return EncodeResult(np.full((1, len(wave)), bad))  # float tokens: rejected
            return bad  # type: ignore[return-value]
        pcm = np.clip(np.round(np.asarray(wave, dtype=np.float64) * 32768.0), -32768, 32767)
        return EncodeResult((pcm.astype(np.int64) + 32768)[None, :])

    def decode(self, tokens: np.ndarray) -> np.ndarray:
        mode = self._fault(tokens.shape[1]) if self.config.where == "decode" else None
        if mode:
            bad = trigger(mode)
            return np.full(tokens.shape[1], np.nan, dtype=np.float32) if mode == "nan" else bad  # type: ignore
        return ((np.asarray(tokens[0], dtype=np.float64) - 32768.0) / 32768.0).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class FaultTaskConfig:
    faults: str = ""


class FaultTask(Task):
    """One metric, the reconstruction's RMS in dB, or a fault."""

    name = "fault-task"
    Config = FaultTaskConfig
    metrics = (MetricSpec("level_db", "dB", True, "RMS level of the reconstruction"),)

    def measure(self, item: ItemContext) -> Measurement:
        mode = fault_for(self.config.faults, len(item.reference))
        if mode:
            bad = trigger(mode)
            if mode == "nan":
                return Measurement({"level_db": bad})
            return bad  # type: ignore[return-value]
        rms = float(np.sqrt(np.mean(np.square(item.reconstruction, dtype=np.float64))))
        return Measurement({"level_db": 20 * np.log10(max(rms, 1e-12))})
