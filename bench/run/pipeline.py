"""The per-item pipeline (runs in the driver or a worker): load -> validity gate -> resample ->
encode -> decode -> resample to 16 kHz -> align -> each task measures. It never raises for a bad
item: every fault becomes a failure with its reason."""

from __future__ import annotations

import dataclasses
import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.audio import (MAX_INPUT_S, MIN_INPUT_S, METRIC_SR, AudioError, align, check_duration, check_signal,
                         check_wave, resample)
from bench.codecs.base import Codec, CodecError, EncodeResult, check_tokens, token_bitrate
from bench.run.options import Job
from bench.store import CodecOutput, TaskResult, split_arrays
from bench.tasks.base import Failed, ItemContext, Measurement, Task

if TYPE_CHECKING:
    from bench.run.options import RunOptions


def run_codec(codec: Codec, wave: np.ndarray, sr: int, max_lag_s: float) -> tuple[CodecOutput, np.ndarray]:
    """Encode and decode one input; returns the output (aligned 16 kHz reconstruction) and the
    16 kHz reference."""
    timings: dict[str, float] = {}
    t = time.perf_counter()
    x = resample(wave, sr, codec.sample_rate)
    ref16 = resample(wave, sr, METRIC_SR)
    timings["resample"] = time.perf_counter() - t
    t, c = time.perf_counter(), time.process_time()
    encoded = codec.encode(x)
    timings["encode"] = time.perf_counter() - t
    timings["encode_cpu"] = time.process_time() - c
    if not isinstance(encoded, EncodeResult):
        raise CodecError(f"encode returned {type(encoded).__name__}, expected an EncodeResult")
    tokens = check_tokens(codec, encoded.tokens)
    t, c = time.perf_counter(), time.process_time()
    decoded = codec.decode(tokens)
    if not isinstance(decoded, np.ndarray):
        raise CodecError(f"decode returned {type(decoded).__name__}, expected a numpy array")
    y = check_wave(decoded, "decoded audio")
    timings["decode"] = time.perf_counter() - t
    timings["decode_cpu"] = time.process_time() - c
    t = time.perf_counter()
    y16 = resample(y, codec.sample_rate, METRIC_SR)
    # A codec that removes its own delay and keeps no waveform phase (a vocoder) may bound or
    # switch off the search: cross-correlation peaks of random-phase output are meaningless.
    if codec.max_align_lag is not None:
        max_lag_s = min(max_lag_s, codec.max_align_lag)
    recon, lag = align(ref16, y16, int(max_lag_s * METRIC_SR))
    timings["align"] = time.perf_counter() - t
    duration = len(wave) / float(sr)
    out = CodecOutput(
        status="ok", tokens=tokens, recon=recon.astype(np.float32), lag=lag, duration=duration,
        token_bps=token_bitrate(codec, tokens, duration),
        payload_bps=None if encoded.payload_bytes is None else 8.0 * encoded.payload_bytes / duration,
        timings=timings,
    )
    return out, ref16


@dataclasses.dataclass(frozen=True)
class ItemSettings:
    """What the per-item pipeline needs from the run options (sent to workers)."""

    max_lag_s: float = 0.25
    max_duration_s: float | None = MAX_INPUT_S

    @classmethod
    def of(cls, opts: "RunOptions") -> "ItemSettings":
        return cls(max_lag_s=opts.max_lag, max_duration_s=opts.max_duration)


def _codec_stage(codec: Codec, job: Job, settings: ItemSettings) -> tuple[CodecOutput, CodecOutput | None, np.ndarray | None]:
    """Load the item and run the codec unless cached: (output, new output or None, 16 kHz ref)."""
    new_output: CodecOutput | None = None
    ref16 = None
    output = job.cached
    try:
        t = time.perf_counter()
        _check_declared_duration(job, settings)
        try:
            audio = job.item.load()
        except AudioError:
            raise
        except _ITEM_FAULTS as exc:
            raise AudioError(f"cannot load: {_reason(exc)}") from None
        check_signal(audio.wave, audio.sample_rate, MIN_INPUT_S, settings.max_duration_s)
        load_s = time.perf_counter() - t
        if output is None:
            try:
                new_output, ref16 = run_codec(codec, audio.wave, audio.sample_rate, settings.max_lag_s)
            except _ITEM_FAULTS as exc:  # whatever a plugin raises fails this item only
                new_output = CodecOutput(status="failed", reason=f"codec failed: {_reason(exc)}")
            new_output.notes = list(audio.notes) + (
                [f"resampled from {audio.sample_rate} Hz"] if audio.sample_rate != METRIC_SR else [])
            new_output.timings["load"] = load_s
            new_output.duration = audio.duration
            output = new_output
        elif output.status == "ok":
            ref16 = resample(audio.wave, audio.sample_rate, METRIC_SR)
    except AudioError as exc:
        output = new_output = CodecOutput(status="failed", reason=f"bad input: {exc}")
    return output, new_output, ref16


