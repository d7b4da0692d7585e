"""The built-in set ``minimal-pairs``: words whose US and UK pronunciations differ (the "tomato"
test of the ``abx`` task, docs/abx.md).

28 words and short phrases x 2 accents (espeak-ng en-us, en-gb) x 2 pitch classes (espeak
``-p`` 20 / 80) x 4 voice variants = 448 items of 0.5-1.3 s, 16 kHz 16-bit FLAC, shipped frozen
in the package. Labels per item: ``text``, ``speaker`` (espeak variant) and ``attrs`` ``word``
(the word id), ``accent``, ``pitch_class``, ``phonemes`` (espeak-ng ``-x`` of that accent),
``ipa`` (espeak-ng ``--ipa``), ``f0_median`` (Hz, Praat), ``gender``, ``duration`` (s),
``voice`` and ``espeak_pitch``.

Options as synth-speech: ``subset`` = ``full`` or ``quick`` (the first 4 words, every speaker and
cell: 64 items, for tests), ``verify`` (check every file against ``SHA256SUMS``), ``root`` (another build:
``bench data build minimal-pairs --out DIR``). The recipe: :mod:`recipes.minimal_pairs.build`
and ``recipe.json`` next to the files (with the phoneme strings of every word).
"""

from __future__ import annotations

import collections
import dataclasses
import os
import statistics
from typing import Any

from bench.datasets.base import Item
from bench.datasets.synth_speech import SynthSpeechDataset

SUBSETS = ("full", "quick")


def default_root() -> str:
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "minimal_pairs")


@dataclasses.dataclass(frozen=True)
class MinimalPairsConfig:
    subset: str = "full"
    verify: bool = True
    root: str = ""  # empty: the set shipped in the package

    def __post_init__(self) -> None:
        if self.subset not in SUBSETS:
            raise ValueError(f"subset must be one of {', '.join(SUBSETS)}, got {self.subset!r}")


class MinimalPairsDataset(SynthSpeechDataset):
    """Same frozen-folder mechanics as synth-speech (manifest, SHA256SUMS, recipe.json)."""

    Config = MinimalPairsConfig
    version = "v1"
    description = ("built-in minimal pairs, 448 items: 28 words x en-us/en-gb x low/high pitch x "
                   "4 speakers (subset=full|quick)")

    @property
    def root(self) -> str:
        return os.path.abspath(self.config.root) if self.config.root else default_root()

    def _read(self):
        if not os.path.isfile(os.path.join(self.root, "manifest.jsonl")):
            from bench.datasets.synth_speech import SynthSpeechError

            raise SynthSpeechError(
                f"minimal-pairs set not found at {self.root} (no manifest.jsonl); reinstall the package "
                "or rebuild it with: bench data build minimal-pairs --out DIR")
        return super()._read()


def pairs_stats(items: list[Item], root: str | None = None) -> dict[str, Any]:
    """Counts per factor, durations, size on disk, median F0 per speaker and pitch class, and
    each word's IPA in each accent (from the labels)."""
    stats: dict[str, Any] = {"n_items": len(items)}
    stats["counts"] = {
        key: dict(sorted(collections.Counter(
            str(it.speaker if key == "speaker" else it.attrs.get(key)) for it in items).items()))
        for key in ("accent", "pitch_class", "speaker", "gender")
    }
    durations = [float(it.attrs["duration"]) for it in items]
    stats["total_duration_s"] = round(sum(durations), 2)
    stats["duration_s"] = {"min": min(durations), "median": statistics.median(durations), "max": max(durations)}
    size = 0
    for dirpath, _, files in os.walk(root or default_root()):
        size += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
    stats["size_mb"] = round(size / 1e6, 3)
    f0: dict[str, dict[str, list[float]]] = collections.defaultdict(lambda: collections.defaultdict(list))
    for it in items:
        f0[str(it.speaker)][it.attrs["pitch_class"]].append(float(it.attrs["f0_median"]))
    stats["f0_by_speaker"] = {spk: {pc: statistics.median(v[pc]) for pc in ("low", "high") if v.get(pc)}
                              for spk, v in sorted(f0.items())}
    words: dict[str, dict[str, str]] = {}
    for it in items:
        words.setdefault(it.attrs["word"], {"text": it.text or ""})[it.attrs["accent"]] = it.attrs["ipa"]
    stats["words"] = words
    return stats
