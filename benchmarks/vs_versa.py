"""bench's reconstruction task against VERSA's scorer on the same pairs, start-up included.

    python benchmarks/vs_versa.py [--codec mp3-16k] [--dataset realspeech] [--limit N]
                                  [--pairs 3] [--workers 2,1] [--versa-path DIR]
                                  [--versa-metrics pesq,stoi,estoi,signal_metric,mcd_f0] [--bench-all]
                                  [--json FILE]

VERSA (github.com/wavlab-speech/versa) is not a dependency of bench and is never installed by it.
Install it outside the project, e.g. from a checkout of its repository:

    pip install --no-deps --target DIR ./versa kaldiio fastdtw ci-sdr fast-bss-eval mir-eval 'setuptools<81'

and pass ``--versa-path DIR`` (or put DIR on PYTHONPATH). Those are the small pure-Python
packages its scorer and the metrics below import beyond what bench already has (numpy, scipy,
torch, soundfile, pyyaml, tqdm, pesq, pystoi, pysptk, pyworld); ``setuptools<81`` brings back the
``pkg_resources`` module pysptk imports, without which VERSA quietly drops ``mcd_f0``. Its
torchaudio dependency is not needed for these metrics.

The pairs: every item of the dataset (default ``realspeech``: the clips of ``../shared/realspeech``
through its manifest; or any bench dataset, e.g. ``synth-speech-test``), or the seeded subset
``--limit`` picks (the same subset ``bench run --limit`` picks), through ``--codec`` with bench's
own codec stage (``bench.run.pipeline.run_codec``: resampling to 16 kHz, encode, decode,
alignment). The 16 kHz references and aligned reconstructions are written once as float wav files;
that they equal bench's own reconstructions is checked against the first bench run.

After an untimed warm-up run of each on two pairs (``--no-warmup`` skips it: the first run
after a boot compiles caches, numba's and Python's, and took bench 49 s instead of 8 on six
clips) and one timing of VERSA's start-up alone (import and metric registry) come ``--pairs``
rounds, each, for every worker count W of ``--workers``: (a) VERSA's own scorer CLI (``python -m
versa.bin.scorer --io soundfile``) with a score config this script writes, as W shards side by
side (what VERSA's ``launch_local.sh`` does: the list split into W parts, one scorer process
each); (b) ``bench run -t reconstruction --workers W`` on the same items into a fresh folder (so
nothing is reused). Both get fresh processes every time, so start-up (imports, VERSA's metric
registry) is inside the figures; BLAS/OpenMP/torch are pinned to one thread per process for both.
Wall is the elapsed time; CPU is user + system of each process tree (``wait4``). Each round gives
a wall ratio and a CPU ratio bench / VERSA, summarised as median and range. Most of VERSA's
scoring time goes to ``mcd_f0`` (WORLD's harvest F0 tracker); without it VERSA is mostly its
start-up, so the ratio depends on which entries ``--versa-metrics`` names.

bench computes the counterparts of the configured VERSA entries only (``reconstruction:metrics=
pesq_wb+stoi+estoi+si_sdr+mcd`` for the default entries). The work is nearly the same: bench also
runs the codec stage (VERSA gets the finished files), and VERSA's ``signal_metric`` entry also
computes mir_eval's BSS-eval (SDR, SIR, SAR) and CI-SDR besides SI-SNR, which cannot be switched
off (``--versa-metrics pesq,stoi,estoi`` is the strict like-for-like set). ``--bench-all`` makes
bench compute all eight of its metrics. The metrics both have are
compared, item by item, so a reader can see that the same work was done:

  bench        VERSA                   definitional differences
  pesq_wb      pesq                    VERSA: wb at 16 kHz (nb only at 8 kHz); a failure scores 0.0
  stoi, estoi  stoi, estoi             same pystoi call at 16 kHz; VERSA keeps pystoi's 1e-5 for
                                       clips too short after its silence removal
  si_sdr       signal_metric: si_snr   VERSA: fast_bss_eval SI-SDR in float32, means not removed
                                       (bench removes them: differs on clips with a DC offset), no
                                       cap (bench: 100 dB). The entry also runs mir_eval BSS-eval
                                       (sdr, sir, sar) and CI-SDR
  mcd          mcd_f0: mcd             different analyses: VERSA WORLD (harvest F0, CheapTrick
                                       envelope), mcep order 39 with c0 (energy), alpha 0.466,
                                       5 ms shift, all frames; bench SPTK mcep of 25 ms Blackman
                                       frames, c1..c24, alpha 0.42, 10 ms, frames within 40 dB of
                                       the loudest. Values differ by design; VERSA also gives
                                       f0rmse and f0corr

VERSA skips clips shorter than 0.3 s (STOI) or 0.25 s (PESQ) entirely; bench fails them with the
reason. Only items both scored are compared.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from vs_plain import ONE_THREAD, summary  # noqa: E402 - the same thread pins and median [range] line

REALSPEECH = os.path.join(os.path.dirname(ROOT), "shared", "realspeech")
DEFAULT_METRICS = "pesq,stoi,estoi,signal_metric,mcd_f0"
#: VERSA score config entries this script knows, with the options it sets (the pairs are aligned,
#: as in bench: no DTW for MCD).
VERSA_CONFIG = {"pesq": {}, "stoi": {}, "estoi": {}, "signal_metric": {}, "mcd_f0": {"dtw": False}}
#: (bench metric, VERSA output key, the VERSA config entry that computes it)
COMPARED = (("pesq_wb", "pesq", "pesq"), ("stoi", "stoi", "stoi"), ("estoi", "estoi", "estoi"),
            ("si_sdr", "si_snr", "signal_metric"), ("mcd", "mcd", "mcd_f0"))
#: modules VERSA needs for each config entry (its scorer itself: kaldiio, yaml, tqdm, soundfile)
VERSA_NEEDS = {"": ("versa", "kaldiio", "yaml", "tqdm", "soundfile", "torch"), "pesq": ("pesq",),
               "stoi": ("pystoi",), "estoi": ("pystoi",),
               "signal_metric": ("ci_sdr", "fast_bss_eval", "mir_eval"),
               "mcd_f0": ("pysptk", "pkg_resources", "pyworld", "fastdtw")}
INSTALL_HINT = ("install it from its git repository (github.com/wavlab-speech/versa) outside this project:\n"
                "  pip install --no-deps --target DIR ./versa kaldiio fastdtw ci-sdr fast-bss-eval mir-eval "
                "'setuptools<81'\n"
                "and pass --versa-path DIR or add DIR to PYTHONPATH")


# -- the pairs ---------------------------------------------------------------------------------
def dataset_spec(name: str) -> str:
    if name == "realspeech":
        manifest = os.path.join(REALSPEECH, "manifest.jsonl")
        if not os.path.isfile(manifest):
            raise SystemExit(f"skipped: {REALSPEECH} is absent (no manifest.jsonl); use --dataset NAME, "
                             "e.g. --dataset synth-speech-test")
        return f"manifest:path={manifest}"
    return name


def write_pairs(codec_spec: str, dataset: str, limit: int | None, folder: str) -> list[dict]:
    """References and reconstructions as 16 kHz float wav files; one dict per item."""
    import soundfile as sf

    from bench.audio import METRIC_SR
    from bench.run.options import build_codec, build_dataset, select_items
    from bench.run.pipeline import run_codec

    codec = build_codec(codec_spec)
    codec.load()
    pairs = []
    for sub in ("gt", "pred"):
        os.makedirs(os.path.join(folder, sub), exist_ok=True)
    for i, item in enumerate(select_items(build_dataset(dataset).items(), limit, 0)):
        key = f"u{i:04d}"  # scp keys must be free of blanks; item ids need not be
        entry = {"key": key, "item": item.id, "gt": os.path.join(folder, "gt", key + ".wav"),
                 "pred": os.path.join(folder, "pred", key + ".wav")}
        try:
            audio = item.load()
            output, ref = run_codec(codec, audio.wave, audio.sample_rate, 0.25)
        except Exception as exc:  # bench fails such an item with the reason; VERSA never sees it
            entry["error"] = f"{type(exc).__name__}: {exc}"
            pairs.append(entry)
            continue
        sf.write(entry["gt"], ref.astype("float32"), METRIC_SR, subtype="FLOAT")
        sf.write(entry["pred"], output.recon.astype("float32"), METRIC_SR, subtype="FLOAT")
        entry["seconds"] = len(ref) / METRIC_SR
        pairs.append(entry)
    return pairs


# -- VERSA -------------------------------------------------------------------------------------
def versa_env(args) -> dict[str, str]:
    path = [os.path.abspath(p) for p in args.versa_path] + [p for p in [os.environ.get("PYTHONPATH")] if p]
    env = {**os.environ, **ONE_THREAD}
    if path:
        env["PYTHONPATH"] = os.pathsep.join(path)
    return env


def check_versa(python: str, env: dict[str, str], metrics: list[str]) -> None:
    """Refuse, before any work, when VERSA or a module one of the metrics imports is missing."""
    needed = sorted({m for key in ["", *metrics] for m in VERSA_NEEDS.get(key, ())})
    probe = ("import importlib.util, sys\n"
             "print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))")
    res = subprocess.run([python, "-c", probe, *needed], env=env, capture_output=True, text=True)
    missing = res.stdout.split() if res.returncode == 0 else ["(the probe failed: " + res.stderr.strip() + ")"]
    if "versa" in missing:
        raise SystemExit("VERSA is not importable: " + INSTALL_HINT)
    if missing:
        raise SystemExit(f"VERSA is importable but these modules its metrics need are not: {', '.join(missing)}; "
                         + INSTALL_HINT)


def write_versa_inputs(pairs: list[dict], metrics: list[str], shards: int, folder: str) -> list[dict]:
    """Score config and ``shards`` pairs of wav.scp lists (items dealt round-robin)."""
    import yaml

    os.makedirs(folder, exist_ok=True)
    config = os.path.join(folder, "score_config.yaml")
    with open(config, "w") as fh:
        yaml.safe_dump([{"name": m, **VERSA_CONFIG.get(m, {})} for m in metrics], fh)
    scored = [p for p in pairs if "error" not in p]
    out = []
    for s in range(shards):
        gt, pred = os.path.join(folder, f"gt{shards}-{s}.scp"), os.path.join(folder, f"pred{shards}-{s}.scp")
        with open(gt, "w") as fg, open(pred, "w") as fp:
            for p in scored[s::shards]:
                fg.write(f"{p['key']} {p['gt']}\n")
                fp.write(f"{p['key']} {p['pred']}\n")
        out.append({"config": config, "gt": gt, "pred": pred})
    return out


def versa_cmds(python: str, shards: list[dict], out_prefix: str) -> list[list[str]]:
    return [[python, "-m", "versa.bin.scorer", "--score_config", s["config"], "--gt", s["gt"], "--pred", s["pred"],
             "--output_file", f"{out_prefix}-{i}.jsonl", "--io", "soundfile", "--verbose", "0"]
            for i, s in enumerate(shards)]


def versa_scores(out_prefix: str, n_shards: int) -> dict[str, dict]:
    scores = {}
    for i in range(n_shards):
        with open(f"{out_prefix}-{i}.jsonl", encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    row = json.loads(line)
                    scores[row.pop("key")] = row
    return scores


# -- bench -------------------------------------------------------------------------------------
def bench_task(versa_metrics: list[str], everything: bool) -> str:
    """bench's reconstruction task computing the counterparts of the VERSA entries (the same
    work), or with ``everything`` all eight of its metrics."""
    chosen = [b for b, _, entry in COMPARED if entry in versa_metrics]
    return "reconstruction" if everything or not chosen else "reconstruction:metrics=" + "+".join(chosen)


def bench_cmd(codec: str, dataset: str, limit: int | None, workers: int, out: str,
              task: str = "reconstruction") -> list[str]:
    cmd = [sys.executable, "-m", "bench", "run", "--codec", codec, "--task", task, "--dataset", dataset,
           "--workers", str(workers), "--out", out, "--no-progress", "--no-scorecard"]
    return cmd + (["--limit", str(limit)] if limit else [])


def bench_scores(db: str) -> tuple[dict[str, dict], dict[str, bytes]]:
    """item id -> {metric: value or None when failed}, and item id -> reconstruction bytes."""
    values: dict[str, dict] = {}
    with sqlite3.connect(db) as conn:
        for item_id, metric, value in conn.execute(
                "SELECT t.item_id, m.metric, m.value FROM metric_values m JOIN task_rows t USING "
                "(codec_hash, item_hash, task_key) WHERE m.task_key LIKE 'reconstruction@%'"):
            values.setdefault(item_id, {})[metric] = value
        recons = {item_id: recon for item_id, recon in conn.execute(
            "SELECT item_id, recon FROM codec_outputs WHERE status='ok'")}
    return values, recons


# -- measuring ---------------------------------------------------------------------------------
def timed(cmds: list[list[str]], env: dict[str, str], cwd: str, log: str) -> dict[str, float]:
    """Run commands side by side: wall, CPU (user + sys of each process tree), largest process."""
    t = time.perf_counter()
    logs = [open(f"{log}-{i}.txt", "w+b") for i in range(len(cmds))]
    procs = [subprocess.Popen(c, env=env, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT) for c, fh in zip(cmds, logs)]
    user = sys_ = 0.0
    peak = 0
    failed = []
    for p, fh in zip(procs, logs):
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        user, sys_, peak = user + ru.ru_utime, sys_ + ru.ru_stime, max(peak, ru.ru_maxrss)
        if p.returncode != 0:
            fh.seek(0)
            failed.append(f"{' '.join(p.args[:4])} ... exited {p.returncode}:\n"
                          + fh.read().decode(errors="replace")[-3000:])
    wall = time.perf_counter() - t
    for fh in logs:
        fh.close()
    if failed:
        raise SystemExit("a measured command failed:\n" + "\n".join(failed))
    return {"wall": wall, "cpu": user + sys_, "user": user, "sys": sys_, "peak_mib": peak / 1024}


def agreement(pairs: list[dict], ours: dict[str, dict], theirs: dict[str, dict], metrics: list[str]) -> list[dict]:
    """Per compared metric: items both scored, both means, mean |difference|; and what VERSA gave
    on items bench failed (VERSA scores a PESQ failure 0.0, a too-short STOI 1e-5)."""
    rows = []
    for b_name, v_key, entry in COMPARED:
        if entry not in metrics:
            continue
        both, only_versa = [], []
        for p in pairs:
            b = ours.get(p["item"], {}).get(b_name)
            v = theirs.get(p["key"], {}).get(v_key)
            if isinstance(v, (int, float)) and v == v:
                (both if b is not None else only_versa).append((b, float(v)))
        rows.append({
            "bench": b_name, "versa": v_key, "n": len(both),
            "bench_mean": statistics.fmean(b for b, _ in both) if both else None,
            "versa_mean": statistics.fmean(v for _, v in both) if both else None,
            "mean_abs_diff": statistics.fmean(abs(b - v) for b, v in both) if both else None,
            "versa_on_bench_failures": [round(v, 5) for _, v in only_versa],
        })
    return rows


def fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--codec", default="mp3-16k")
    ap.add_argument("--dataset", default="realspeech",
                    help="realspeech (../shared/realspeech, the default) or a bench dataset spec")
    ap.add_argument("--limit", type=int, help="a seeded subset of N items (as bench run --limit)")
    ap.add_argument("--pairs", type=int, default=3, help="rounds of VERSA then bench (default 3)")
    ap.add_argument("--workers", default="2", help="comma-separated worker counts, e.g. 2,1 (default 2); "
                                                   "VERSA runs as that many shards")
    ap.add_argument("--versa-path", action="append", default=[], metavar="DIR",
                    help="where VERSA and its packages are installed (pip --target DIR); repeatable")
    ap.add_argument("--versa-python", default=sys.executable, help="the Python that runs VERSA (default: this one)")
    ap.add_argument("--versa-metrics", default=DEFAULT_METRICS,
                    help=f"VERSA score config entries (default {DEFAULT_METRICS}; the issue's four: "
                         "pesq,stoi,signal_metric,mcd_f0)")
    ap.add_argument("--bench-all", action="store_true",
                    help="bench computes all eight reconstruction metrics (default: only the counterparts of "
                         "--versa-metrics, through reconstruction:metrics=...)")
    ap.add_argument("--no-warmup", action="store_true", help="skip the untimed first run of each")
    ap.add_argument("--keep", metavar="DIR", help="keep the pairs, configs, outputs and logs here")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()

    metrics = [m.strip() for m in args.versa_metrics.split(",") if m.strip()]
    task = bench_task(metrics, args.bench_all)
    workers = [int(w) for w in args.workers.split(",")]
    env_v = versa_env(args)
    check_versa(args.versa_python, env_v, metrics)
    dataset = dataset_spec(args.dataset)
    env_b = {**os.environ, **ONE_THREAD, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}

    tmp_obj = None if args.keep else tempfile.TemporaryDirectory(prefix="vs_versa-")
    tmp = os.path.abspath(args.keep) if args.keep else tmp_obj.name
    os.makedirs(tmp, exist_ok=True)
    try:
        t = time.perf_counter()
        pairs = write_pairs(args.codec, dataset, args.limit, os.path.join(tmp, "pairs"))
        scored = [p for p in pairs if "error" not in p]
        audio_s = sum(p["seconds"] for p in scored)
        print(f"{len(pairs)} items of {args.dataset} through {args.codec} ({len(scored)} pairs, {audio_s:.0f} s of "
              f"audio) written in {time.perf_counter() - t:.1f} s; VERSA metrics: {', '.join(metrics)}; bench: {task}")
        shards = {w: write_versa_inputs(pairs, metrics, w, tmp) for w in workers}
        load = os.getloadavg()
        print(f"{os.cpu_count()} CPUs, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at start", flush=True)

        startup = None
        if not args.no_warmup:  # untimed: the first run after a boot compiles caches (numba, .pyc)
            warm = write_versa_inputs(scored[:2], metrics, 1, os.path.join(tmp, "warm"))  # two pairs do
            timed(versa_cmds(args.versa_python, warm, os.path.join(tmp, "warm-versa")), env_v, tmp,
                  os.path.join(tmp, "warm-versa-log"))
            timed([bench_cmd(args.codec, dataset, 2, 1, os.path.join(tmp, "warm-bench"), task)], env_b, tmp,
                  os.path.join(tmp, "warm-bench-log"))
            startup = timed([[args.versa_python, "-c", "from versa.scorer_shared import VersaScorer; VersaScorer()"]],
                            env_v, tmp, os.path.join(tmp, "startup-log"))
            print(f"VERSA start-up alone (import and metric registry, one process, no scoring): "
                  f"{startup['wall']:.1f} s wall, {startup['cpu']:.1f} CPU-s", flush=True)

        rows: dict[int, list[dict]] = {w: [] for w in workers}
        first: dict[int, tuple[str, str]] = {}
        for k in range(args.pairs):
            for w in workers:
                v_out, b_out = os.path.join(tmp, f"versa{w}-{k}"), os.path.join(tmp, f"bench{w}-{k}")
                versa = timed(versa_cmds(args.versa_python, shards[w], v_out), env_v, tmp, v_out + "-log")
                bench = timed([bench_cmd(args.codec, dataset, args.limit, w, b_out, task)], env_b, tmp,
                              b_out + "-log")
                first.setdefault(w, (v_out, b_out))
                if k == 0:  # every configured metric must have come out (VERSA drops one it cannot load)
                    got = versa_scores(v_out, w)
                    keys = set().union(*got.values()) if got else set()
                    lost = [v for _, v, e in COMPARED if e in metrics and v not in keys]
                    if lost or not got:
                        with open(v_out + "-log-0.txt", errors="replace") as fh:
                            log = fh.read()[-3000:]
                        raise SystemExit(f"VERSA gave no {', '.join(lost) or 'scores'} (a metric it could not "
                                         f"load is only logged):\n{log}")
                rows[w].append({"versa": versa, "bench": bench})
                print(f"round {k + 1}, {w} worker(s): VERSA {versa['wall']:.1f} s wall, {versa['cpu']:.1f} CPU-s | "
                      f"bench {bench['wall']:.1f} s wall, {bench['cpu']:.1f} CPU-s | bench/VERSA wall "
                      f"{bench['wall'] / versa['wall']:.2f}, CPU {bench['cpu'] / versa['cpu']:.2f}", flush=True)
        load_end = os.getloadavg()

        # the same work? bench's reconstructions, and the metric values both compute
        w0 = workers[0]
        ours, recons = bench_scores(os.path.join(first[w0][1], "bench.sqlite"))
        theirs = versa_scores(first[w0][0], w0)
        import numpy as np
        import soundfile as sf

        same = sum(1 for p in scored if p["item"] in recons and np.array_equal(
            np.frombuffer(recons[p["item"]], dtype=np.float32), sf.read(p["pred"], dtype="float32")[0]))
        agree = agreement(pairs, ours, theirs, metrics)
        n_versa = sum(1 for p in scored if theirs.get(p["key"]))  # VERSA writes no row for a clip it skips
    finally:
        if tmp_obj is not None:
            tmp_obj.cleanup()

    print(f"\nreconstructions identical to bench's own: {same} of {len(scored)}; bench measured "
          f"{len(ours)} items, VERSA scored {n_versa} (skipped {len(scored) - n_versa} as too short)")
    print("\n| bench metric | VERSA key | items both | bench mean | VERSA mean | mean abs diff "
          "| VERSA on items bench failed |")
    print("|---|---|---:|---:|---:|---:|---|")
    for a in agree:
        fails = a["versa_on_bench_failures"]
        print(f"| {a['bench']} | {a['versa']} | {a['n']} | {fmt(a['bench_mean'])} | {fmt(a['versa_mean'])} | "
              f"{fmt(a['mean_abs_diff'])} | {', '.join(map(str, fails)) if fails else '-'} |")

    print(f"\n{args.codec}, {len(scored)} pairs of {args.dataset}, {args.pairs} round(s); load average "
          f"{load[0]:.1f} at start, {load_end[0]:.1f} at end, {os.cpu_count()} CPUs\n")
    print("| workers | VERSA wall s | bench wall s | wall bench/VERSA | VERSA CPU-s | bench CPU-s | CPU bench/VERSA "
          "| peak MiB VERSA / bench |")
    print("|---:|---:|---:|---|---:|---:|---|---|")
    ratios = {}
    for w in workers:
        r = rows[w]
        wall_r = [x["bench"]["wall"] / x["versa"]["wall"] for x in r]
        cpu_r = [x["bench"]["cpu"] / x["versa"]["cpu"] for x in r]
        ratios[w] = {"wall": wall_r, "cpu": cpu_r}
        med = lambda side, key: statistics.median(x[side][key] for x in r)  # noqa: E731
        print(f"| {w} | {med('versa', 'wall'):.1f} | {med('bench', 'wall'):.1f} | {summary(wall_r)} | "
              f"{med('versa', 'cpu'):.1f} | {med('bench', 'cpu'):.1f} | {summary(cpu_r)} | "
              f"{max(x['versa']['peak_mib'] for x in r):.0f} / {max(x['bench']['peak_mib'] for x in r):.0f} |")
    extra = ("computes all eight of its metrics" if task == "reconstruction"
             else f"computes the counterparts of VERSA's entries ({task})")
    if "signal_metric" in metrics:
        extra += "; VERSA's signal_metric also computes BSS-eval SDR/SIR/SAR and CI-SDR"
    print(f"\nmedian [range] of the paired rounds; bench also runs the codec stage (VERSA reads the written "
          f"files) and {extra}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"codec": args.codec, "dataset": args.dataset, "limit": args.limit, "pairs": len(scored),
                       "audio_seconds": audio_s, "versa_metrics": metrics, "bench_task": task, "workers": workers,
                       "load_start": load, "load_end": load_end, "rounds": {str(w): rows[w] for w in workers},
                       "ratios": {str(w): ratios[w] for w in workers}, "agreement": agree,
                       "recon_identical": same, "versa_startup": startup}, fh, indent=1)


if __name__ == "__main__":
    main()
