"""``bench cost``: what a codec costs to run — speed, algorithmic latency and memory.

For each codec (all on the CPU):

* **Real-time factors.** ``encode`` and ``decode`` of a fixed clip (``probe_signal``, the
  conformance suite's seeded speech-like tone, ``seconds`` long at the codec's rate), timed with
  ``time.perf_counter`` after one untimed warm-up call; the median of ``repeats`` calls divided
  by the clip's duration (RTF < 1 is faster than real time). Once per thread count (default 1
  and 2), with BLAS/OpenMP pools limited by ``threadpoolctl`` and torch's intra-op threads set
  when torch is loaded. Timings depend on the machine and its load: state both with the table.
* **Algorithmic latency** (impulse response of the whole encode-decode chain). Decode
  ``silence`` and ``silence + impulse at t`` (amplitude 0.5, ``t`` at 16 positions spread over one
  token frame, and at least 40 ms, near the clip's middle) and find the earliest output sample where the two differ
  by more than ``tolerance``. ``offset = that index - t`` (ms): positive, the output answers
  late (a delay); negative, output *before* the impulse depends on it, so a streaming version
  would have to wait for that much future input (look-ahead: frame blocking, overlapping
  windows, smoothing). ``latency_ms`` is the largest ``|offset|`` over the positions, which for
  a frame codec is about one frame (an impulse at a frame's end changes the frame's start).
  Limitations: it sees only dependence larger than ``tolerance``; codecs whose output anywhere
  depends on the whole input (iterative Griffin-Lim, F0 smoothing over the utterance) reach the
  clip's start, reported as ``reaches_start`` (the latency is then at least the offset found,
  bounded by the clip, not a property of a streaming variant); encoders that trim their own delay
  (MP3, Opus, Codec 2 adapters) are measured after the trim, i.e. as the harness sees them.
* **Peak memory.** In a fresh ``python`` subprocess per codec: the resident set size after
  importing bench, building the codec and making the clip (``VmRSS`` of ``/proc/self/status``),
  then the peak resident set size after load + one encode and decode of the clip (``VmHWM``);
  ``peak_rss_mb`` is the latter and ``rss_delta_mb`` the difference (what loading and running
  the codec added). Not ``resource.getrusage``'s ``ru_maxrss``: Linux carries the parent's peak
  over ``fork`` + ``exec``, so after a heavy codec every later child would report that peak.
  Without ``/proc`` (not Linux) it falls back to ``ru_maxrss``, with that caveat. It counts native memory (FFT
  buffers, torch weights), which ``tracemalloc`` would miss.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np

#: Built-in codecs measured by default and in docs/cost.md: the cheap ones.
DEFAULT_CODECS = ("identity", "mulaw-8bit", "mp3-16k", "opus-8k", "dct-q4", "codec2-1200", "rvq-8q",
                  "dmel-80x16", "world-5.3k")


@contextlib.contextmanager
def threads(n: int):
    """Limit BLAS/OpenMP pools (threadpoolctl) and torch's intra-op threads to ``n``."""
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a core dependency
        limiter: Any = contextlib.nullcontext()
    else:
        limiter = threadpool_limits(n)
    try:
        with limiter:
            yield
    finally:
        if torch is not None and before is not None:
            torch.set_num_threads(before)


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up: first-call costs (imports, caches, plans) are not the steady state
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def real_time_factors(codec, seconds: float = 5.0, repeats: int = 5, thread_counts=(1, 2),
                      seed: int = 0) -> dict[str, dict[str, float]]:
    """``{"1": {"encode_rtf": .., "decode_rtf": ..}, "2": {...}}`` (median seconds / clip seconds)."""
    from bench.testing import probe_signal

    codec.load()
    wave = probe_signal(codec.sample_rate, seconds, seed=seed)
    duration = len(wave) / codec.sample_rate
    tokens = codec.encode(wave).tokens
    out = {}
    for n in thread_counts:
        with threads(n):
            enc = _median_seconds(lambda: codec.encode(wave), repeats)
            dec = _median_seconds(lambda: codec.decode(tokens), repeats)
        out[str(n)] = {"encode_rtf": enc / duration, "decode_rtf": dec / duration}
    return out


