"""From stored rows to result records: corpus bitrate, per-task summaries, the record files."""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from typing import Any, Callable

import numpy as np

from bench.codecs.base import Codec
from bench.datasets import DEFAULT_DATASET
from bench.datasets.base import Dataset, Item, dataset_hash
from bench.metrics.stats import ratio_interval
from bench.results import (ResultError, item_section, load_record, make_record, portable_config, portable_spec, record_filename,
                           save_record)
from bench.run.options import RunError, RunOptions, run_key
from bench.store import Store
from bench.tasks.base import Row, Task


def corpus_bitrate(rates_bps: list[float], durations: list[float], seed: int, n_boot: int = 2000) -> dict[str, Any]:
    """Corpus bitrate in kbps: total bits over total seconds (fixed per-file overheads of short
    clips weigh by their duration), a bootstrap interval of that ratio over items, and the
    unweighted per-item spread beside it."""
    rates = np.asarray(rates_bps, dtype=np.float64) / 1000.0
    durs = np.asarray(durations, dtype=np.float64)
    bits = rates * durs
    value = float(bits.sum() / durs.sum())
    lo = hi = value
    if len(rates) > 1:
        lo, hi = ratio_interval(bits, durs, seed, n_boot)
    return {"value": value, "ci_low": lo, "ci_high": hi, "n": int(len(rates)), "n_failed": 0,
            "higher_is_better": False, "unit": "kbps", "failures": {},
            "weighting": "total bits / total seconds",
            "item_mean": float(rates.mean()), "item_min": float(rates.min()), "item_max": float(rates.max())}


def summarize_run(store: Store, codec: Codec, codec_name: str, dataset: Dataset, items: list[Item],
                  hashes: list[str], tasks: dict[str, Task], opts: RunOptions,
                  log: Callable[[str], None] | None = None) -> tuple[list[dict], list[str]]:
    log = log or (lambda msg: None)
    chash = run_key(codec, opts)
    stats = store.codec_stats(chash, hashes)
    codec_info = codec.describe()
    codec_info["name"] = codec_name
    codec_info["spec"] = portable_spec(opts.codec)
    codec_info["config"] = portable_config(codec_info.get("config") or {})
    if isinstance(codec_info.get("weights_dir"), str):
        codec_info["weights_dir"] = portable_spec("=" + codec_info["weights_dir"])[1:]
    ok_stats = [stats[h] for h in hashes if h in stats and stats[h]["status"] == "ok"]
    bitrate = {}
    for key in ("token_bps", "payload_bps"):
        pairs = [(s[key], s["duration"]) for s in ok_stats
                 if s[key] is not None and math.isfinite(s[key]) and s["duration"]]
        name = key.replace("_bps", "_kbps")
        bitrate[name] = corpus_bitrate([p[0] for p in pairs], [p[1] for p in pairs], opts.seed) if pairs else None
        if bitrate[name] is not None:
            bitrate[name]["n_failed"] = len(items) - len(pairs)  # items with no codec output
    codec_info["bitrate"] = bitrate
    codec_timing: Counter[str] = Counter()
    for s in ok_stats:
        codec_timing.update(s["timings"])
    ds_info = dataset.describe(items)
    ds_info["content_hash"] = dataset_hash(hashes)
    ds_info["n_items_total"] = len(dataset.items())
    ds_info["spec"] = portable_spec(opts.dataset or DEFAULT_DATASET)
    ds_info["config"] = portable_config(ds_info.get("config") or {})
    input_notes: Counter[str] = Counter()
    for h in hashes:
        for note in (stats.get(h) or {}).get("notes") or []:
            input_notes[note] += 1

    records, paths = [], []
    for key, task in tasks.items():
        raw = store.task_rows(chash, key, hashes)
        rows = []
        reasons: Counter[str] = Counter()
        for item, ih in zip(items, hashes):
            r = raw.get(ih)
            if r is None:
                rows.append(Row(item.id, item.labels(), {}, {}, failure="not measured"))
                reasons["not measured"] += 1
                continue
            failure = r["reason"] if r["status"] != "ok" else None
            if failure:
                reasons[failure] += 1
            rows.append(Row(item.id, item.labels(), r["values"], r["extras"], failure=failure))
        c = time.process_time()
        metrics = {name: mv.to_dict() for name, mv in checked_summary(task, task.summarize(rows, opts.seed)).items()}
        extra = task.corpus_report(rows, opts.seed, opts.out)
        summary_cpu = time.process_time() - c
        measured = sum(1 for r in rows if r.failure is None)
        task_seconds = sum(r["seconds"] or 0.0 for r in raw.values())
        task_cpu = sum(r.get("cpu_seconds") or 0.0 for r in raw.values())
        record = make_record(
            codec=codec_info,
            task={**_portable_task(task.describe()), "key": key, "metric_order": [m.name for m in task.metrics],
                  "metrics": {m.name: {"unit": m.unit, "higher_is_better": m.higher_is_better,
                                       "description": m.description} for m in task.metrics},
                  **({"metric_sections": task.metric_sections} if getattr(task, "metric_sections", None) else {})},
            dataset=ds_info, seed=opts.seed, limit=opts.limit,
            counts={"requested": len(items), "measured": measured, "failed": len(items) - measured,
                    "failure_reasons": dict(sorted(reasons.items())),
                    "input_notes": dict(sorted(input_notes.items()))},
            metrics=metrics, extra=extra, items=item_section([r.item_id for r in rows], [r.values for r in rows],
                                                             [m.name for m in task.metrics]),
            timing={"codec_seconds": dict(codec_timing), "task_seconds": task_seconds,
                    "task_cpu_seconds": round(task_cpu, 4), "summary_cpu_seconds": round(summary_cpu, 4)},
            run={**opts.key_parts(), "key": chash, "workers": opts.workers, "timeout_s": opts.timeout,
                 "isolated": opts.isolated(), "executor": opts.executor_kind(), "scheduler": opts.scheduler},
        )
        records.append(record)
        out_dir = os.path.join(opts.out, "results")
        path = os.path.join(out_dir, record_filename(record))
        if measured == 0 and _has_measured_record(path):
            log(f"  nothing measured for {task.name}: kept the earlier record {path}")
        else:
            path = save_record(record, out_dir)
        paths.append(path)
    return records, paths


