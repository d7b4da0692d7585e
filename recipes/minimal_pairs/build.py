"""Builder of the built-in set ``minimal-pairs``: words whose US and UK pronunciations differ.

The "tomato" test of the ``abx`` task (docs/abx.md). Every word or short phrase of
:data:`WORDS` is spoken in both accents (espeak-ng ``en-us`` and British ``gmw/en``), at both
pitch classes (espeak ``-p`` 20 and 80), by every voice variant of the recipe, so the set is a
full factorial design: word x accent x pitch class x speaker. Audio is processed exactly as the
corpus synth-speech (16 kHz, silence trimmed, peak -6 dBFS, 16-bit FLAC; see
:mod:`recipes.synth_speech.build`) and shipped frozen in ``bench/data/minimal_pairs``.

**The phoneme check.** A word is kept only if espeak-ng gives the two accents different IPA
(``espeak-ng -q --ipa``). The ASCII mnemonics of ``espeak-ng -x`` are not enough: both voices
write ``dance`` as ``d'aans``, but the US phoneme table realizes ``aa`` as /æ/ and the British
one as /a/; the IPA shows the realization. Both strings of both accents go into the manifest
(``phonemes``, ``ipa``) and ``recipe.json``. Building fails if a word's IPA is the same in the
two accents (the espeak-ng version then differs from the one recorded).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import shutil
import subprocess
import tempfile
from typing import Any, Callable

import numpy as np

# the same processing as synth-speech: resample, trim, peak-normalise, quantize; Praat F0
from recipes.synth_speech.build import (  # one espeak-ng pipeline for both built-in sets
    check_tools, compare, render, tool_versions, write_sums,
)

CORPUS = "minimal-pairs"
VERSION = "v1"
SR = 16_000

#: (word id, text): written for this project. Each differs between espeak-ng's US and British
#: English in a vowel, a consonant or the stress (see the recipe's ``phonemes``).
WORDS: tuple[tuple[str, str], ...] = (
    ("tomato", "tomato"),
    ("schedule", "schedule"),
    ("either", "either"),
    ("neither", "neither"),
    ("garage", "garage"),
    ("vitamin", "vitamin"),
    ("water", "water"),
    ("dance", "dance"),
    ("half", "half"),
    ("leisure", "leisure"),
    ("privacy", "privacy"),
    ("route", "route"),
    ("yogurt", "yogurt"),
    ("tomorrow", "tomorrow"),
    ("laboratory", "laboratory"),
    ("herb", "herb"),
    ("zebra", "zebra"),
    ("missile", "missile"),
    ("mobile", "mobile"),
    ("banana", "banana"),
    ("pasta", "pasta"),
    ("new", "new"),
    ("hurry", "hurry"),
    ("advertisement", "advertisement"),
    ("glass-of-water", "a glass of water"),
    ("half-past-eight", "half past eight"),
    ("last-dance", "the last dance"),
    ("hot-dog", "hot dog"),
)

#: The recipe of v1. ``recipe.json`` in the frozen folder is this plus the phoneme strings,
#: tool versions and the item count.
RECIPE: dict[str, Any] = {
    "corpus": CORPUS,
    "version": VERSION,
    "sample_rate": SR,
    # accent label -> the -v voice of espeak-ng (before "+variant"). espeak-ng 1.51 ignores a
    # +variant after "en-gb"; the voice file gmw/en is the same British English voice and
    # honours variants (as in synth-speech).
    "accents": {"en-us": "en-us", "en-gb": "gmw/en"},
    # espeak variants with distinct timbres (a subset of synth-speech's speakers)
    "speakers": [["m2", "male"], ["m3", "male"], ["f1", "female"], ["f4", "female"]],
    "pitch": {"low": 20, "high": 80},  # espeak -p
    "speed_wpm": 175,
    "quick_words": 4,  # quick subset (tests): the first words of WORDS, every speaker and cell
    "peak": 0.5,
    "trim": {"threshold_db": -45.0, "frame_s": 0.01, "pad_s": 0.1},
    "f0": {"tool": "praat-parselmouth to_pitch_ac", "floor_hz": 50.0, "ceiling_hz": 500.0},
    "flac_compression_level": 1.0,
}


class BuildError(RuntimeError):
    """A tool needed to build the set is missing, or a word no longer differs between accents."""


@dataclasses.dataclass(frozen=True)
class PlannedItem:
    id: str
    word: str  # the word id
    text: str
    speaker: str
    gender: str
    accent: str
    pitch_class: str
    espeak_pitch: int
    voice: str  # the -v argument of espeak-ng
    quick: bool

    @property
    def path(self) -> str:
        return f"audio/{self.id}.flac"


def plan(recipe: dict[str, Any] | None = None) -> list[PlannedItem]:
    """Every item: word x accent x pitch class x speaker, sorted by id."""
    recipe = recipe or RECIPE
    quick_words = {w for w, _ in WORDS[: int(recipe["quick_words"])]}
    items = []
    for word, text in WORDS:
        for accent, voice in recipe["accents"].items():
            for pclass, pval in recipe["pitch"].items():
                for variant, gender in recipe["speakers"]:
                    items.append(PlannedItem(
                        id=f"{word}_{accent}_{pclass}_{variant}", word=word, text=text, speaker=variant,
                        gender=gender, accent=accent, pitch_class=pclass, espeak_pitch=int(pval),
                        voice=f"{voice}+{variant}",
                        quick=word in quick_words,
                    ))
    return sorted(items, key=lambda it: it.id)


# --- phonemes ----------------------------------------------------------------------------------


def espeak_phonemes(text: str, voice: str, ipa: bool) -> str:
    """espeak-ng's phoneme string of ``text`` (``-x`` mnemonics, or ``--ipa``), one line."""
    cmd = ["espeak-ng", "-q", "-v", voice, "--ipa" if ipa else "-x", text]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise BuildError(f"espeak-ng failed on {text!r}: {out.stderr.strip()}")
    return " ".join(out.stdout.split())


