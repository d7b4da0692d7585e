"""Audio for the report's codec pages: the chosen items, re-made through the codec.

Records hold no audio. For each codec page the report loads the codec from the record's spec
(the registry), loads the items from the dataset's spec (the registry resolves item ids to
files), and runs the run's own pipeline (:func:`bench.run.pipeline.run_codec`: resample,
encode, decode, resample to 16 kHz, align), then writes both sides as 16-bit WAV files at
16 kHz: the reference the metrics compared against and the aligned reconstruction they scored.

Which items: ``n`` items drawn with a seeded generator from the run's selection of the
dataset (the same items on every codec page that used that dataset selection), plus, for each
scored metric with per-item values, the item where the codec did worst. Per-item values come
from the record's ``items`` section, or from the run's ``bench.sqlite`` found beside the
records folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from typing import Any, Callable

import numpy as np

from bench.audio import METRIC_SR

#: The metrics of a record whose per-item values choose a "worst item" (scores only).
WORST_PER_RECORD = 8


@dataclasses.dataclass
class Clip:
    item_id: str
    why: list[str]
    original: str | None = None  # path relative to the site root
    reconstruction: str | None = None
    error: str | None = None


def slug(text: str, keep: int = 40) -> str:
    """A file-name-safe form of any string, with a short hash so two ids never collide."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("._")[:keep] or "x"
    return f"{safe}-{hashlib.sha256(str(text).encode()).hexdigest()[:6]}"


def sample_ids(ids: list[str], n: int, seed: int) -> list[str]:
    """``n`` of ``ids`` chosen by a seeded generator, in id order (reproducible)."""
    if n <= 0 or not ids:
        return []
    if n >= len(ids):
        return list(ids)
    rng = np.random.default_rng(seed)
    return [ids[i] for i in sorted(rng.choice(len(ids), size=n, replace=False))]


def per_item_values(record: dict, stores: list[str]) -> tuple[list[str], dict[str, list[float | None]]] | None:
    """(item ids, metric -> one value per item or None) of a record, from its ``items``
    section or from a run store that has rows for its codec run key and task; None if neither."""
    items = record.get("items")
    if isinstance(items, dict) and isinstance(items.get("id"), list) and isinstance(items.get("values"), dict):
        return [str(i) for i in items["id"]], {str(m): list(v) for m, v in items["values"].items()
                                                if isinstance(v, list) and len(v) == len(items["id"])}
    run_key = (record.get("run") or {}).get("key") or record["codec"]["config_hash"]
    task_key = record["task"].get("key")
    for store in stores:
        try:
            from bench.results import items_frame

            frame = items_frame(store, run_key=run_key, task=record["task"]["name"])
        except Exception:  # noqa: BLE001 - not a store of this run, or unreadable: try the next
            continue
        if task_key:
            frame = frame[frame["task_key"] == task_key]
        if frame.empty:
            continue
        ids = sorted(set(frame["item_id"]))
        index = {i: k for k, i in enumerate(ids)}
        values: dict[str, list[float | None]] = {}
        for row in frame.itertuples(index=False):
            col = values.setdefault(str(row.metric), [None] * len(ids))
            v = row.value
            col[index[row.item_id]] = None if v is None or not np.isfinite(v) else float(v)
        return ids, values
    return None


def worst_items(record: dict, stores: list[str], allowed: set[str] | None = None) -> list[tuple[str, str]]:
    """[(item id, why)]: for each scored metric with per-item values, the item with the worst
    value (lowest where higher is better, highest where lower is better)."""
    found = per_item_values(record, stores)
    if found is None:
        return []
    ids, values = found
    out = []
    order = list(record["task"].get("metric_order") or []) + sorted(values)
    for m in dict.fromkeys(order):
        mv = record["metrics"].get(m)
        col = values.get(m)
        if not mv or col is None or mv.get("higher_is_better") is None:
            continue
        pairs = [(v, i) for i, v in zip(ids, col) if v is not None and (allowed is None or i in allowed)]
        if not pairs:
            continue
        # the worst value (lowest where higher is better, else highest); ties go to the first id
        v, i = min(pairs, key=lambda p: (p[0] if mv["higher_is_better"] else -p[0], p[1]))
        unit = f" {mv.get('unit')}" if mv.get("unit") else ""
        out.append((i, f"worst {m} ({record['task']['name']}): {v:.4g}{unit}"))
        if len(out) >= WORST_PER_RECORD:
            break
    return out


