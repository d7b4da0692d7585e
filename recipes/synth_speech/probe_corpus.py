"""Builder of the built-in probe corpus ``synth-speech-probe``: espeak-ng phrases for training and
testing learned token probes (the ``probe`` task, docs/probes.md).

Same factor design as ``synth-speech`` (accent x pitch class x voice), with two changes that
the probes need:

- **train voices and sentences are disjoint from the test ones.** Train: espeak-ng variants of
  ``synth-speech-extra`` minus every voice of the synth-speech test split, saying the
  synth-speech train sentences and the supplement's ``EXTRA_SENTENCES``. Test: the four espeak
  test voices of synth-speech (m3, m7, f4, f5) saying its test sentences. (The MBROLA voices are
  left out: a rebuild should need espeak-ng only.)
- **pitch pairs.** Every (voice, accent, sentence) is said twice, once at a low and once at a
  high espeak pitch, so "which of two utterances of the same voice and sentence is higher?" has
  an answer. Train pairs draw the low pitch from ``train_low`` and the high one from
  ``train_high`` (a spread of F0 for the F0 regression); test pairs use synth-speech's 20/80.

To stay small enough to ship (about 13 MB) each utterance is a short phrase: the first
``words`` words of its sentence. Audio is processed like synth-speech (16 kHz, silence trimmed,
peak -6 dBFS, 16-bit FLAC). Labels: those of synth-speech plus ``pair`` (voice, accent and
sentence: the two items of a pitch pair share it).
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
from typing import Any, Callable

import numpy as np

from recipes.synth_speech.build import (RECIPE, SR, BuildError, PlannedItem, render, split_sentences,
                                        tool_versions, write_sums)
from recipes.synth_speech.extra import ESPEAK_VARIANTS, EXTRA_SENTENCES
from recipes.synth_speech.sentences import SENTENCES, sentences_hash

PROBE_RECIPE_V1: dict[str, Any] = {
    "corpus": "synth-speech-probe",
    "version": "v1",
    "seed": 0,
    "sample_rate": SR,
    "accents": list(RECIPE["accents"]),
    "train_voices": 28,  # the first variants of ESPEAK_VARIANTS that are not test voices
    "train_sentences_per_accent": 1,  # per (train voice, accent), said at low and at high pitch
    "train_low": [10, 35],  # espeak -p range of the low item of a train pair
    "train_high": [65, 90],
    "test_voices": [v for v, _ in RECIPE["espeak_speakers"]["test"]],
    "test_sentences_per_accent": 3,  # per (test voice, accent), said at low and at high pitch
    "test_pitch": dict(RECIPE["pitch"]),
    "words": 5,  # phrase = the first words of the sentence
}

#: v2 (the default since probe v5): phrases of six words whose US and UK forms differ, drawn
#: from one pool for both splits (no phrase in both), and each train voice says its phrase in
#: all six accents, so that the words of a phrase do not tell its accent. On v1 (five words of
#: an ordinary sentence, other sentences per accent) no front end reached the accent goals;
#: docs/probes.md has the variants tried and what each gave.
PROBE_RECIPE_V2: dict[str, Any] = {**PROBE_RECIPE_V1, "version": "v2", "phrase_words": 6,
                                   "shared_words": True, "contrast": True}
PROBE_RECIPES = {"v1": PROBE_RECIPE_V1, "v2": PROBE_RECIPE_V2}
PROBE_RECIPE = PROBE_RECIPE_V2


def phrase(text: str, words: int) -> str:
    return " ".join(re.sub(r"[^\w' ]", "", text).split()[:words])


#: words whose US and UK pronunciations differ (``phrase_words``: phrases built from them; v2
#: draws both splits from the union, variants without ``shared_words`` keep the two lists apart)
ACCENT_WORDS = {
    "train": ["car", "park", "bath", "after", "better", "butter", "hot", "stop", "hard", "bird",
              "work", "tomato", "schedule", "either", "garage", "vitamin", "half", "route", "herb",
              "mobile", "banana", "new", "hurry", "dance", "answer", "often", "coffee", "morning"],
    "test": ["water", "path", "laugh", "not", "letter", "party", "father", "girl", "leisure",
             "privacy", "yogurt", "tomorrow"],
}


def word_phrases(recipe: dict[str, Any]) -> tuple[dict[str, str], list[str], list[str]]:
    """``n`` phrases per split of ``phrase_words`` distinct words (ids ``wtr###`` and ``wte###``),
    no two with the same set of words."""
    rng = np.random.default_rng([recipe["seed"], 7])
    texts, ids = {}, {}
    seen: set[frozenset] = set()
    for split, n in (("train", 120), ("test", 40)):
        # shared_words: both splits draw from one pool (a word is heard in training, said by
        # other voices in other phrases); no phrase is in both splits
        pool = ACCENT_WORDS["train"] + ACCENT_WORDS["test"] if recipe.get("shared_words") else ACCENT_WORDS[split]
        ids[split] = []
        for j in range(n):
            sid = f"w{split[:2]}{j:03d}"
            while True:
                words = rng.choice(pool, size=int(recipe["phrase_words"]), replace=False)
                if frozenset(words) not in seen:
                    break
            seen.add(frozenset(words))
            texts[sid] = " ".join(words)
            ids[split].append(sid)
    return texts, ids["train"], ids["test"]


def plan_probe(recipe: dict[str, Any] | None = None) -> list[PlannedItem]:
    recipe = recipe or PROBE_RECIPE
    pools = split_sentences(RECIPE)
    texts = dict(SENTENCES) | dict(EXTRA_SENTENCES)
    train_ids = pools["train"] + [sid for sid, _ in EXTRA_SENTENCES]
    test_ids = pools["test"]
    if recipe.get("phrase_words"):
        texts, train_ids, test_ids = word_phrases(recipe)
    if set(train_ids) & set(test_ids):
        raise BuildError("a test sentence is in the training pool")
    test_voices = list(recipe["test_voices"])
    excluded = {v for v, _ in RECIPE["espeak_speakers"]["test"]} | set(test_voices)
    train_voices = [v for v in ESPEAK_VARIANTS if v not in excluded][: int(recipe["train_voices"])]
    voices_of = RECIPE.get("espeak_voices", {})
    accents = list(recipe["accents"])
    rng = np.random.default_rng(recipe["seed"])
    items: list[PlannedItem] = []

    def add(split, speaker, accent, sid, pclass, pitch):
        items.append(PlannedItem(
            id=f"{split}_{speaker}_{accent}_{sid}_{pclass}",
            text=texts[sid] if recipe.get("phrase_words") else phrase(texts[sid], int(recipe["words"])),
            speaker=speaker, gender="", accent=accent, pitch_class=pclass, espeak_pitch=int(pitch),
            split=split, sentence_id=sid, voice=f"{voices_of.get(accent, accent)}+{speaker}", quick=False))

    k = int(recipe["train_sentences_per_accent"])
    for i, voice in enumerate(train_voices):
        for a, accent in enumerate(accents):
            for j in range(k):
                if recipe.get("contrast"):  # v2: a voice says the same phrase in every accent
                    sid = train_ids[(i * k + j) * 7 % len(train_ids)]
                else:
                    sid = train_ids[(i * len(accents) * k + a * k + j) * 7 % len(train_ids)]
                add("train", voice, accent, sid, "low", rng.integers(recipe["train_low"][0], recipe["train_low"][1] + 1))
                add("train", voice, accent, sid, "high", rng.integers(recipe["train_high"][0], recipe["train_high"][1] + 1))
    k = int(recipe["test_sentences_per_accent"])
    for i, voice in enumerate(test_voices):
        for a, accent in enumerate(accents):
            for j in range(k):
                sid = test_ids[(i * 5 + a * k + j) % len(test_ids)]
                for pclass, pitch in recipe["test_pitch"].items():
                    add("test", voice, accent, sid, pclass, pitch)
    ids = [it.id for it in items]
    if len(set(ids)) != len(ids):
        raise BuildError("the design produced duplicate item ids")
    return sorted(items, key=lambda it: it.id)


def build_probe(out_dir: str, recipe: dict[str, Any] | None = None,
                log: Callable[[str], None] = lambda msg: None) -> dict[str, Any]:
    """Synthesise the corpus into ``out_dir`` (audio/, manifest.jsonl, recipe.json, SHA256SUMS)."""
    recipe = copy.deepcopy(recipe or PROBE_RECIPE)
    if shutil.which("espeak-ng") is None:
        raise BuildError("espeak-ng is not installed: apt-get install espeak-ng")
    items = plan_probe(recipe)
    os.makedirs(os.path.join(out_dir, "audio"), exist_ok=True)
    rows = []
    for n, item in enumerate(items, 1):
        pcm, f0 = render(item, RECIPE, out_dir)
        rows.append({"id": item.id, "path": item.path, "text": item.text, "speaker": item.speaker,
                     "accent": item.accent, "pitch_class": item.pitch_class, "f0_median": round(f0, 2),
                     "duration": round(len(pcm) / SR, 4), "split": item.split,
                     "sentence_id": item.sentence_id, "voice": item.voice,
                     "espeak_pitch": item.espeak_pitch,
                     "pair": f"{item.speaker}_{item.accent}_{item.sentence_id}"})
        if n % 100 == 0 or n == len(items):
            log(f"  {n}/{len(items)} items")
    with open(os.path.join(out_dir, "manifest.jsonl"), "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    recipe.update(sentences_sha256=sentences_hash(), tools=tool_versions({}), n_items=len(rows),
                  seconds=round(sum(r["duration"] for r in rows), 1))
    with open(os.path.join(out_dir, "recipe.json"), "w", encoding="utf-8") as fh:
        json.dump(recipe, fh, indent=2)
        fh.write("\n")
    write_sums(out_dir, ["manifest.jsonl"] + [row["path"] for row in rows])
    return recipe