#: Bumped when the record a summary produces changes for the same rows (then no stored one is reused).
SUMMARY_FORMAT = "1"


def summary_key(store: Store, chash: str, key: str, task: Task, hashes: list[str], opts: RunOptions,
                n_items_total: int) -> str:
    """What a task's record depends on, hashed: the run key, the task key, the items, the
    options recorded in the record, the task's code (its module file) and a hash of every stored
    value the record is built from (codec outputs' facts, task rows, metric values, arrays) for
    this run's items (a run of the same codec on another dataset does not change it)."""
    import hashlib
    import inspect
    import json

    try:
        with open(inspect.getfile(type(task)), "rb") as fh:
            code = hashlib.sha256(fh.read()).hexdigest()
    except (OSError, TypeError):
        code = None
    rows = hashlib.sha256()  # every stored value the record is built from (blobs of tokens and audio aside)
    queries = (
        ("SELECT item_hash, status, reason, lag, duration, token_bps, payload_bps, notes, timings "
         "FROM codec_outputs WHERE codec_hash=? ORDER BY item_hash", (chash,)),
        ("SELECT item_hash, item_id, status, reason, extras, seconds FROM task_rows "
         "WHERE codec_hash=? AND task_key=? ORDER BY item_hash", (chash, key)),
        ("SELECT item_hash, metric, value, failure FROM metric_values "
         "WHERE codec_hash=? AND task_key=? ORDER BY item_hash, metric", (chash, key)),
        ("SELECT item_hash, path, dtype, shape, data FROM item_arrays "
         "WHERE codec_hash=? AND task_key=? ORDER BY item_hash, path", (chash, key)),
    )
    wanted = set(hashes)  # only this run's items: other datasets' outputs of the codec do not count
    for sql, args in queries:
        for row in store.conn.execute(sql, args):
            if row[0] not in wanted:
                continue
            for v in row:
                rows.update(v if isinstance(v, bytes) else repr(v).encode())
                rows.update(b"\x00")
        rows.update(b"\x01")
    fingerprint = rows.hexdigest()
    parts = [SUMMARY_FORMAT, chash, key, hashlib.sha256("\n".join(hashes).encode()).hexdigest(), n_items_total,
             opts.seed, opts.limit, os.path.abspath(opts.out), opts.codec, opts.dataset, opts.workers, opts.timeout,
             opts.isolated(), opts.executor_kind(), opts.scheduler, code, fingerprint]
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _summary_db(opts: RunOptions):
    import sqlite3

    folder = os.path.join(opts.out, "cache")
    os.makedirs(folder, exist_ok=True)
    conn = sqlite3.connect(os.path.join(folder, "summaries.sqlite"), timeout=60.0)
    conn.execute("CREATE TABLE IF NOT EXISTS summaries (key TEXT PRIMARY KEY, path TEXT, sha256 TEXT)")
    return conn


