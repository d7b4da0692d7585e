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

import dataclasses
import os

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
