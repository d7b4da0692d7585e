"""``synth-speech-extra``: more training speech for our RVQ codec, built locally with espeak-ng.

Why it exists: trained on the train split of ``synth-speech`` alone (288 s: 6 voices, 32
sentences), the codec learned those voices by heart. At codec version 3 it scored PESQ-WB 2.49
on train items and 1.46 on the test voices (docs/rvq.md). This supplement gives it many more
voices and sentences to learn from, and never a test voice or a test sentence:

- **voices**: espeak-ng variants (``en-us+adam``, ``en-gb-scotland+klatt3``...) minus every voice
  of the corpus' test split (checked when planning), plus the corpus' two MBROLA train voices;
- **sentences**: the corpus' train-split sentences and ``EXTRA_SENTENCES`` below (written for
  this project, used nowhere else);
- **per voice**: ``sentences_per_voice`` sentences drawn with a seeded generator, each in one of
  the corpus' accents (in turn) at an espeak pitch drawn from ``pitch_range``.

Every item is labelled ``split=train``. The audio is processed like the corpus' (resampled to
16 kHz, silence trimmed, peak-normalised to -6 dBFS, 16-bit FLAC). It is not shipped (69
minutes, 77 MB): ``bench data build synth-speech-extra --out DIR`` writes it in about 30 s,
then ``bench train rvq --dataset synth-speech:subset=train --dataset
manifest:path=DIR/manifest.jsonl``. The same espeak-ng version gives the same samples;
``recipe.json`` records the version used.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from typing import Any, Callable

import numpy as np

from recipes.synth_speech.build import (RECIPE, SR, BuildError, PlannedItem, postprocess,
                                        split_sentences, synthesize, tool_versions)
from recipes.synth_speech.sentences import SENTENCES

#: Training-only sentences (ids ``x001``...), in the style of the corpus' own.
EXTRA_SENTENCES: tuple[tuple[str, str], ...] = (
    ("x001", "The kettle started to whistle just as the phone rang."),
    ("x002", "Every morning the baker opens his shop before sunrise."),
    ("x003", "Our neighbours keep chickens behind the wooden fence."),
    ("x004", "A thick fog rolled in from the sea after lunch."),
    ("x005", "Please bring a warm jacket and sturdy walking shoes."),
    ("x006", "The museum closes early on the first Monday of the month."),
    ("x007", "He whispered the answer so the others could not hear."),
    ("x008", "The children built a castle out of wet sand."),
    ("x009", "Fresh lemons make the best lemonade in the summer."),
    ("x010", "She painted the kitchen walls a pale shade of yellow."),
    ("x011", "The train was delayed by snow on the mountain pass."),
    ("x012", "Could you turn the music down a little, please?"),
    ("x013", "My grandfather repaired old clocks in his spare time."),
    ("x014", "A small boat drifted slowly toward the rocky shore."),
    ("x015", "The library lends books, films and even garden tools."),
    ("x016", "We heard thunder rumbling far beyond the hills."),
    ("x017", "The cat jumped onto the windowsill to watch the birds."),
    ("x018", "Remember to lock the back door before going to bed."),
    ("x019", "The soup needs a pinch of salt and some pepper."),
    ("x020", "Bright flags fluttered above the crowded market square."),
    ("x021", "Nobody expected the quiet student to win the prize."),
    ("x022", "The path through the forest was covered with leaves."),
    ("x023", "He folded the letter carefully and sealed the envelope."),
    ("x024", "Strong winds knocked over the fence during the storm."),
    ("x025", "The violin lesson starts right after school on Friday."),
    ("x026", "She poured hot chocolate into two large mugs."),
    ("x027", "The farmer drove his tractor across the muddy field."),
    ("x028", "Swimming in the lake is cold but very refreshing."),
    ("x029", "The old bridge creaked as the heavy truck crossed it."),
    ("x030", "They watched the fireworks from the top of the hill."),
    ("x031", "Good shoes make a long journey much more pleasant."),
    ("x032", "The doctor asked him to breathe slowly and deeply."),
    ("x033", "Our team practised every evening for the final match."),
    ("x034", "A gentle breeze carried the smell of cut grass."),
    ("x035", "The printer jammed again in the middle of the report."),
    ("x036", "Bees buzzed busily around the purple lavender bushes."),
    ("x037", "The pilot announced that we would land in ten minutes."),
    ("x038", "Wash the vegetables before you chop them into pieces."),
    ("x039", "The island can only be reached by ferry in winter."),
    ("x040", "Her brother collects stamps from faraway countries."),
    ("x041", "The clock on the church tower struck midnight."),
    ("x042", "We shared a picnic of bread, cheese and grapes."),
    ("x043", "The puppy chewed through the laces of my boots."),
    ("x044", "Thick curtains kept the bedroom dark and cool."),
    ("x045", "The mechanic said the brakes needed replacing soon."),
    ("x046", "A rainbow appeared over the valley after the shower."),
    ("x047", "Jump into the pool only where the water is deep."),
    ("x048", "The choir sang beautifully in the echoing hall."),
)

#: espeak-ng 1.51 variants with speech-like timbres (robotic, whispered and joke voices left
#: out). Test-split voices are removed when planning, whatever this list says.
ESPEAK_VARIANTS = (
    "adam", "Alex", "Alicia", "Andrea", "Andy", "Annie", "antonio", "aunty", "belinda",
    "benjamin", "boris", "caleb", "david", "Denis", "Diogo", "ed", "edward", "Gene", "gustave",
    "Henrique", "Hugo", "iven", "iven2", "Jacky", "john", "Lee", "linda", "marcelo", "Marco",
    "Mario", "max", "Michael", "michel", "miguel", "Mike", "Nguyen", "pablo", "paul", "pedro",
    "quincy", "rob", "robert", "steph", "Storm", "zac", "anika", "f1", "f2", "f3", "grandpa",
    "grandma", "klatt", "klatt2", "klatt3", "klatt4", "m1", "m2", "m4", "m5", "m6", "m8",
    "norbert", "sandro", "shelby", "travis", "victor",
)

EXTRA_RECIPE: dict[str, Any] = {
    "corpus": "synth-speech-extra",
    "version": "v1",
    "seed": 0,
    "sample_rate": SR,
    "espeak_variants": list(ESPEAK_VARIANTS),
    "mbrola_voices": "the train-split MBROLA voices of synth-speech",
    "sentences_per_voice": 24,  # of the 80 in the pool
    "pitch_range": [15, 85],  # espeak -p, drawn uniformly per item
}


def plan_extra(recipe: dict[str, Any] | None = None) -> list[PlannedItem]:
    """Every item of the supplement. Test-split voices named in the recipe are dropped; a test
    sentence in the pool, or a number of sentences per voice outside 1 to the pool's size,
    raises :class:`BuildError`."""
    recipe = recipe or EXTRA_RECIPE
    base = RECIPE
    pools = split_sentences(base)
    texts = dict(SENTENCES) | dict(EXTRA_SENTENCES)
    train_ids = pools["train"] + [sid for sid, _ in EXTRA_SENTENCES]
    if set(pools["test"]) & set(train_ids):
        raise BuildError("a test sentence is in the supplement's pool")
    test_voices = {v for v, _ in base["espeak_speakers"]["test"]}
    variants = [v for v in recipe["espeak_variants"] if v not in test_voices]
    accents = list(base["accents"])
    voices_of = base.get("espeak_voices", {})
    rng = np.random.default_rng(recipe["seed"])
    lo, hi = recipe["pitch_range"]
    k = int(recipe["sentences_per_voice"])
    if not 1 <= k <= len(train_ids):
        raise BuildError(f"sentences per voice must be 1 to {len(train_ids)} (the size of the "
                         f"training-sentence pool), not {k}")
    items = []
    speakers = [(v, "espeak") for v in variants]
    speakers += [(voice, accent) for voice, _, accent in base["mbrola_speakers"]["train"]]
    for n, (speaker, kind) in enumerate(speakers):
        picks = rng.choice(len(train_ids), size=k, replace=False)
        for j, idx in enumerate(sorted(picks)):
            sid = train_ids[idx]
            pitch = int(rng.integers(lo, hi + 1))
            accent = accents[(n + j) % len(accents)] if kind == "espeak" else kind
            voice = f"{voices_of.get(accent, accent)}+{speaker}" if kind == "espeak" else speaker
            items.append(PlannedItem(
                id=f"x_{speaker}_{accent}_{pitch}_{sid}", text=texts[sid], speaker=speaker,
                gender="", accent=accent, pitch_class="low" if pitch < 50 else "high",
                espeak_pitch=pitch, split="train", sentence_id=sid, voice=voice, quick=False))
    return items


def build_extra(out_dir: str, recipe: dict[str, Any] | None = None,
                log: Callable[[str], None] = lambda msg: None) -> dict[str, Any]:
    """Synthesise the supplement into ``out_dir`` (audio/, manifest.jsonl, recipe.json)."""
    import soundfile as sf

    recipe = copy.deepcopy(recipe or EXTRA_RECIPE)
    if shutil.which("espeak-ng") is None:
        raise BuildError("espeak-ng is not installed: apt-get install espeak-ng")
    items = plan_extra(recipe)
    os.makedirs(os.path.join(out_dir, "audio"), exist_ok=True)
    rows, failed = [], []
    for n, item in enumerate(items, 1):
        try:
            raw, sr = synthesize(item, RECIPE)
        except BuildError as exc:  # a voice this espeak-ng lacks: skip it, say so
            failed.append(f"{item.id}: {exc}")
            continue
        pcm = postprocess(raw, sr, RECIPE)
        sf.write(os.path.join(out_dir, item.path), pcm, SR, format="FLAC", subtype="PCM_16")
        rows.append({"id": item.id, "path": item.path, "text": item.text, "speaker": item.speaker,
                     "accent": item.accent, "espeak_pitch": item.espeak_pitch, "split": "train",
                     "sentence_id": item.sentence_id, "voice": item.voice,
                     "duration": round(len(pcm) / SR, 4)})
        if n % 200 == 0 or n == len(items):
            log(f"  {n}/{len(items)} items")
    with open(os.path.join(out_dir, "manifest.jsonl"), "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    recipe.update(tools=tool_versions({"mbrola_speakers": RECIPE["mbrola_speakers"]}),
                  n_items=len(rows), seconds=round(sum(r["duration"] for r in rows), 1),
                  failed=failed)
    with open(os.path.join(out_dir, "recipe.json"), "w", encoding="utf-8") as fh:
        json.dump(recipe, fh, indent=2)
        fh.write("\n")
    return recipe