def process_jobs(codec: Codec, tasks: dict[str, Task], jobs: list[Job], settings: ItemSettings) -> list[dict[str, Any]]:
    """Everything a chunk of items needs; never raises for a bad item (the reason is recorded).

    The codec runs item by item; each task then measures the chunk's items in one
    ``measure_batch`` call (a chunk is one item unless a task declares a larger
    ``batch_size``).
    """
    c_start = time.process_time()
    results = []
    contexts: dict[int, ItemContext] = {}
    for i, job in enumerate(jobs):
        t = time.perf_counter()
        output, new_output, ref16 = _codec_stage(codec, job, settings)
        results.append({"item_id": job.item.id, "item_hash": job.item_hash, "output": new_output,
                        "tasks": {}, "status": output, "t": time.perf_counter() - t})
        if output.status == "ok":
            contexts[i] = ItemContext(
                item_id=job.item.id, reference=ref16, reconstruction=output.recon, tokens=output.tokens,
                labels=job.item.labels(), lag=output.lag, item_hash=job.item_hash, codec=codec,
            )
    for key, task in tasks.items():
        idx = [i for i, job in enumerate(jobs) if key in job.task_keys]
        for i in idx:
            if results[i]["status"].status != "ok":
                results[i]["tasks"][key] = TaskResult(key, "failed", results[i]["status"].reason)
        todo_all = [i for i in idx if i in contexts]
        size = max(1, int(task.batch_size))
        for start in range(0, len(todo_all), size):  # each task measures its own batch size
            _measure(task, key, todo_all[start : start + size], contexts, results)
    out = []
    for job, r in zip(jobs, results):
        if r["output"] is not None:
            r["output"].timings["item_total"] = r["t"] + sum(tr.seconds for tr in r["tasks"].values())
        out.append({"item_id": r["item_id"], "item_hash": r["item_hash"], "output": r["output"],
                    "tasks": [r["tasks"][k] for k in tasks if k in r["tasks"]]})
    if out:  # CPU-seconds of this chunk in this process (the run's accounting, RunReport.cpu)
        codec_cpu = sum(r["output"].timings.get("encode_cpu", 0.0) + r["output"].timings.get("decode_cpu", 0.0)
                        for r in out if r["output"] is not None)
        measure_cpu = sum(tr.cpu_seconds for r in out for tr in r["tasks"])
        out[0]["cpu"] = {"chunk": time.process_time() - c_start, "codec": codec_cpu, "measure": measure_cpu}
    return out


def add_cpu(acc: dict[str, float], cpu: dict[str, float]) -> None:
    """Add CPU-seconds by kind (the keys of ``RunReport.cpu``) into ``acc``."""
    for k, v in cpu.items():
        acc[k] = acc.get(k, 0.0) + v


def _measure(task: Task, key: str, todo: list[int], contexts: dict[int, ItemContext],
             results: list[dict[str, Any]]) -> None:
    """One ``measure_batch`` call; a fault fails only the items of this batch, with the reason."""
    t, c = time.perf_counter(), time.process_time()
    try:
        measured = task.measure_batch([contexts[i] for i in todo])
        if not isinstance(measured, (list, tuple)) or len(measured) != len(todo):
            got = len(measured) if isinstance(measured, (list, tuple)) else type(measured).__name__
            raise RuntimeError(f"measure_batch returned {got} results for {len(todo)} items")
        per_item = (time.perf_counter() - t) / len(todo)
        per_item_cpu = (time.process_time() - c) / len(todo)
        done = {}
        for i, m in zip(todo, measured):
            if not isinstance(m, Measurement):
                raise RuntimeError(f"measure returned {type(m).__name__}, expected a Measurement")
            values = {name: _checked_value(v) for name, v in m.values.items()}
            split_arrays(m.extras)  # extras the store cannot keep fail here, not in the driver
            done[i] = TaskResult(key, "ok", None, values, m.extras, per_item, per_item_cpu)
        for i, tr in done.items():
            results[i]["tasks"][key] = tr
    except _ITEM_FAULTS as exc:  # a task bug must not lose the run: fail these items, go on
        per_item = (time.perf_counter() - t) / len(todo)
        for i in todo:
            results[i]["tasks"][key] = TaskResult(key, "failed", f"{task.name} failed: {_reason(exc)}",
                                                  seconds=per_item, cpu_seconds=(time.process_time() - c) / len(todo))


def _check_declared_duration(job: Job, settings: ItemSettings) -> None:
    """Refuse a file longer than ``--max-duration`` from its header, before reading it (a
    3-hour 48 kHz stereo file would take gigabytes just to be refused)."""
    path = job.item.path
    if settings.max_duration_s is None or not path or job.item.error:
        return
    try:
        import soundfile as sf

        info = sf.info(path)
    except Exception:  # noqa: BLE001 - unreadable files get their reason from load()
        return
    if info.samplerate > 0:
        check_duration(info.frames / info.samplerate, 0.0, settings.max_duration_s)


#: What a codec or task may raise on one item without stopping the run (everything but Ctrl-C).
_ITEM_FAULTS = (Exception, SystemExit, GeneratorExit)


def _checked_value(v: Any) -> Any:
    """A metric value as stored: a finite float, or Failed (NaN, inf and non-numbers are
    failures with a reason, never scores)."""
    if isinstance(v, Failed):
        return v
    try:
        f = float(v)
    except (TypeError, ValueError):
        return Failed(f"metric returned {type(v).__name__}, not a number")
    return f if math.isfinite(f) else Failed(f"metric returned {f}")


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _failed_item(job: Job, reason: str) -> dict[str, Any]:
    """The result of an item whose processing was lost (its worker died or timed out)."""
    output = None if job.cached is not None else CodecOutput(status="failed", reason=reason)
    return {"item_id": job.item.id, "item_hash": job.item_hash, "output": output,
            "tasks": [TaskResult(key, "failed", reason) for key in job.task_keys]}
