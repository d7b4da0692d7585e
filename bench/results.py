"""Result records: schema-versioned JSON with full provenance, one per codec x dataset x task.

Layout of a record (``schema_version`` 1)::

    {
      "schema_version": 1,
      "kind": "bench.result",
      "created": "2026-11-24T21:00:00+00:00",
      "codec":   {name, class, version, config, config_hash, weights_hash, sample_rate,
                  frame_rate, vocab_sizes, nominal_kbps,
                  bitrate: {token_kbps: MetricValue, payload_kbps: MetricValue | null}},
      "task":    {name, version, config, key},
      "dataset": {name, version, config, content_hash, n_items},
      "seed": 0, "limit": null,
      "counts":  {requested, measured, failed, failure_reasons: {reason: n}},
      "metrics": {metric: {value, ci_low, ci_high, n, n_failed, higher_is_better, unit, failures}},
      "extra":   {...task-specific corpus-level results (per-group tables, trial lists)...},
      "provenance": {bench_version, git_commit, python, platform, packages: {name: version}},
      "timing":  {seconds per stage, summed over items}
    }

``load_record`` migrates older schema versions forward; a newer one is refused.
"""

from __future__ import annotations

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

SCHEMA_VERSION = 1

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
) -> dict[str, Any]:
    return _clean({
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
    })


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
    run key (config hash plus the run options that move numbers), task name and key."""
    ds, codec, task = record["dataset"], record["codec"], record["task"]
    codec_key = (record.get("run") or {}).get("key") or codec["config_hash"]
    task_tag = (task.get("key") or task["name"]).split("#")[-1][:8]
    parts = (f"{ds['name']}-{ds['content_hash'][:8]}", f"{codec['name']}-{codec_key[:8]}",
             f"{task['name']}-{task_tag}")
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


def migrate(record: dict) -> dict:
    """Bring a record to SCHEMA_VERSION. Version 1 is the first; later bumps add steps here."""
    version = record.get("schema_version")
    if not isinstance(version, int):
        raise ResultError("not a bench result record (no integer schema_version)")
    if version > SCHEMA_VERSION:
        raise ResultError(
            f"record has schema_version {version}, newer than this bench ({SCHEMA_VERSION}): upgrade bench"
        )
    missing = [k for k in ("codec", "task", "dataset", "counts", "metrics") if not isinstance(record.get(k), dict)]
    if missing:
        raise ResultError(f"malformed record: missing or invalid {', '.join(missing)}")
    return record


def load_record(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        try:
            record = json.load(fh)
        except json.JSONDecodeError as exc:
            raise ResultError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if record.get("kind") != "bench.result":
        raise ResultError(f"{path}: not a bench result record")
    return migrate(record)


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