def word_phonemes(recipe: dict[str, Any]) -> dict[str, dict[str, dict[str, str]]]:
    """{word id: {accent: {"x": mnemonics, "ipa": IPA}}}; raises if two accents give one IPA."""
    table: dict[str, dict[str, dict[str, str]]] = {}
    same = []
    for word, text in WORDS:
        table[word] = {acc: {"x": espeak_phonemes(text, voice, False), "ipa": espeak_phonemes(text, voice, True)}
                       for acc, voice in recipe["accents"].items()}
        if len({v["ipa"] for v in table[word].values()}) < len(table[word]):
            same.append(word)
    if same:
        raise BuildError(f"these words have the same IPA in every accent: {', '.join(same)} "
                         "(another espeak-ng version?); drop them and bump the set's version")
    return table


# --- build and compare -------------------------------------------------------------------------


def build(out_dir: str, recipe: dict[str, Any] | None = None,
          log: Callable[[str], None] = lambda msg: None) -> dict[str, Any]:
    """Generate the set into ``out_dir`` (audio/, manifest.jsonl, recipe.json, SHA256SUMS)."""
    recipe = copy.deepcopy(recipe or RECIPE)
    check_tools(recipe)
    phonemes = word_phonemes(recipe)
    if recipe.get("phonemes") and recipe["phonemes"] != phonemes:
        changed = sorted(w for w in phonemes if recipe["phonemes"].get(w) != phonemes[w])
        log(f"warning: espeak-ng now gives other phonemes for {', '.join(changed)} than the recipe records")
    items = plan(recipe)
    os.makedirs(os.path.join(out_dir, "audio"), exist_ok=True)
    rows = []
    for n, item in enumerate(items, 1):
        pcm, f0 = render(item, recipe, out_dir)
        ph = phonemes[item.word][item.accent]
        rows.append({
            "id": item.id, "path": item.path, "text": item.text, "speaker": item.speaker,
            "word": item.word, "accent": item.accent, "pitch_class": item.pitch_class,
            "phonemes": ph["x"], "ipa": ph["ipa"], "f0_median": round(f0, 2), "gender": item.gender,
            "duration": round(len(pcm) / SR, 4), "voice": item.voice, "espeak_pitch": item.espeak_pitch,
            "quick": item.quick,
        })
        if n % 100 == 0 or n == len(items):
            log(f"  {n}/{len(items)} items")
    with open(os.path.join(out_dir, "manifest.jsonl"), "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    recipe["words"] = [list(w) for w in WORDS]
    recipe["phonemes"] = phonemes
    recipe["tools"] = tool_versions(recipe)
    recipe["n_items"] = len(rows)
    with open(os.path.join(out_dir, "recipe.json"), "w", encoding="utf-8") as fh:
        json.dump(recipe, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    write_sums(out_dir, ["manifest.jsonl"] + [row["path"] for row in rows])
    return recipe


def frozen_dir() -> str:
    from bench.datasets.minimal_pairs import default_root

    return default_root()


def rebuild_and_compare(out_dir: str | None = None, log: Callable[[str], None] = lambda msg: None) -> dict[str, Any]:
    """Regenerate the set from the frozen recipe and compare it file by file with the shipped one."""
    frozen = frozen_dir()
    with open(os.path.join(frozen, "recipe.json"), encoding="utf-8") as fh:
        recipe = json.load(fh)
    keep = out_dir is not None
    out_dir = out_dir or tempfile.mkdtemp(prefix="minimal-pairs-")
    if os.path.realpath(out_dir) == os.path.realpath(frozen):
        raise BuildError("--out is the frozen folder; build elsewhere and compare")
    frozen_tools = recipe.pop("tools", {})
    for key in ("n_items", "words"):
        recipe.pop(key, None)
    log(f"building {CORPUS} {recipe['version']} into {out_dir}")
    built = build(out_dir, recipe, log=log)
    report = compare(out_dir, frozen)
    report["out"] = out_dir if keep else None
    report["tools_frozen"] = frozen_tools
    report["tools_now"] = built["tools"]
    if not keep:
        shutil.rmtree(out_dir, ignore_errors=True)
    return report