def impulse_latency(codec, tolerance: float = 1e-4, positions: int = 16, seconds: float = 1.0,
                    span_s: float = 0.04) -> dict[str, Any]:
    """Algorithmic latency from the impulse test (see the module docstring)."""
    codec.load()
    sr = codec.sample_rate
    n = int(seconds * sr)
    # positions cover one token frame, and at least span_s: the tokens of byte-stream codecs (MP3,
    # Opus) are bytes, 1 ms apart, while their packets are 20-36 ms long
    span = max(1, int(round(codec.hop_length)), int(span_s * sr))
    silence = np.zeros(n, dtype=np.float32)
    base = np.asarray(codec.decode(codec.encode(silence).tokens), dtype=np.float64)
    offsets, reaches_start, unanswered = [], False, 0
    start = n // 2
    for j in range(positions):
        t = start + (j * span) // positions
        x = silence.copy()
        x[t] = 0.5
        y = np.asarray(codec.decode(codec.encode(x).tokens), dtype=np.float64)
        m = min(len(y), len(base))
        differs = np.flatnonzero(np.abs(y[:m] - base[:m]) > tolerance)
        if len(differs) == 0:
            unanswered += 1  # the impulse left no trace above the tolerance (a lossy codec may drop it)
            continue
        first = int(differs[0])
        reaches_start |= first == 0
        offsets.append((first - t) / sr * 1000.0)
    if not offsets:
        return {"latency_ms": None, "offset_min_ms": None, "offset_max_ms": None, "reaches_start": False,
                "unanswered": unanswered, "positions": positions, "tolerance": tolerance,
                "note": "no decoded sample differed: the impulse was not transmitted"}
    return {"latency_ms": max(abs(o) for o in offsets), "offset_min_ms": min(offsets),
            "offset_max_ms": max(offsets), "reaches_start": reaches_start, "unanswered": unanswered,
            "positions": positions, "tolerance": tolerance}


_MEMORY_SCRIPT = r"""
import json, resource, sys
from bench.run.options import build_codec
from bench.testing import probe_signal

def status_kb(field):
    # /proc/self/status VmRSS (now) and VmHWM (peak) belong to this exec'd image; ru_maxrss would
    # carry over the parent's peak at fork time (Linux keeps it across exec)
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

codec = build_codec(sys.argv[1])
wave = probe_signal(codec.sample_rate, float(sys.argv[2]))
before = status_kb("VmRSS")
codec.load()
codec.decode(codec.encode(wave).tokens)
print(json.dumps({"before_kb": before, "after_kb": status_kb("VmHWM")}))
"""


