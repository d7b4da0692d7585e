"""What the learned probes cost: CPU-seconds per codec for features, training and evaluation on
the default corpus (synth-speech-probe), and how training grows with the number of train items.

    python benchmarks/probe_cost.py [--codec mulaw-8bit --codec codec2-1200 ...] [--growth]
                                    [--audio] [--steps N] [--reader whisper]

For each codec: encodes every item (not counted), runs the probe task's ``measure`` on each
(``measure_cpu_s``: token slots and Praat F0) and its corpus-level evaluation
(``summarize_features_cpu_s``: assembling the inputs; ``summarize_training_cpu_s``: 3 seeds of
training; ``summarize_evaluation_cpu_s``: predictions, scores and the bootstrap). ``--audio`` adds the log-mel ceiling.
``--reader whisper`` measures ``probe:reader=whisper`` instead (features then include the
adapter's training and the Whisper encoding of every item, reported apart under ``ear``).
``--growth`` repeats the evaluation of the first codec on a quarter and a half of the train
voices. CPU time is process time of this one process (torch on one thread, as the task pins
it), so it does not depend on what else the machine runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from bench.audio import METRIC_SR, resample  # noqa: E402
from bench.codecs import CODECS  # noqa: E402
from bench.datasets import DATASETS  # noqa: E402
from bench.tasks.base import ItemContext, Row  # noqa: E402
from bench.tasks.learned_probe import AudioProbe, LearnedProbe, LearnedProbeConfig  # noqa: E402


def rows_for(task, codec, items, audio) -> tuple[list[Row], float]:
    rows, cpu = [], 0.0
    for it, (wave, sr) in zip(items, audio):
        ref = resample(wave, sr, METRIC_SR)
        tokens = np.zeros((1, 0), dtype=np.int64)
        if codec is not None:
            tokens = codec.encode(resample(wave, sr, codec.sample_rate)).tokens
        t = time.process_time()
        m = task.measure(ItemContext(it.id, ref, ref, tokens, it.labels()))
        cpu += time.process_time() - t
        rows.append(Row(it.id, it.labels(), m.values, m.extras))
    return rows, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--codec", action="append", dest="codecs")
    ap.add_argument("--dataset", default="synth-speech-probe")
    ap.add_argument("--audio", action="store_true", help="also the log-mel ceiling (probe-audio)")
    ap.add_argument("--growth", action="store_true", help="training cost at 1/4, 1/2 and all train voices")
    ap.add_argument("--steps", type=int, default=None, help="override the recipe's steps (not the default recipe then)")
    ap.add_argument("--reader", choices=("scratch", "whisper"), default="scratch", help="the token probe's reader")
    args = ap.parse_args()
    codecs = args.codecs or ["mulaw-8bit", "codec2-1200"]
    ds = DATASETS.build(args.dataset)
    items = [it for it in ds.items() if it.error is None]
    audio = []
    for it in items:
        a = it.load()
        audio.append((a.wave, a.sample_rate))
    cfg = LearnedProbeConfig(reader=args.reader, **({} if args.steps is None else {"steps": args.steps}))
    out = {"dataset": args.dataset, "items": len(items), "recipe_steps": cfg.steps, "codecs": {}}
    plan = [(c, LearnedProbe(cfg), CODECS.build(c)) for c in codecs]
    if args.audio:
        plan.insert(0, ("(audio ceiling)", AudioProbe(AudioProbe.Config(**{**cfg.__dict__, "input": "reference",
                                                                           "reader": "scratch"})), None))
    first_rows = None
    for name, task, codec in plan:
        task.load()
        rows, feat = rows_for(task, codec, items, audio)
        t = time.process_time()
        res = task.evaluate(rows, 0)
        total = time.process_time() - t
        entry = {"measure_cpu_s": round(feat, 2),  # per-item features: token slots / log-mel, Praat F0
                 **{f"summarize_{k}_cpu_s": v for k, v in res.get("cpu_seconds", {}).items()},
                 "summary_cpu_s": round(total, 1), **({"ear": res["ear"]} if "ear" in res else {}),
                 "scores": {k: round(v["value"], 3) for k, v in (res.get("scores") or {}).items()}}
        out["codecs"][name] = entry
        print(name, json.dumps(entry), flush=True)
        if first_rows is None and codec is not None:
            first_rows = (name, task, rows)
    if args.growth and first_rows is not None:
        name, task, rows = first_rows
        voices = sorted({r.labels["speaker"] for r in rows if r.labels.get("split") == "train"})
        growth = {}
        for frac in (0.25, 0.5, 1.0):
            keep = set(voices[: max(2, int(round(frac * len(voices))))])
            sub = [r for r in rows if r.labels.get("split") == "test" or r.labels["speaker"] in keep]
            task._memo = {}
            res = task.evaluate(sub, 0)
            n_train = sum(r.labels.get("split") == "train" for r in sub)
            growth[n_train] = res.get("cpu_seconds")
            print(f"{name}: {n_train} train items -> {res.get('cpu_seconds')}", flush=True)
        out["growth"] = {"codec": name, "by_train_items": growth}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