def stored_summaries(keys: list[str], opts: RunOptions) -> tuple[list[dict], list[str]] | None:
    """The records written by an earlier run for exactly these summary keys, if every one is
    still on disk unchanged (a finished run run again: nothing to recompute); else None."""
    import hashlib
    import json

    try:
        conn = _summary_db(opts)
        try:
            found = [conn.execute("SELECT path, sha256 FROM summaries WHERE key=?", (k,)).fetchone() for k in keys]
        finally:
            conn.close()
    except Exception:  # noqa: BLE001 - no reuse, the summary is recomputed
        return None
    if any(f is None for f in found):
        return None
    records, paths = [], []
    for path, digest in found:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError:
            return None
        if hashlib.sha256(data).hexdigest() != digest:
            return None
        records.append(json.loads(data))
        paths.append(path)
    return records, paths


def remember_summaries(keys: list[str], paths: list[str], opts: RunOptions) -> None:
    import hashlib

    try:
        conn = _summary_db(opts)
        with conn:
            for k, path in zip(keys, paths):
                with open(path, "rb") as fh:
                    conn.execute("INSERT OR REPLACE INTO summaries VALUES (?, ?, ?)",
                                 (k, path, hashlib.sha256(fh.read()).hexdigest()))
        conn.close()
    except Exception:  # noqa: BLE001 - only a later re-run's shortcut is lost
        pass


def _has_measured_record(path: str) -> bool:
    try:
        return load_record(path)["counts"]["measured"] > 0
    except (OSError, ResultError, KeyError, TypeError):
        return False


def checked_summary(task: Task, summary: dict[str, Any]) -> dict[str, Any]:
    """A task's summary, checked against its declared metrics: the same names, and each
    value's direction (higher is better, lower is better, or neither) as declared."""
    declared = {m.name: m for m in task.metrics}
    if set(summary) != set(declared):
        extra, missing = sorted(set(summary) - set(declared)), sorted(set(declared) - set(summary))
        raise RunError(f"task {task.name} summarised metrics that differ from its declared ones "
                       f"(undeclared: {', '.join(extra) or 'none'}; missing: {', '.join(missing) or 'none'})")
    for name, mv in summary.items():
        if mv.higher_is_better != declared[name].higher_is_better:
            raise RunError(f"task {task.name}: metric {name} is declared higher_is_better="
                           f"{declared[name].higher_is_better} but summarised as {mv.higher_is_better}")
    return {name: summary[name] for name in declared}


def _portable_task(info: dict[str, Any]) -> dict[str, Any]:
    """A task's description with absolute local paths (asr:model=/abs/dir) made portable."""
    config = dict(info.get("config") or {})
    out = portable_config(config)
    if isinstance(config.get("resolved"), dict):
        out["resolved"] = portable_config(config["resolved"])
    return {**info, "config": out}