def peak_memory(spec: str, seconds: float = 5.0) -> dict[str, float]:
    """Peak RSS (MiB) of a fresh subprocess that loads ``spec`` and codes one clip."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, spec, str(seconds)], env=env,
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"memory probe failed: {proc.stderr.strip().splitlines()[-1:] or proc.returncode}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"peak_rss_mb": data["after_kb"] / 1024.0, "rss_delta_mb": (data["after_kb"] - data["before_kb"]) / 1024.0}


def measure(spec: str, *, seconds: float = 5.0, repeats: int = 5, thread_counts=(1, 2), memory: bool = True,
            tolerance: float = 1e-4) -> dict[str, Any]:
    """Every cost figure of one codec; a part that fails is recorded with its reason, not scored."""
    from bench.run.options import build_codec

    codec = build_codec(spec)
    row: dict[str, Any] = {"codec": spec, "sample_rate": codec.sample_rate,
                           "nominal_kbps": codec.nominal_bitrate / 1000.0, "errors": {}}
    parts = [("rtf", lambda: real_time_factors(codec, seconds, repeats, thread_counts)),
             ("latency", lambda: impulse_latency(codec, tolerance))]
    if memory:
        parts.append(("memory", lambda: peak_memory(spec, seconds)))
    for key, fn in parts:
        try:
            row[key] = fn()
        except Exception as exc:  # recorded, not scored
            row[key] = None
            row["errors"][key] = f"{type(exc).__name__}: {exc}"
    return row


def machine() -> dict[str, Any]:
    import platform

    info: dict[str, Any] = {"python": platform.python_version(), "machine": platform.machine(),
                            "cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as fh:
            info["cpu"] = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), None)
    except OSError:
        info["cpu"] = platform.processor() or None
    try:
        info["load_1min"] = round(os.getloadavg()[0], 2)
    except OSError:
        pass
    return info


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def render_markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    counts = meta["threads"]
    head = ["codec", "kbps"]
    for n in counts:
        head += [f"enc RTF ({n}t)", f"dec RTF ({n}t)"]
    head += ["latency ms", "offsets ms", "peak RSS MiB", "+RSS MiB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["codec"], _fmt(r["nominal_kbps"])]
        for n in counts:
            rtf = (r.get("rtf") or {}).get(str(n), {})
            cells += [_fmt(rtf.get("encode_rtf")), _fmt(rtf.get("decode_rtf"))]
        lat = r.get("latency") or {}
        latency = _fmt(lat.get("latency_ms"))
        if lat.get("reaches_start"):
            latency = f">= {latency} (whole clip)"
        if lat.get("unanswered"):
            latency += f" ({lat['unanswered']}/{lat['positions']} impulses lost)"
        offsets = (f"{lat['offset_min_ms']:.3g} .. {lat['offset_max_ms']:.3g}"
                   if lat.get("offset_min_ms") is not None else "—")
        mem = r.get("memory") or {}
        cells += [latency, offsets, _fmt(mem.get("peak_rss_mb")), _fmt(mem.get("rss_delta_mb"))]
        lines.append("| " + " | ".join(cells) + " |")
    errors = [f"- {r['codec']}: " + "; ".join(f"{k}: {v}" for k, v in r["errors"].items()) for r in rows if r["errors"]]
    m = meta["machine"]
    foot = [f"\nClip: {meta['seconds']:g} s probe signal, median of {meta['repeats']} runs; "
            f"latency tolerance {meta['tolerance']:g}. Machine: {m.get('cpu')}, {m.get('cpus')} CPUs, "
            f"load average {m.get('load_1min')} at the start, Python {m.get('python')}."]
    if errors:
        foot += ["\nFailed measurements (not scored):"] + errors
    return "\n".join(lines + foot) + "\n"


def add_cost_command(sub) -> None:
    p = sub.add_parser("cost", help="real-time factors, algorithmic latency and peak memory per codec",
                       description="Measure encode/decode real-time factors on 1 and 2 threads, algorithmic "
                                   "latency (impulse test) and peak memory for each codec (see docs/cost.md).")
    p.add_argument("--codec", "-c", action="append", dest="codecs",
                   help=f"codec name or preset (repeatable; default: {' '.join(DEFAULT_CODECS)})")
    p.add_argument("--seconds", type=float, default=5.0, help="clip length in seconds (default 5)")
    p.add_argument("--repeats", type=int, default=5, help="timed calls per figure; the median is kept (default 5)")
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    p.add_argument("--tolerance", type=float, default=1e-4, help="impulse test: smallest difference counted (default 1e-4)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocess")
    p.add_argument("--format", choices=["md", "json"], default="md", help="output format (default md)")
    p.add_argument("--output", "-o", default=None, help="write here instead of stdout")
    p.set_defaults(func=cmd_cost)


def run_cost(codecs: list[str], *, seconds: float = 5.0, repeats: int = 5, thread_counts=(1, 2),
             memory: bool = True, tolerance: float = 1e-4) -> dict[str, Any]:
    meta = {"machine": machine(), "seconds": seconds, "repeats": repeats, "threads": list(thread_counts),
            "tolerance": tolerance, "rss_source": "VmHWM and VmRSS of /proc/self/status in a fresh subprocess"}
    rows = [measure(c, seconds=seconds, repeats=repeats, thread_counts=thread_counts, memory=memory,
                    tolerance=tolerance) for c in codecs]
    return {"meta": meta, "rows": rows}


def cmd_cost(args) -> int:
    counts = tuple(int(t) for t in str(args.threads).split(",") if t.strip())
    if not counts or min(counts) < 1 or args.repeats < 1 or args.seconds <= 0:
        raise argparse.ArgumentTypeError("--threads, --repeats and --seconds must be positive")
    result = run_cost(list(args.codecs or DEFAULT_CODECS), seconds=args.seconds, repeats=args.repeats,
                      thread_counts=counts, memory=not args.no_memory, tolerance=args.tolerance)
    text = (json.dumps(result, indent=2) + "\n" if args.format == "json"
            else render_markdown(result["rows"], result["meta"]))
    if args.output:
        with open(args.output, "w") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return 0
