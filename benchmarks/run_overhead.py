"""Where the time of a run goes, what a repeated run costs, and how cost grows with size.

    python benchmarks/run_overhead.py [--codec mulaw-8bit] [--dataset D] [--limit N] [--workers 1]

Prints, from one process and one set of runs:
  1. a first run's wall time split into codec (encode + decode), metrics (task measure),
     and harness (loading, resampling, alignment, storage, summaries, process plumbing);
  2. a second, identical run's wall time and its ratio to the first (everything cached);
  3. seconds per item at a quarter, half and all of the items (cost growth).
"""

from __future__ import annotations

import argparse
import json
import os
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
        out["measure"] = conn.execute("SELECT COALESCE(SUM(seconds), 0) FROM task_rows").fetchone()[0]
    return out


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

        t = time.perf_counter()
        first = run(opts(os.path.join(tmp, "a"), args.limit))
        wall1 = time.perf_counter() - t
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
        print(f"first run:  {wall1:7.2f} s wall ({wall1 / n * 1000:.0f} ms per item)")
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
