"""Result records: schema-versioned JSON with full provenance, one per codec x dataset x task.

Layout of a record (``schema_version`` 2)::

    {
      "schema_version": 2,
      "kind": "bench.result",
      "created": "2026-11-24T21:00:00+00:00",
      "codec":   {name, class, version, config, config_hash, weights_hash, sample_rate,
                  frame_rate, vocab_sizes, nominal_kbps,
                  bitrate: {token_kbps: MetricValue, payload_kbps: MetricValue | null}},
      "task":    {name, version, config, key},
      "dataset": {name, version, config, spec, content_hash, n_items, n_items_total},
      "seed": 0, "limit": null,
      "run":     {max_lag_s, threads, min_duration_s, max_duration_s, key, workers, timeout_s, isolated},
      "counts":  {requested, measured, failed, failure_reasons: {reason: n}, input_notes: {note: n}},
      "metrics": {metric: {value, ci_low, ci_high, n, n_failed, higher_is_better, unit, failures}},
      "extra":   {...task-specific corpus-level results (per-group tables, trial lists)...},
      "items":   {id: [item ids], values: {metric: [per-item value or null]}} (optional: records
                  written before it have none; ``bench compare`` pairs items through it),
      "provenance": {bench_version, git_commit, python, platform, packages: {name: version}},
      "timing":  {codec_seconds: {wall (and *_cpu) seconds per codec stage, summed over items},
                  task_seconds, task_cpu_seconds: the measurement's wall and CPU seconds over items,
                  summary_cpu_seconds: CPU-seconds of the task's corpus summary}
    }

``load_record`` validates a record and migrates older schema versions forward (1 -> 2: no
``run`` section, bitrates were means of per-item rates); a newer one is refused.
:class:`Record` is the typed view; :func:`to_frame` turns records into a pandas DataFrame.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import glob
import json
import math
import os
import platform
import re
import subprocess
import sys
from typing import Any

SCHEMA_VERSION = 2

#: Distributions whose versions can move a number; recorded when installed.
TRACKED_PACKAGES = (
    "bench", "numpy", "scipy", "soundfile", "soxr", "librosa", "pesq", "pystoi", "torch",
    "transformers", "faster-whisper", "ctranslate2", "jiwer", "whisper-normalizer", "resemblyzer",
    "praat-parselmouth", "scikit-learn", "lameenc", "pycodec2", "snac", "encodec",
)


class ResultError(ValueError):
    pass


def package_versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return out


def git_commit() -> str | None:
    """Commit of the bench source tree, with '-dirty' if it has uncommitted changes."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
            capture_output=True, text=True, timeout=5,
        )
        return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


_PROVENANCE: dict[str, Any] | None = None


def provenance() -> dict[str, Any]:
    global _PROVENANCE
    if _PROVENANCE is None:
        _PROVENANCE = {
            "bench_version": package_versions().get("bench", "unknown"),
            "git_commit": git_commit(),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "packages": package_versions(),
        }
    return _PROVENANCE


