"""The built-in default corpus ``synth-speech``: frozen espeak-ng/MBROLA speech with known labels.

240 utterances (1.6-3.3 s, 16 kHz 16-bit FLAC, about 11 MB) shipped in the package, so a run
needs no download and no system tool. Labels per item (the shared schema of the probes):
``text``, ``speaker`` (a distinct timbre: espeak ``+variant`` or MBROLA voice) and ``attrs``
``accent``, ``pitch_class`` (low/high), ``f0_median`` (Hz, Praat), ``gender``, ``duration`` (s),
``split`` (train/test, disjoint in speakers and sentences), ``sentence_id``, ``voice`` (the
espeak voice string) and ``espeak_pitch`` (the ``-p`` value).

Options: ``subset`` = ``full`` (all), ``quick`` (48 items balanced over accent, pitch class and
split, for CI), ``train`` or ``test``; ``verify`` (default true) checks every file against
``SHA256SUMS`` when the items are listed (about 11 MB of hashing, tens of milliseconds): a file
that differs from the frozen corpus becomes a failed item with that reason. ``root`` points at
another build of the corpus (``bench data build synth-speech --out DIR``).

How it was made: the recipe :mod:`recipes.synth_speech.build` (not needed to load it) and
``recipe.json`` next to the files.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from bench.datasets.base import Dataset, Item
from bench.datasets.manifest import ManifestError, items_from_rows, read_manifest_rows

SUBSETS = ("full", "quick", "train", "test")

#: Manifest columns that select subsets but are not labels (kept out of ``Item.attrs``, so an
#: item has the same content hash in every subset and cached work is shared between them).
NON_LABELS = ("quick",)


class SynthSpeechError(ManifestError):
    """The corpus folder is missing or incomplete, or an option is invalid."""


def default_root() -> str:
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "synth_speech")


def read_sums(path: str) -> dict[str, str]:
    """``SHA256SUMS`` (``<hex>  <relative path>`` lines) as {path: hex}."""
    sums = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                digest, _, rel = line.rstrip("\n").partition("  ")
                sums[rel] = digest
    return sums


@dataclasses.dataclass(frozen=True)
class SynthSpeechConfig:
    subset: str = "full"
    verify: bool = True
    root: str = ""  # empty: the corpus shipped in the package

    def __post_init__(self) -> None:
        if self.subset not in SUBSETS:
            raise ValueError(f"subset must be one of {', '.join(SUBSETS)}, got {self.subset!r}")


class SynthSpeechDataset(Dataset):
    Config = SynthSpeechConfig
    version = "v1"
    description = ("built-in speech, 240 items: 6 accents x 12 speakers x low/high pitch, "
                   "train/test disjoint in speakers and sentences (subset=full|quick|train|test)")

    @property
    def root(self) -> str:
        return os.path.abspath(self.config.root) if self.config.root else default_root()

    def _read(self) -> tuple[list[tuple[int, dict]], dict[str, str]]:
        root = self.root
        manifest = os.path.join(root, "manifest.jsonl")
        if not os.path.isfile(manifest):
            raise SynthSpeechError(
                f"synth-speech corpus not found at {root} (no manifest.jsonl); reinstall the package "
                "or rebuild it with: bench data build synth-speech --out DIR")
        sums: dict[str, str] = {}
        sums_path = os.path.join(root, "SHA256SUMS")
        if self.config.verify:
            if not os.path.isfile(sums_path):
                raise SynthSpeechError(f"{sums_path} is missing: cannot verify the corpus (verify=false skips)")
            sums = read_sums(sums_path)
        return read_manifest_rows(manifest), sums

    def _items(self) -> list[Item]:
        from bench.audio import file_hash

        rows, sums = self._read()
        subset = self.config.subset
        if subset == "quick":
            rows = [(n, r) for n, r in rows if r.get("quick")]
        elif subset in ("train", "test"):
            rows = [(n, r) for n, r in rows if r.get("split") == subset]
        rows = [(n, {k: v for k, v in r.items() if k not in NON_LABELS}) for n, r in rows]
        items = items_from_rows(rows, self.root, "synth_speech/manifest.jsonl")
        if not self.config.verify:
            return items
        checked = []
        for item, (_, row) in zip(items, rows):
            if item.error is None:
                rel = row["path"]
                want = sums.get(rel)
                if want is None:
                    item = dataclasses.replace(item, error=f"{rel} is not listed in SHA256SUMS")
                elif not os.path.isfile(item.path):
                    item = dataclasses.replace(item, error=f"{rel} is missing from the corpus folder")
                elif file_hash(item.path, disk=False) != want:  # read, not taken from a cache on disk
                    item = dataclasses.replace(
                        item, error=f"{rel} differs from the frozen corpus (SHA-256 mismatch)")
            checked.append(item)
        return checked

    def recipe(self) -> dict[str, Any]:
        path = os.path.join(self.root, "recipe.json")
        if not os.path.isfile(path):
            return {}
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)

    def describe(self, items: list[Item] | None = None) -> dict[str, Any]:
        info = super().describe(items)
        recipe = self.recipe()
        info["corpus_version"] = recipe.get("version")
        info["sentences_sha256"] = recipe.get("sentences_sha256")
        if self.config.verify:
            items = self.items() if items is None else items
            info["checksum_failures"] = sum(1 for it in items if it.error and "SHA" in it.error)
        return info


def corpus_stats(items: list[Item], root: str | None = None) -> dict[str, Any]:
    """Counts per factor, durations, size on disk and median F0 per speaker and pitch class.

    The quick subset is read from the manifest's ``quick`` column (it is not an item label).
    """
    import collections
    import statistics

    def count(key: str, pool: list[Item]) -> dict[str, int]:
        values = [it.speaker if key == "speaker" else it.attrs.get(key) for it in pool]
        return dict(sorted(collections.Counter(map(str, values)).items()))

    stats: dict[str, Any] = {"n_items": len(items)}
    stats["counts"] = {k: count(k, items) for k in ("accent", "speaker", "pitch_class", "split", "gender")}
    durations = [float(it.attrs["duration"]) for it in items]
    stats["total_duration_s"] = round(sum(durations), 2)
    stats["duration_s"] = {"min": min(durations), "median": statistics.median(durations), "max": max(durations)}
    root = root or default_root()
    size = 0
    for dirpath, _, files in os.walk(root):
        size += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
    stats["size_mb"] = round(size / 1e6, 3)
    f0: dict[str, dict[str, list[float]]] = collections.defaultdict(lambda: collections.defaultdict(list))
    for it in items:
        f0[str(it.speaker)][it.attrs["pitch_class"]].append(float(it.attrs["f0_median"]))
    stats["f0_by_speaker"] = {
        spk: {"low": statistics.median(v["low"]), "high": statistics.median(v["high"]),
              "gap": min(v["high"]) - max(v["low"])}
        for spk, v in sorted(f0.items()) if v.get("low") and v.get("high")
    }
    with open(os.path.join(root, "manifest.jsonl"), encoding="utf-8") as fh:
        quick_ids = {r["id"] for r in map(json.loads, filter(str.strip, fh)) if r.get("quick")}
    quick = [it for it in items if it.id in quick_ids]
    cells = collections.Counter((it.attrs["split"], it.attrs["accent"], it.attrs["pitch_class"]) for it in quick)
    stats["quick"] = {
        "n_items": len(quick),
        "split_accent_pitch_min_max": {"cells": len(cells), "min": min(cells.values(), default=0),
                                       "max": max(cells.values(), default=0)},
        "counts": {k: count(k, quick) for k in ("accent", "speaker", "pitch_class", "split", "gender")},
    }
    return stats


#: shipped versions of synth-speech-probe and their folders under bench/data
PROBE_VERSIONS = {"v1": "synth_speech_probe", "v2": "synth_speech_probe_v2"}
PROBE_DEFAULT = "v2"


def probe_root(version: str = PROBE_DEFAULT) -> str:
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", PROBE_VERSIONS[version])


@dataclasses.dataclass(frozen=True)
class SynthSpeechProbeConfig(SynthSpeechConfig):
    root: str = ""  # empty: the probe corpus shipped in the package
    #: which shipped version (``root`` overrides it): ``v2`` (the default) or ``v1``
    version: str = PROBE_DEFAULT

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.version not in PROBE_VERSIONS:
            raise ValueError(f"version must be one of {', '.join(PROBE_VERSIONS)}, got {self.version!r}")


class SynthSpeechProbeDataset(SynthSpeechDataset):
    """``synth-speech-probe``: 480 short espeak-ng phrases for the learned token probes (336
    train items: 28 voices x 6 accents x a low/high pitch pair; 144 test items: the 4 espeak
    test voices of synth-speech x 6 accents x 3 test phrases x low/high). Train and test are
    disjoint in voices and phrases; the two items of a pitch pair share the label ``pair``.
    ``version=v2`` (default): six-word phrases of words whose US and UK forms differ, each train
    voice saying its phrase in all six accents; ``version=v1``: the first five words of ordinary
    sentences. Built by :mod:`recipes.synth_speech.probe_corpus` (``bench data build
    synth-speech-probe [--corpus-version v1]``)."""

    Config = SynthSpeechProbeConfig
    description = ("built-in probe corpus, 480 phrases: 6 accents x low/high pitch pairs, "
                   "28 train voices, 4 test voices (subset=full|train|test, version=v2|v1)")

    @property
    def version(self) -> str:  # type: ignore[override]
        return self.config.version

    @property
    def root(self) -> str:
        return os.path.abspath(self.config.root) if self.config.root else probe_root(self.config.version)
