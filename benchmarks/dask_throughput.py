"""Items per second: the worker pool against Dask, and the driver's cost per item.

    python benchmarks/dask_throughput.py [--codec mulaw-8bit] [--dataset synth-speech-test]
                                         [--items 120] [--json FILE]

Runs the same work (one codec, the reconstruction task, N items, fresh store each time) with
the in-process executor, the pool with 1 and 2 workers and Dask (a LocalCluster) with 1 and 2
workers, each at N/2 and N items. Prints a Markdown table:

- items/s with start-up: N / the execute phase of the N-item run (pool spawn or cluster start,
  codec and task loading included);
- items/s without start-up: the slope (N - N/2) / (T(N) - T(N/2)), so the constant start-up
  cancels;
- start-up: T(N) - N / slope;
- driver per item: time the driver spends per item in ``record`` (the SQLite transaction and
  the progress count) and, for Dask, submitting batches and handling results.

Also prints what the store holds per item (token and reconstruction blobs, whole file).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import bench.runner as runner  # noqa: E402
from bench.runner import RunOptions, run  # noqa: E402


class Timed:
    """Wraps an executor: times the driver's ``record`` calls."""

    def __init__(self, inner):
        self.inner, self.record_s, self.items = inner, 0.0, 0

    def run(self, chunks, record):
        def timed(results):
            t = time.perf_counter()
            record(results)
            self.record_s += time.perf_counter() - t
            self.items += len(results)

        self.inner.run(chunks, timed)


def one(label: str, opts: RunOptions) -> dict:
    made: list[Timed] = []
    original = runner.make_executor

    def make(*args, **kwargs):
        made.append(Timed(original(*args, **kwargs)))
        return made[-1]

    runner.make_executor = make
    try:
        t = time.perf_counter()
        rep = run(opts)
        wall = time.perf_counter() - t
    finally:
        runner.make_executor = original
    ex = made[0]
    stats = getattr(ex.inner, "stats", {})
    assert rep.records[0]["counts"]["measured"] == rep.n_items, rep.records[0]["counts"]
    return {"label": label, "items": rep.n_items, "wall_s": wall, "execute_s": rep.phases["execute"],
            "record_s": ex.record_s, "record_items": ex.items,
            "dask_driver_s": sum(stats.get(k, 0.0) for k in ("submit_s", "handle_s")),
            "dask_startup_s": stats.get("startup_s"), "batches": stats.get("batches"),
            "metrics": rep.records[0]["metrics"], "db": os.path.join(opts.out, "bench.sqlite")}


def store_bytes(db: str) -> dict:
    with sqlite3.connect(db) as conn:
        n, tok, rec, dur = conn.execute("SELECT COUNT(*), SUM(LENGTH(tokens)), SUM(LENGTH(recon)), SUM(duration) "
                                        "FROM codec_outputs").fetchone()
    return {"items": n, "tokens_per_item": tok / n, "recon_per_item": rec / n, "file_per_item": os.path.getsize(db) / n,
            "seconds_per_item": dur / n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--codec", default="mulaw-8bit")
    ap.add_argument("--dataset", default="synth-speech-test")
    ap.add_argument("--items", type=int, default=120)
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    configs = [("in-process", dict(executor="inprocess")),
               ("pool, 1 worker", dict(executor="process", workers=1)),
               ("pool, 2 workers", dict(executor="process", workers=2)),
               ("Dask, 1 worker", dict(executor="dask", workers=1)),
               ("Dask, 2 workers", dict(executor="dask", workers=2))]
    rows, reference = [], None
    with tempfile.TemporaryDirectory() as tmp:
        for i, (label, kw) in enumerate(configs):
            runs = {}
            for n in (args.items // 2, args.items):
                opts = RunOptions(codec=args.codec, dataset=args.dataset, tasks=("reconstruction",), limit=n,
                                  out=os.path.join(tmp, f"{i}-{n}"), progress=False, **kw)
                runs[n] = one(label, opts)
                print(f"  {label:16} {n:4d} items: execute {runs[n]['execute_s']:.2f} s", file=sys.stderr)
            big, small = runs[args.items], runs[args.items // 2]
            if reference is None:
                reference, sizes = big["metrics"], store_bytes(big["db"])
            assert big["metrics"] == reference, f"{label}: the numbers differ from the in-process run"
            slope = (big["items"] - small["items"]) / max(1e-9, big["execute_s"] - small["execute_s"])
            rows.append({"executor": label, "items": big["items"],
                         "items_per_s_with_startup": big["items"] / big["execute_s"],
                         "items_per_s_steady": slope,
                         "startup_s": max(0.0, big["execute_s"] - big["items"] / slope),
                         "record_ms_per_item": 1000 * big["record_s"] / big["record_items"],
                         "dask_driver_ms_per_item": 1000 * big["dask_driver_s"] / big["items"] if big["batches"] else None,
                         "batches": big["batches"]})
    print(f"\n{args.codec} + reconstruction on {args.dataset}, {args.items} items ({os.cpu_count()} cores)\n")
    print("| executor | items/s (with start-up) | items/s (steady) | start-up s | driver ms/item: record | "
          "driver ms/item: Dask submit+handle | Dask tasks |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        dd = f"{r['dask_driver_ms_per_item']:.2f}" if r["dask_driver_ms_per_item"] is not None else "-"
        print(f"| {r['executor']} | {r['items_per_s_with_startup']:.2f} | {r['items_per_s_steady']:.2f} | "
              f"{r['startup_s']:.1f} | {r['record_ms_per_item']:.2f} | {dd} | {r['batches'] or '-'} |")
    print(f"\nstore per item ({sizes['seconds_per_item']:.2f} s of audio): tokens {sizes['tokens_per_item'] / 1e3:.0f} kB, "
          f"reconstruction {sizes['recon_per_item'] / 1e3:.0f} kB, whole file {sizes['file_per_item'] / 1e3:.0f} kB")
    print("numbers identical across executors: yes (checked)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"codec": args.codec, "dataset": args.dataset, "rows": rows, "store": sizes}, fh, indent=1)


if __name__ == "__main__":
    main()
