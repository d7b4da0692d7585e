"""What one ``tokens`` run over the default corpus costs (docs/tokens.md, issue 19: under 2
minutes on 2 cores without the transformer LM).

    python benchmarks/tokens_cost.py [--codec mulaw-8bit] [--workers 2] [--transformer]

Runs ``bench run --codec C --task tokens`` on the task's default dataset (synth-speech, 240
items) into a fresh temporary folder, in a child process, and prints its wall time, its CPU
seconds (user + system of the child and its workers).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--codec", default="mulaw-8bit")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--transformer", action="store_true", help="also train and score the tiny transformer LM")
    args = ap.parse_args()
    task = "tokens:transformer_lm=true" if args.transformer else "tokens"
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "bench", "run", "-c", args.codec, "-t", task, "--out", out,
               "--workers", str(args.workers), "--no-progress", "--no-scorecard"]
        env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"run failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"codec {args.codec}, task {task}, {args.workers} worker(s), os.cpu_count()={os.cpu_count()}")
    print(f"wall {wall:.1f} s, CPU {cpu:.1f} s (user+system of the run and its workers)")
    print("under 2 minutes" if wall < 120 else "OVER 2 minutes")


if __name__ == "__main__":
    main()
