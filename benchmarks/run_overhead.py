"""Where the time of a run goes, what a repeated run costs, and how cost grows with size.

    python benchmarks/run_overhead.py [--codec mulaw-8bit] [--dataset D] [--limit N] [--workers 1]

Prints, from one process and one set of runs:
  1. a first run's CPU-seconds (user + system of this process and its worker processes) split
     into codec (encode + decode), metrics (task measure) and harness (the rest: start-up,
     imports and model loading, loading and resampling items, alignment, storage, summaries,
     process plumbing); CPU, not wall, so that other jobs on the machine do not inflate it;
     then the old wall-based split;
  2. a second, identical run's wall time and its ratio to the first (everything cached);
  3. seconds per item at a quarter, half and all of the items (cost growth).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.datasets import DEFAULT_DATASET  # noqa: E402
from bench.runner import RunOptions, run  # noqa: E402


def stage_seconds(db: str) -> dict[str, float]:
    out: dict[str, float] = {}
    with sqlite3.connect(db) as conn:
        for (timings,) in conn.execute("SELECT timings FROM codec_outputs"):
            for k, v in json.loads(timings or "{}").items():
                out[k] = out.get(k, 0.0) + v
        out["measure"], out["measure_cpu"] = conn.execute(
            "SELECT COALESCE(SUM(seconds), 0), COALESCE(SUM(cpu_seconds), 0) FROM task_rows").fetchone()
    return out


def cpu_split() -> tuple[float, float]:
    """User + system CPU-seconds of this process, and of its reaped children."""
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime, b.ru_utime + b.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--codec", default="mulaw-8bit")
    ap.add_argument("--dataset", default=DEFAULT_DATASET)
    ap.add_argument("--task", action="append", dest="tasks")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    tasks = tuple(args.tasks or ("reconstruction",))

    with tempfile.TemporaryDirectory() as tmp:
        def opts(out: str, limit: int | None) -> RunOptions:
            return RunOptions(codec=args.codec, dataset=args.dataset, tasks=tasks, limit=limit,
                              workers=args.workers, out=out, progress=False)

        t, (s0, c0) = time.perf_counter(), cpu_split()
        first = run(opts(os.path.join(tmp, "a"), args.limit))
        wall1 = time.perf_counter() - t
        s1, c1 = cpu_split()  # the pool's workers are joined when the run ends
        driver, workers = s1 - s0, c1 - c0
        cpu1 = driver + workers
        t = time.perf_counter()
        second = run(opts(os.path.join(tmp, "a"), args.limit))
        wall2 = time.perf_counter() - t
        st = stage_seconds(os.path.join(tmp, "a", "bench.sqlite"))
        n = first.n_items
        codec_s = st.get("encode", 0.0) + st.get("decode", 0.0)
        metric_s = st.get("measure", 0.0)
        busy = wall1 * max(1, args.workers)  # core-seconds available to the run
        harness_s = busy - codec_s - metric_s
        print(f"codec={args.codec} dataset={args.dataset} tasks={','.join(tasks)} items={n} workers={args.workers}")
        print(f"first run:  {wall1:7.2f} s wall ({wall1 / n * 1000:.0f} ms per item), {cpu1:.2f} CPU-s")
        cc = first.cpu
        rest = cpu1 - cc["codec"] - cc["measure"] - cc["summarize"]
        fixed = cc.get("startup", 0.0) + cc.get("load", 0.0)
        print(f"  CPU: codec (encode+decode) {cc['codec']:7.2f} s  {100 * cc['codec'] / cpu1:5.1f} %")
        print(f"       metrics (measure)     {cc['measure']:7.2f} s  {100 * cc['measure'] / cpu1:5.1f} %")
        print(f"       summaries (records)   {cc['summarize']:7.2f} s  {100 * cc['summarize'] / cpu1:5.1f} %")
        print(f"       harness (the rest)    {rest:7.2f} s  {100 * rest / cpu1:5.1f} %   of which per-item "
              f"plumbing {cc['chunk'] - cc['codec'] - cc['measure']:.2f} s; outside the items and summaries "
              f"(start-up, imports, model loading, driver) {cpu1 - cc['chunk'] - cc['summarize']:.2f} s")
        print(f"       of the rest: worker start-up {cc.get('startup', 0.0):.2f} s and loading codec and task models "
              f"{cc.get('load', 0.0):.2f} s (a plain script pays these too, once per process); bench's own "
              f"{rest - fixed:.2f} s = {100 * (rest - fixed) / cpu1:.1f} % of the run")
        print(f"  CPU by process: driver {driver:.2f} s, worker processes {workers:.2f} s "
              f"(outside their items: {workers - cc['chunk']:.2f} s)" if opts("", None).isolated() else
              f"  CPU by process: all in this process (in-process executor): {driver:.2f} s")
        print("  wall-based (core-seconds = wall x workers; inflated by other jobs on the machine):")
        print(f"  codec (encode+decode) {codec_s:7.2f} s  {100 * codec_s / busy:5.1f} %")
        print(f"  metrics (measure)     {metric_s:7.2f} s  {100 * metric_s / busy:5.1f} %")
        print(f"  harness (the rest)    {harness_s:7.2f} s  {100 * harness_s / busy:5.1f} %"
              f"   of which load {st.get('load', 0):.2f} s, resample {st.get('resample', 0):.2f} s, "
              f"align {st.get('align', 0):.2f} s")
        ph = first.phases
        print(f"  phases: setup {ph['setup']:.2f} s (imports, hashing items, store scan), "
              f"execute {ph['execute']:.2f} s, summarize {ph['summarize']:.2f} s")
        per_item_harness = ph["execute"] * max(1, args.workers) - codec_s - metric_s
        print(f"  harness inside the item loop: {per_item_harness:.2f} s = "
              f"{100 * per_item_harness / (ph['execute'] * max(1, args.workers)):.1f} % of execute")
        print(f"second run: {wall2:7.2f} s wall = {100 * wall2 / wall1:.1f} % of the first "
              f"({second.n_computed} items recomputed)")

        print("cost growth (fresh output folder each):")
        for frac in (0.25, 0.5, 1.0):
            limit = max(1, int(round(n * frac)))
            t = time.perf_counter()
            run(opts(os.path.join(tmp, f"g{frac}"), limit))
            wall = time.perf_counter() - t
            print(f"  {limit:5d} items: {wall:7.2f} s, {wall / limit * 1000:6.0f} ms per item")


if __name__ == "__main__":
    main()
