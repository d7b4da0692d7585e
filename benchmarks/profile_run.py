"""A py-spy profile of one ``bench run``: where its CPU goes, by library and by function.

    pip install py-spy        # not a dependency of bench; a sampling profiler, no code changes
    python benchmarks/profile_run.py [--rate 50] [--top 25] -- bench run -c mulaw-8bit ... --workers 2

Runs the command under ``py-spy record --subprocesses --format raw`` (collapsed stacks, every
worker process included; idle threads left out), then prints the share of samples by the
package a frame's file belongs to (self time: the innermost Python frame; ``native``: frames
py-spy could not attribute) and the functions with most self and total samples. ``--keep FILE``
keeps the collapsed stacks (flamegraph.pl and speedscope read them).
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile


def package(frame: str) -> str:
    """The package a collapsed-stack frame ``func (path:line)`` comes from (py-spy writes paths
    relative to their sys.path entry: ``pesq/_pesq.py``, ``bench/run/pipeline.py``)."""
    m = re.search(r"\((.*?)(?::\d+)?\)$", frame)
    path = m.group(1) if m else ""
    if not path:
        return "native"
    if path.startswith("<frozen"):
        return "imports (importlib)"
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    parts = path.split("/")
    if parts[0] == "bench" and len(parts) > 2:
        return "bench." + parts[1]
    return parts[0].removesuffix(".py") if len(parts) > 1 else "stdlib " + parts[0]


#: Where a sample is: the first of these whose frame is on its stack (an import inside an item's
#: work counts as an import: it is start-up, paid once per process).
PHASES = (("imports", "<frozen importlib"), ("loading codecs and task models", "load_components ("),
          ("item work (process_jobs)", "process_jobs ("), ("summaries (summarize_run)", "summarize_run ("))


#: A worker's parent watchdog: a thread asleep in time.sleep, which py-spy's idle detection
#: counts as active on some kernels; its samples are dropped.
SLEEPER = "_die_with_parent.<locals>.watch"


def frames_of(stack: str) -> list[str]:
    # 'process PID:"command line"' frames (a worker's under its parent's; a command line may hold ';')
    stack = re.sub(r'^(?:process \d+:".*?"(?:;|$))+', "", stack)
    return [f for f in stack.split(";") if f and not f.startswith("thread ")]


def summarise(lines: list[str], top: int) -> None:
    by_pkg: collections.Counter[str] = collections.Counter()
    by_phase: collections.Counter[str] = collections.Counter()
    self_t: collections.Counter[str] = collections.Counter()
    total_t: collections.Counter[str] = collections.Counter()
    n = 0
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            continue
        c = int(count)
        frames = frames_of(stack)
        if not frames or any(SLEEPER in f for f in frames):
            continue
        n += c
        by_phase[next((name for name, key in PHASES if any(key in f for f in frames)), "the rest")] += c
        leaf = frames[-1]
        by_pkg[package(leaf)] += c
        self_t[leaf] += c
        for f in set(frames):
            total_t[f] += c
    if not n:
        print("no samples")
        return
    print(f"{n} samples")
    print("by phase:")
    for k, v in by_phase.most_common():
        print(f"  {100 * v / n:5.1f} %  {k}")
    print("self time by package:")
    for k, v in by_pkg.most_common(top):
        print(f"  {100 * v / n:5.1f} %  {k}")
    print("functions, self time:")
    for k, v in self_t.most_common(top):
        print(f"  {100 * v / n:5.1f} %  {k}")
    print("functions, total time (frame anywhere on the stack):")
    for k, v in total_t.most_common(top):
        print(f"  {100 * v / n:5.1f} %  {k}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, default=50, help="samples per second per process")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--keep", help="write the collapsed stacks here")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        ap.error("give the command to profile after --")
    spy = shutil.which("py-spy")
    if spy is None:
        sys.exit("py-spy is not installed: pip install py-spy")
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or os.path.join(tmp, "stacks.txt")
        subprocess.run([spy, "record", "--subprocesses", "--format", "raw", "--rate", str(args.rate),
                        "--output", out, "--", *cmd], check=True)
        with open(out, encoding="utf-8", errors="replace") as fh:
            summarise(fh.readlines(), args.top)


if __name__ == "__main__":
    main()
