"""The bad-input scoreboard: every kind of bad input and faulty plugin bench is tried with.

    python benchmarks/bad_input_scoreboard.py [--out DIR] [--json FILE] [--markdown docs/robustness.md]

Makes a corpus of good speech items (from the built-in corpus) and bad ones (silence, DC,
cancelling stereo, truncated, clipped, too short, too long, corrupt...), and plugin faults
(a codec and a task from ``bench.testing.faults`` that raise a dozen exception types, return
None or NaN, hang, call ``os._exit`` or segfault on chosen items). Each run must complete; each
case is then classified:

- handled: a bad item failed with a reason, or was measured with the transformation noted;
- silently scored: a bad item got a score with no failure and no note;
- crashed: the run did not complete;
- and every good item must score exactly as in a clean run, no process may be left behind, and
  the peak memory of any process stays under 2 GB.

Prints the table (Markdown) and writes the JSON summary the fault-injection test checks.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import sqlite3
import sys
import tempfile
import time

import numpy as np
import soundfile as sf

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench.codecs import CODECS  # noqa: E402
from bench.runner import RunOptions, run  # noqa: E402
from bench.tasks import TASKS  # noqa: E402

SR = 16_000
EXCEPTIONS = ("ValueError", "TypeError", "KeyError", "IndexError", "AttributeError", "ZeroDivisionError",
              "RuntimeError", "AssertionError", "MemoryError", "RecursionError", "OSError",
              "NotImplementedError", "UnicodeDecodeError", "LookupError", "SystemExit")
CODEC_MODES = tuple(f"raise-{e}" for e in EXCEPTIONS) + ("none", "nan", "bad-tokens", "hang", "exit", "segfault")
DECODE_MODES = ("raise-ValueError", "none", "nan", "hang", "exit", "segfault")
TASK_MODES = ("raise-ValueError", "raise-SystemExit", "raise-MemoryError", "none", "nan", "hang", "exit", "segfault")
#: Per-item timeout of the runs with a hanging plugin. A good item takes well under a second on
#: an idle machine; 30 s leaves room for a busy CI machine (at 10 s, good items of the decode run
#: timed out at load average 10 on 2 cores).
HANG_TIMEOUT_S = 30.0


def _register() -> None:
    for reg, name, target in ((CODECS, "fault", "bench.testing.faults:FaultCodec"),
                              (TASKS, "fault-task", "bench.testing.faults:FaultTask")):
        if name not in [e.name for e in reg.entries()]:
            reg.register(name, target, description="fault injection (tests only)")


def _speech(n: int) -> list[np.ndarray]:
    files = sorted(glob.glob(os.path.join(REPO, "bench", "data", "synth_speech", "audio", "*.flac")))[:n]
    return [sf.read(f, dtype="float32")[0] for f in files]


def build_inputs(folder: str, long_minutes: tuple[float, float] = (3.0, 30.0)) -> tuple[str, dict[str, dict]]:
    """Good and bad input files plus a manifest; returns (manifest, case -> expectation)."""
    os.makedirs(folder, exist_ok=True)
    speech = _speech(4)
    x = speech[0]
    cases: dict[str, dict] = {}
    rows = []

    def add(name: str, expect: str, what: str, note: str | None = None, write=None) -> None:
        if write is not None:
            write(os.path.join(folder, name))
        rows.append({"path": name, "id": os.path.splitext(name)[0]})
        cases[os.path.splitext(name)[0]] = {"expect": expect, "what": what, "note": note}

    for i, s in enumerate(speech[1:]):
        add(f"good{i}.wav", "good", "speech, 16 kHz 16-bit", write=lambda p, s=s: sf.write(p, s, SR, subtype="PCM_16"))
    add("zeros.wav", "fail", "digital silence", write=lambda p: sf.write(p, np.zeros(SR), SR))
    add("dc.wav", "fail", "DC only (0.5)", write=lambda p: sf.write(p, np.full(SR, 0.5), SR, subtype="FLOAT"))
    add("cancel.wav", "fail", "stereo whose channels cancel",
        write=lambda p: sf.write(p, np.stack([x, -x], axis=1), SR, subtype="FLOAT"))
    add("stereo.wav", "noted", "stereo speech", note="downmixed",
        write=lambda p: sf.write(p, np.stack([x, 0.5 * x], axis=1), SR, subtype="PCM_16"))

    def truncated(p):
        sf.write(p, x, SR, subtype="PCM_16")
        with open(p, "rb") as fh:
            data = fh.read()
        with open(p, "wb") as fh:
            fh.write(data[: len(data) // 2])
    add("truncated.wav", "noted", "WAV cut to half its declared length", note="truncated", write=truncated)
    add("clipped.wav", "noted", "float WAV peaking at 4.0", note="beyond full scale",
        write=lambda p: sf.write(p, 4.0 * x / np.max(np.abs(x)), SR, subtype="FLOAT"))
    add("ms10.wav", "fail", "10 ms clip", write=lambda p: sf.write(p, x[:160], SR))
    add("one.wav", "fail", "1-sample clip", write=lambda p: sf.write(p, x[:1], SR))
    add("empty.wav", "fail", "empty file (0 bytes)", write=lambda p: open(p, "wb").close())
    add("garbage.wav", "fail", "random bytes", write=lambda p: open(p, "wb").write(os.urandom(4000)))
    add("nan.wav", "fail", "float WAV with NaN samples",
        write=lambda p: sf.write(p, np.where(np.arange(len(x)) % 100 == 0, np.nan, x), SR, subtype="FLOAT"))
    add("missing.wav", "fail", "listed in the manifest, not on disk")
    add("rate8k.wav", "noted", "speech at 8 kHz", note="resampled",
        write=lambda p: sf.write(p, x[::2], 8000, subtype="PCM_16"))
    short, longer = long_minutes

    def long_file(p, minutes):
        reps = int(np.ceil(minutes * 60 * SR / len(x)))
        with sf.SoundFile(p, "w", SR, 1, subtype="PCM_16") as fh:
            for _ in range(reps):
                fh.write(x)
    add("long_short.wav", "good-long", f"{short:g}-minute speech file", write=lambda p: long_file(p, short))
    add("long_long.wav", "fail", f"{longer:g}-minute speech file (over --max-duration)",
        write=lambda p: long_file(p, longer))
    manifest = os.path.join(folder, "manifest.jsonl")
    with open(manifest, "w") as fh:
        fh.write("".join(json.dumps(r) + "\n" for r in rows))
    return manifest, cases


def build_fault_items(folder: str, modes: tuple[str, ...], base: int) -> tuple[str, str, dict[str, dict]]:
    """Three good items and one item per fault mode, told apart by their length in samples."""
    os.makedirs(folder, exist_ok=True)
    speech = _speech(4)
    rows, faults, cases = [], [], {}
    for i, s in enumerate(speech[1:]):
        sf.write(os.path.join(folder, f"good{i}.wav"), s, SR, subtype="PCM_16")
        rows.append({"path": f"good{i}.wav", "id": f"good{i}"})
        cases[f"good{i}"] = {"expect": "good", "what": "speech"}
    for k, mode in enumerate(modes):
        n = base + k
        name = f"fault_{mode}"
        sf.write(os.path.join(folder, name + ".wav"), speech[0][:n], SR, subtype="PCM_16")
        rows.append({"path": name + ".wav", "id": name})
        faults.append(f"{n}:{mode}")
        cases[name] = {"expect": "fail", "what": mode}
    manifest = os.path.join(folder, "manifest.jsonl")
    with open(manifest, "w") as fh:
        fh.write("".join(json.dumps(r) + "\n" for r in rows))
    return manifest, "+".join(faults), cases


def _rows(out: str, run_key: str) -> dict[str, dict]:
    """item id -> {task: (status, reason), values: {task: {metric: value or reason}}, notes}."""
    conn = sqlite3.connect(os.path.join(out, "bench.sqlite"))
    items: dict[str, dict] = {}
    for item_id, status, reason, notes in conn.execute(
            "SELECT item_id, status, reason, notes FROM codec_outputs WHERE codec_hash=?", (run_key,)):
        items.setdefault(item_id, {"tasks": {}, "values": {}})["codec"] = (status, reason)
        items[item_id]["notes"] = json.loads(notes or "[]")
    for item_id, key, status, reason in conn.execute(
            "SELECT item_id, task_key, status, reason FROM task_rows WHERE codec_hash=?", (run_key,)):
        items.setdefault(item_id, {"tasks": {}, "values": {}})["tasks"][key] = (status, reason)
    for item_id, key, metric, value, failure in conn.execute(
            "SELECT t.item_id, m.task_key, m.metric, m.value, m.failure FROM metric_values m JOIN task_rows t "
            "USING (codec_hash, item_hash, task_key) WHERE m.codec_hash=?", (run_key,)):
        items[item_id]["values"].setdefault(key, {})[metric] = value if failure is None else ("failed", failure)
    conn.close()
    return items


def classify(case: dict, row: dict | None, clean: dict | None) -> tuple[str, str]:
    """(outcome, detail) for one case."""
    if row is None:
        return "lost", "no row stored"
    statuses = [s for s, _ in row["tasks"].values()]
    reasons = {r for _, r in row["tasks"].values() if r}
    if row.get("codec", (None, None))[1]:
        reasons.add(row["codec"][1])
    values = [v for vals in row["values"].values() for v in vals.values()]
    reasons |= {v[1] for v in values if isinstance(v, (list, tuple))}
    reasons = sorted(reasons)
    scored = [v for v in values if not isinstance(v, (list, tuple))]
    if case["expect"] == "fail":
        if all(s == "failed" for s in statuses) and reasons:
            return "handled", reasons[0]
        if not scored and reasons:
            return "handled", reasons[0]
        return "silently scored", f"{len(scored)} values scored"
    if case["expect"] == "noted":
        notes = row.get("notes") or []
        if any(case["note"] in n for n in notes):
            return "handled", next(n for n in notes if case["note"] in n)
        if all(s == "failed" for s in statuses) and reasons:
            return "handled", reasons[0]
        return "silently scored", "scored without a note"
    if case["expect"] == "good-long":
        ok = all(s == "ok" for s in statuses) and scored
        return ("handled", f"measured ({len(scored)} values)") if ok else ("failed", ", ".join(reasons))
    # good: every value identical to the clean run
    if clean is None:
        return "failed", "no clean row"
    if row["values"] == clean["values"] and all(s == "ok" for s in statuses):
        return "handled", "identical to the clean run"
    return "failed", "differs from the clean run"


def _alive_children() -> list[int]:
    me = os.getpid()
    out = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            with open(stat.replace("stat", "cmdline"), "rb") as fh:
                cmd = fh.read()
            # the stdlib's resource tracker is not a worker: it ends when this process does
            if int(fields[1]) == me and fields[0] != "Z" and b"resource_tracker" not in cmd:
                out.append(int(stat.split("/")[2]))
        except (OSError, IndexError, ValueError):
            continue
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=None, help="work folder (default: a temporary one)")
    ap.add_argument("--json", default=None, help="write the summary here")
    ap.add_argument("--markdown", default=None, help="write the table here (e.g. docs/robustness.md)")
    ap.add_argument("--long-minutes", default="3,30", help="lengths of the two long files (default 3,30)")
    args = ap.parse_args(argv)
    _register()
    work = args.out or tempfile.mkdtemp(prefix="bench-faults-")
    long_minutes = tuple(float(v) for v in args.long_minutes.split(","))
    results = []
    t0 = time.perf_counter()

    def one_run(label, kind, manifest, cases, codec, tasks, timeout, clean_codec="fault"):
        out = os.path.join(work, label)
        common = dict(dataset=f"manifest:path={manifest}", tasks=tasks, out=out, progress=False, isolate=True)
        clean = run(RunOptions(codec=clean_codec, **common, timeout=60.0))
        clean_rows = _rows(out, clean.records[0]["run"]["key"])
        t = time.perf_counter()
        try:
            rep = run(RunOptions(codec=codec, **common, timeout=timeout))
            rows = _rows(out, rep.records[0]["run"]["key"])
            completed = True
        except Exception as exc:  # noqa: BLE001 - a crashed run is what the scoreboard counts
            rows, completed = {}, False
            print(f"{label}: the run did not complete: {exc!r}", file=sys.stderr)
        for item_id, case in cases.items():
            outcome, detail = classify(case, rows.get(item_id), clean_rows.get(item_id)) if completed else ("crashed", "")
            results.append({"run": label, "kind": kind, "case": item_id, "what": case["what"],
                            "expect": case["expect"], "outcome": outcome, "detail": detail})
        return time.perf_counter() - t

    manifest, cases = build_inputs(os.path.join(work, "inputs"), long_minutes)
    one_run("inputs", "bad input", manifest, cases, "fault", ("reconstruction",), timeout=300.0)
    manifest, faults, cases = build_fault_items(os.path.join(work, "enc"), CODEC_MODES, 30_001)
    one_run("codec-encode", "codec plugin (encode)", manifest, cases, f"fault:faults={faults}",
            ("reconstruction",), timeout=HANG_TIMEOUT_S)
    manifest, faults, cases = build_fault_items(os.path.join(work, "dec"), DECODE_MODES, 30_101)
    one_run("codec-decode", "codec plugin (decode)", manifest, cases, f"fault:faults={faults},where=decode",
            ("reconstruction",), timeout=HANG_TIMEOUT_S)
    manifest, faults, cases = build_fault_items(os.path.join(work, "task"), TASK_MODES, 30_201)
    # a faulty task: the clean run uses the same codec with the task's faults off
    _TASK_FAULTS["spec"] = f"fault-task:faults={faults}"
    out = os.path.join(work, "task")
    common = dict(codec="fault", dataset=f"manifest:path={manifest}", out=out, progress=False, isolate=True)
    clean = run(RunOptions(**common, tasks=("fault-task",), timeout=60.0))
    clean_rows = _rows(out, clean.records[0]["run"]["key"])
    try:
        rep = run(RunOptions(**common, tasks=(_TASK_FAULTS["spec"],), timeout=HANG_TIMEOUT_S))
        rows, completed = _rows(out, rep.records[0]["run"]["key"]), True
    except Exception as exc:  # noqa: BLE001
        rows, completed = {}, False
        print(f"task: the run did not complete: {exc!r}", file=sys.stderr)
    for item_id, case in cases.items():
        row = rows.get(item_id)
        if row is not None:  # compare the faulty task's rows only
            row = {**row, "tasks": {k: v for k, v in row["tasks"].items() if "#" in k and k.split("#")[1] != _clean_key(clean)},
                   "values": {k: v for k, v in row["values"].items() if k.split("#")[1] != _clean_key(clean)}}
        ref = clean_rows.get(item_id)
        outcome, detail = classify(case, row, ref and {**ref, "values": {
            k.split("#")[0]: v for k, v in ref["values"].items()}}) if completed else ("crashed", "")
        if case["expect"] == "good" and row is not None and ref is not None:
            same = [v for v in row["values"].values()] == [v for v in ref["values"].values()]
            outcome, detail = ("handled", "identical to the clean run") if same else ("failed", "differs from the clean run")
        results.append({"run": "task", "kind": "task plugin", "case": item_id, "what": case["what"],
                        "expect": case["expect"], "outcome": outcome, "detail": detail})

    left = _alive_children()
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    counts: dict[str, int] = {}
    for r in results:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    summary = {"cases": len(results), "counts": counts, "processes_left": left,
               "peak_rss_mb": {"driver": round(peak_self, 1), "largest_worker": round(peak_children, 1)},
               "seconds": round(time.perf_counter() - t0, 1), "results": results}
    table = markdown(summary)
    print(table)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(summary, fh, indent=2)
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(table)
    bad = sum(v for k, v in counts.items() if k != "handled") + len(left)
    return 1 if bad else 0


_TASK_FAULTS: dict[str, str] = {}


def _clean_key(report) -> str:
    return report.records[0]["task"]["key"].split("#")[1]


def markdown(summary: dict) -> str:
    c = summary["counts"]
    lines = [
        "# Bad-input scoreboard",
        "",
        "Regenerated by `python benchmarks/bad_input_scoreboard.py --markdown docs/robustness.md`; "
        "`tests/test_faults.py` runs the same script in CI and fails unless every case is handled.",
        "",
        f"**{summary['cases']} cases tried: {c.get('handled', 0)} handled, "
        f"{c.get('silently scored', 0)} silently scored, {c.get('crashed', 0)} crashed, "
        f"{sum(v for k, v in c.items() if k not in ('handled', 'silently scored', 'crashed'))} other.** "
        f"Processes left behind: {len(summary['processes_left'])}. Peak memory: driver "
        f"{summary['peak_rss_mb']['driver']:.0f} MB, largest worker {summary['peak_rss_mb']['largest_worker']:.0f} MB. "
        f"{summary['seconds']:.0f} s on this machine.",
        "",
        "A bad item is *handled* when it is a counted failure with its reason, or measured with the "
        "transformation noted on the item and counted in the record; a good item is handled when "
        "every value equals a clean run's. Plugin faults come from `bench.testing.faults`.",
        "",
        "| kind | case | expected | outcome | reason or note |",
        "|---|---|---|---|---|",
    ]
    for r in summary["results"]:
        detail = r["detail"].replace("|", "\\|")
        lines.append(f"| {r['kind']} | {r['what']} | {r['expect']} | {r['outcome']} | {detail} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