def _write_wav(path: str, wave: np.ndarray) -> None:
    import soundfile as sf

    os.makedirs(os.path.dirname(path), exist_ok=True)
    sf.write(path, np.clip(np.asarray(wave, dtype=np.float32), -1.0, 1.0), METRIC_SR, subtype="PCM_16")


class AudioMaker:
    """Builds datasets and codecs once, writes each original once; never raises for an item."""

    def __init__(self, site_dir: str, log: Callable[[str], None] = lambda m: None):
        self.site_dir = site_dir
        self.log = log
        self._datasets: dict[str, Any] = {}

    def dataset_items(self, spec: str) -> dict[str, Any]:
        """item id -> Item of a dataset spec (raises with the reason when it cannot be built)."""
        if spec not in self._datasets:
            try:
                from bench.run.options import build_dataset

                self._datasets[spec] = {it.id: it for it in build_dataset(spec).items()}
            except Exception as exc:  # noqa: BLE001 - the page says why
                self._datasets[spec] = exc
        got = self._datasets[spec]
        if isinstance(got, Exception):
            raise got
        return got

    def run_ids(self, record: dict) -> list[str]:
        """The ids of the items the record's run selected (its limit and seed)."""
        from bench.run.options import select_items

        items = list(self.dataset_items(_dataset_spec(record)).values())
        return [it.id for it in select_items(items, record.get("limit"), int(record.get("seed") or 0))]

    def clips(self, record: dict, chosen: list[tuple[str, str]], codec_slug: str) -> tuple[list[Clip], str | None]:
        """Write original and reconstruction of each chosen item; (clips, page-level problem)."""
        merged: dict[str, Clip] = {}
        for item_id, why in chosen:
            merged.setdefault(item_id, Clip(item_id, [])).why.append(why)
        clips = list(merged.values())
        spec = _dataset_spec(record)
        try:
            items = self.dataset_items(spec)
        except Exception as exc:  # noqa: BLE001
            return clips, f"the dataset {spec!r} cannot be loaded here ({_reason(exc)}), so there is no audio"
        try:
            codec = _load_codec(record)
        except Exception as exc:  # noqa: BLE001
            return clips, f"the codec cannot be loaded here ({_reason(exc)}), so there are no reconstructions"
        from bench.run.pipeline import run_codec

        ds_dir = os.path.join("audio", slug(spec + "@" + record["dataset"]["content_hash"][:8]))
        max_lag = float((record.get("run") or {}).get("max_lag_s") or 0.25)
        for clip in clips:
            item = items.get(clip.item_id)
            if item is None:
                clip.error = "this item is not in the dataset as found here"
                continue
            try:
                audio = item.load()
                out, ref16 = run_codec(codec, audio.wave, audio.sample_rate, max_lag)
            except Exception as exc:  # noqa: BLE001 - one item never stops the page
                clip.error = f"could not re-make this item: {_reason(exc)}"
                continue
            base = slug(clip.item_id)
            clip.original = os.path.join(ds_dir, base + ".orig.wav")
            clip.reconstruction = os.path.join(ds_dir, codec_slug, base + ".wav")
            if not os.path.exists(os.path.join(self.site_dir, clip.original)):
                _write_wav(os.path.join(self.site_dir, clip.original), ref16)
            _write_wav(os.path.join(self.site_dir, clip.reconstruction), out.recon)
        return clips, None


def _dataset_spec(record: dict) -> str:
    return str(record["dataset"].get("spec") or record["dataset"]["name"])


def _load_codec(record: dict) -> Any:
    """The codec the record measured, built from its spec; refuses one whose config now hashes
    differently (the reconstructions would not be those that were scored)."""
    from bench.run.options import build_codec

    codec = build_codec(str(record["codec"].get("spec") or record["codec"]["name"]))
    hook = getattr(codec, "unavailable_reason", None)
    why = hook(dict(record["codec"].get("config") or {})) if callable(hook) else None
    if why:
        raise RuntimeError(why)
    codec.load()
    have = codec.describe().get("config_hash")
    if have and have != record["codec"]["config_hash"]:
        raise RuntimeError(f"its config hashes to {have} here, the record's to {record['codec']['config_hash']}")
    return codec


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