def _clean(obj: Any) -> Any:
    """JSON-safe: non-finite floats become None (JSON has no NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalar
        return _clean(obj.item())
    return obj


def make_record(
    *, codec: dict, task: dict, dataset: dict, seed: int, limit: int | None, counts: dict,
    metrics: dict, extra: dict | None = None, timing: dict | None = None, run: dict | None = None,
    items: dict | None = None,
) -> dict[str, Any]:
    record = _clean({
        "schema_version": SCHEMA_VERSION,
        "kind": "bench.result",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "codec": codec,
        "task": task,
        "dataset": dataset,
        "seed": seed,
        "limit": limit,
        "counts": counts,
        "metrics": metrics,
        "extra": extra or {},
        "run": run or {},
        "provenance": provenance(),
        "timing": timing or {},
        **({"items": items} if items is not None else {}),
    })
    validate(record)
    return record


def item_section(item_ids: list[str], values: list[dict[str, Any]], metrics: list[str]) -> dict[str, Any]:
    """The record's per-item values: item ids in run order and, for each metric with at least one
    number, one value per item (None where the item or the metric failed, or where the task keeps
    no per-item value of it). What paired comparisons (``bench compare``) read."""
    out: dict[str, list] = {}
    for m in metrics:
        col = [v.get(m) if isinstance(v.get(m), (int, float)) and not isinstance(v.get(m), bool) else None
               for v in values]
        if any(x is not None for x in col):
            out[m] = [float(x) if x is not None and math.isfinite(x) else None for x in col]
    return {"id": [str(i) for i in item_ids], "values": out}


def portable_path(path: str) -> str:
    """A path as a record keeps it: relative to the working folder when inside it, else the last
    two components behind ".../" (records travel; this machine's folders do not)."""
    if not (isinstance(path, str) and os.path.isabs(path)):
        return path
    rel = os.path.relpath(path)
    if not rel.startswith(".."):
        return rel
    return ".../" + "/".join(os.path.normpath(path).split(os.sep)[-2:])


def portable_config(config: dict) -> dict:
    """Options with absolute local paths made portable (see :func:`portable_path`)."""
    return {k: portable_path(v) if isinstance(v, str) and os.path.isabs(v) else v for k, v in config.items()}


def portable_spec(spec: str) -> str:
    """A ``name:key=value,...`` spec with absolute paths in its values made portable."""
    return re.sub(r"(?<=[=:,])(/[^,]*)", lambda m: portable_path(m.group(1)), spec)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "x"


def record_filename(record: dict) -> str:
    """A name that two different runs never share: dataset name and content hash, codec name and
    run key (config hash plus the run options that move numbers), task name, version and config
    hash."""
    ds, codec, task = record["dataset"], record["codec"], record["task"]
    codec_key = (record.get("run") or {}).get("key") or codec["config_hash"]
    task_tag = (task.get("key") or task["name"]).split("#")[-1][:8]
    parts = (f"{ds['name']}-{ds['content_hash'][:8]}", f"{codec['name']}-{codec_key[:8]}",
             f"{task['name']}-v{task['version']}-{task_tag}")
    return "__".join(_slug(p) for p in parts) + ".json"


def save_record(record: dict, out_dir: str) -> str:
    path = os.path.join(out_dir, record_filename(record))
    tmp = path + ".tmp"
    try:
        os.makedirs(out_dir, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(record, fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, path)  # atomic: a crash never leaves half a record
    except OSError as exc:
        raise ResultError(f"cannot write result record to {out_dir}: {exc.strerror or exc}") from None
    return path


def _v1_to_v2(record: dict) -> dict:
    """Schema 1 had no run section and averaged per-item bitrates (short clips weighed as much
    as long ones); the values are kept and marked as such."""
    out = dict(record)
    if not isinstance(record.get("run"), dict) or not record["run"]:
        out["run"] = {"key": None, "max_lag_s": None, "threads": None, "note": "schema 1: run options not recorded"}
    out["counts"] = {**record["counts"], "input_notes": record["counts"].get("input_notes", {})}
    codec = dict(record["codec"])
    bitrate = {}
    for key, mv in (codec.get("bitrate") or {}).items():
        bitrate[key] = None if mv is None else {**mv, "weighting": mv.get("weighting", "mean of per-item rates")}
    codec["bitrate"] = bitrate
    out["codec"] = codec
    out["schema_version"] = 2
    return out


#: version -> the step that brings a record of that version to the next one
MIGRATIONS = {1: _v1_to_v2}


def migrate(record: dict) -> dict:
    """Bring a record to SCHEMA_VERSION through every step in :data:`MIGRATIONS`, then validate."""
    version = record.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ResultError("not a bench result record (no integer schema_version)")
    if version > SCHEMA_VERSION:
        raise ResultError(
            f"record has schema_version {version}, newer than this bench ({SCHEMA_VERSION}): upgrade bench"
        )
    validate(record, version)
    while version < SCHEMA_VERSION:
        if version not in MIGRATIONS:
            raise ResultError(f"no migration from schema_version {version}")
        record = MIGRATIONS[version](record)
        version = record["schema_version"]
    validate(record, version)
    return record


_METRIC_FIELDS = {"value": (int, float, type(None)), "ci_low": (int, float, type(None)),
                  "ci_high": (int, float, type(None)), "n": (int,), "n_failed": (int,),
                  "higher_is_better": (bool, type(None)), "unit": (str,)}


def validate(record: dict, version: int = SCHEMA_VERSION) -> None:
    """Raise ResultError naming the first field that is missing or of the wrong type."""
    if record.get("kind") != "bench.result":
        raise ResultError("not a bench result record (kind != 'bench.result')")
    sections = ["codec", "task", "dataset", "counts", "metrics"] + (["run"] if version >= 2 else [])
    missing = [k for k in sections if not isinstance(record.get(k), dict)]
    if missing:
        raise ResultError(f"malformed record: missing or invalid {', '.join(missing)}")
    for section, keys in (("codec", ("name", "config_hash")), ("task", ("name", "version")),
                          ("dataset", ("name", "content_hash")), ("counts", ("requested", "measured", "failed"))):
        for key in keys:
            if key not in record[section]:
                raise ResultError(f"malformed record: {section}.{key} is missing")
    items = record.get("items")
    if items is not None:
        ids = items.get("id") if isinstance(items, dict) else None
        if not isinstance(ids, list) or not isinstance(items.get("values"), dict):
            raise ResultError("malformed record: items needs an id list and a values object")
        for name, col in items["values"].items():
            if not isinstance(col, list) or len(col) != len(ids):
                raise ResultError(f"malformed record: items.values.{name} is not a list of {len(ids)} values")
    for name, mv in record["metrics"].items():
        if not isinstance(mv, dict):
            raise ResultError(f"malformed record: metrics.{name} is not an object")
        for key, types in _METRIC_FIELDS.items():
            if key not in mv or not isinstance(mv[key], types):
                raise ResultError(f"malformed record: metrics.{name}.{key} is missing or not "
                                  f"{' or '.join(t.__name__ for t in types)}")


@dataclasses.dataclass(frozen=True)
class MetricSummary:
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    n_failed: int
    higher_is_better: bool | None
    unit: str
    failures: dict[str, int] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Record:
    """A result record, validated and typed (the JSON file is :meth:`to_dict`)."""

    schema_version: int
    created: str
    codec: dict[str, Any]
    task: dict[str, Any]
    dataset: dict[str, Any]
    seed: int
    limit: int | None
    run: dict[str, Any]
    counts: dict[str, Any]
    metrics: dict[str, MetricSummary]
    extra: dict[str, Any]
    provenance: dict[str, Any]
    timing: dict[str, Any]
    items: dict[str, Any] | None = None  # per-item values (see item_section); None in older records

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Record":
        data = migrate(data)
        metrics = {name: MetricSummary(**{k: mv.get(k) for k in _METRIC_FIELDS}, failures=mv.get("failures") or {})
                   for name, mv in data["metrics"].items()}
        return cls(schema_version=data["schema_version"], created=data.get("created", ""), codec=data["codec"],
                   task=data["task"], dataset=data["dataset"], seed=data.get("seed", 0), limit=data.get("limit"),
                   run=data["run"], counts=data["counts"], metrics=metrics, extra=data.get("extra") or {},
                   provenance=data.get("provenance") or {}, timing=data.get("timing") or {},
                   items=data.get("items"))

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["metrics"] = {k: dataclasses.asdict(v) for k, v in self.metrics.items()}
        if out["items"] is None:
            del out["items"]
        return {"kind": "bench.result", **out}


def load_record(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        try:
            record = json.load(fh)
        except json.JSONDecodeError as exc:
            raise ResultError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if record.get("kind") != "bench.result":
        raise ResultError(f"{path}: not a bench result record")
    try:
        return migrate(record)
    except ResultError as exc:
        raise ResultError(f"{path}: {exc}") from None


def find_records(paths: list[str]) -> list[dict]:
    """Load records from files and directories (searched recursively for *.json).

    Other JSON files in a results folder (baselines, trial lists: valid JSON that is not a
    bench record) are skipped; a file that is not valid JSON, or a bench record that does not
    load, is an error naming the file: a corrupt record never silently drops out of a table."""
    files: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            files.extend(glob.glob(os.path.join(p, "**", "*.json"), recursive=True))
        elif os.path.isfile(p):
            files.append(p)
        else:
            raise ResultError(f"no such file or directory: {p}")
    explicit = {os.path.abspath(p) for p in paths if os.path.isfile(p)}
    records = []
    for f in sorted(files):
        try:
            with open(f, encoding="utf-8") as fh:
                data = json.load(fh)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ResultError(f"{f}: corrupt record (not valid JSON: {exc}); delete it or run again") from None
        if not (isinstance(data, dict) and data.get("kind") == "bench.result"):
            if os.path.abspath(f) in explicit:
                raise ResultError(f"{f}: not a bench result record")
            continue
        try:
            records.append(migrate(data))
        except ResultError as exc:
            raise ResultError(f"{f}: {exc}") from None
    return records


#: Columns of :func:`to_frame`, one row per codec x dataset x task x metric.
FRAME_COLUMNS = ("codec", "codec_spec", "codec_version", "config_hash", "run_key", "dataset", "dataset_spec",
                 "content_hash", "n_items", "task", "task_version", "task_key", "metric", "value", "ci_low",
                 "ci_high", "n", "n_failed", "higher_is_better", "unit", "token_kbps", "payload_kbps",
                 "measured", "failed", "created")


def to_frame(paths_or_records: list[Any]) -> Any:
    """Result records (files, folders or loaded dicts) as a pandas DataFrame, one row per
    codec x dataset x task x metric, in a stable order; for notebooks and for the tables.
    ``record`` is the row's position among the loaded records."""
    import pandas as pd

    records = [r for r in paths_or_records if isinstance(r, dict)]
    paths = [p for p in paths_or_records if not isinstance(p, dict)]
    if paths:
        records += find_records([os.fspath(p) for p in paths])
    rows = []
    for index, r in enumerate(records):
        bitrate = r["codec"].get("bitrate") or {}
        kbps = {k: (bitrate.get(k) or {}).get("value") for k in ("token_kbps", "payload_kbps")}
        for metric, mv in r["metrics"].items():
            rows.append({
                "codec": r["codec"]["name"], "codec_spec": r["codec"].get("spec") or r["codec"]["name"],
                "codec_version": r["codec"].get("version"), "config_hash": r["codec"]["config_hash"],
                "run_key": (r.get("run") or {}).get("key") or r["codec"]["config_hash"],
                "dataset": r["dataset"]["name"], "dataset_spec": r["dataset"].get("spec") or r["dataset"]["name"],
                "content_hash": r["dataset"]["content_hash"], "n_items": r["counts"]["requested"],
                "task": r["task"]["name"], "task_version": r["task"]["version"], "task_key": r["task"].get("key"),
                "metric": metric, **{k: mv.get(k) for k in ("value", "ci_low", "ci_high", "n", "n_failed",
                                                             "higher_is_better", "unit")},
                **kbps, "measured": r["counts"]["measured"], "failed": r["counts"]["failed"],
                "created": r.get("created"), "record": index,
            })
    frame = pd.DataFrame(rows, columns=[*FRAME_COLUMNS, "record"])
    return frame.sort_values(["task", "dataset", "codec", "run_key", "metric"], kind="stable").reset_index(drop=True)


def items_frame(store_path: str, run_key: str | None = None, task: str | None = None) -> Any:
    """Per-item values from a run's SQLite store as a DataFrame: one row per item x task x
    metric (value, or the failure reason), optionally for one codec run key and one task."""
    import sqlite3

    import pandas as pd

    sql = ("SELECT m.codec_hash AS run_key, t.item_id, m.item_hash, m.task_key, m.metric, m.value, m.failure "
           "FROM metric_values m JOIN task_rows t USING (codec_hash, item_hash, task_key)")
    where, args = [], []
    if run_key:
        where.append("m.codec_hash = ?")
        args.append(run_key)
    if task:
        where.append("m.task_key LIKE ?")
        args.append(task + "@%")
    if where:
        sql += " WHERE " + " AND ".join(where)
    with sqlite3.connect(f"file:{store_path}?mode=ro", uri=True) as conn:
        frame = pd.read_sql_query(sql + " ORDER BY m.codec_hash, t.item_id, m.task_key, m.metric", conn, params=args)
    frame["task"] = frame["task_key"].str.split("@").str[0]
    return frame


def frame_cells(frame: Any) -> dict[tuple[int, str], dict[str, Any]]:
    """(record position, metric) -> that row of :func:`to_frame` as plain Python values
    (pandas' NaN for a missing number becomes None again)."""
    out = {}
    for row in frame.to_dict("records"):
        clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for k in ("n", "n_failed", "measured", "failed", "n_items"):
            if clean.get(k) is not None:
                clean[k] = int(clean[k])
        out[(int(row["record"]), row["metric"])] = clean
    return out

