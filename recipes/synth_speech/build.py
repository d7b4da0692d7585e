"""Builder of the built-in corpus ``synth-speech``: espeak-ng (and MBROLA) speech, fully labelled.

The corpus is generated once and shipped frozen in ``bench/data/synth_speech`` (16 kHz 16-bit
FLAC, ``manifest.jsonl``, ``SHA256SUMS``, ``recipe.json``). Loading it needs no system tool;
only rebuilding does (``bench data build synth-speech``), which needs the Debian packages
``espeak-ng`` and, for the MBROLA speakers, ``mbrola mbrola-us1 mbrola-us2 mbrola-us3
mbrola-en1`` (contrib/non-free), plus ``praat-parselmouth`` for the F0 labels.

Design (every factor known exactly):

- **accent** is the espeak language voice (en-us, en-gb, ...). The espeak accent voices share
  one underlying timbre, so an accent probe sees accent vary while the speaker is held;
- **speaker** is a distinct timbre: an espeak ``+variant`` (m2, f1, ...) or an MBROLA voice.
  Every espeak speaker says sentences in every accent at both pitch classes;
- **pitch class** is espeak's ``-p`` (20 = low, 80 = high) within every voice;
- **split**: train and test are disjoint in speakers and in sentences (sentences are split by a
  seeded hash order, speakers by the recipe), so no probe can pass by memorizing either.

Within a split, speaker ``i`` says ``per_cell`` sentences for each (accent, pitch) cell, taken
from a rotation of the split's sentence pool: each sentence is said in several accents by
several speakers and at both pitch classes, so sentence content is not confounded with any
label.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
from typing import Any, Callable

import numpy as np

from bench.audio import file_hash
from bench.datasets.synth_speech import default_root, read_sums
from recipes.synth_speech.sentences import SENTENCES, sentences_hash

CORPUS = "synth-speech"
VERSION = "v1"
SR = 16_000

#: The recipe of v1. ``recipe.json`` in the frozen folder is this plus tool versions and hashes.
RECIPE: dict[str, Any] = {
    "corpus": CORPUS,
    "version": VERSION,
    "seed": 0,
    "sample_rate": SR,
    "accents": ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc"],
    # espeak-ng 1.51 ignores a +variant after the name "en-gb" (every variant gives the default
    # voice); the voice file gmw/en is the same British English voice and honours variants.
    "espeak_voices": {"en-gb": "gmw/en"},
    # espeak variants chosen for distinct timbres (resemblyzer cosine between any two <= 0.82;
    # within one variant about 0.87). Order inside a split matters for the quick subset.
    "espeak_speakers": {
        "train": [["m2", "male"], ["m4", "male"], ["f1", "female"], ["f3", "female"]],
        "test": [["m3", "male"], ["m7", "male"], ["f4", "female"], ["f5", "female"]],
    },
    # MBROLA voices keep their natural accent.
    "mbrola_speakers": {
        "train": [["mb-us1", "female", "en-us"], ["mb-us2", "male", "en-us"]],
        "test": [["mb-us3", "male", "en-us"], ["mb-en1", "male", "en-gb"]],
    },
    "pitch": {"low": 20, "high": 80},  # espeak -p
    "speed_wpm": 175,  # espeak -s (its default)
    "sentences_per_cell": 2,  # per (espeak speaker, accent, pitch)
    "mbrola_sentences_per_pitch": 6,  # per (MBROLA voice, pitch)
    "test_sentences": 32,
    "quick_per_cell": 2,  # quick subset: items per (split, accent, pitch), espeak speakers only
    "peak": 0.5,  # peak normalization (-6 dBFS): modest, leaves codecs headroom
    "trim": {"threshold_db": -45.0, "frame_s": 0.01, "pad_s": 0.1},
    "f0": {"tool": "praat-parselmouth to_pitch_ac", "floor_hz": 50.0, "ceiling_hz": 500.0},
    "flac_compression_level": 1.0,
}


class BuildError(RuntimeError):
    """A tool needed to build the corpus is missing, or the recipe does not fit the code."""


@dataclasses.dataclass(frozen=True)
class PlannedItem:
    id: str
    text: str
    speaker: str
    gender: str
    accent: str
    pitch_class: str
    espeak_pitch: int
    split: str
    sentence_id: str
    voice: str  # the -v argument of espeak-ng
    quick: bool

    @property
    def path(self) -> str:
        return f"audio/{self.id}.flac"


# --- design ------------------------------------------------------------------------------------


def split_sentences(recipe: dict[str, Any]) -> dict[str, list[str]]:
    """Sentence ids per split, in a seeded hash order (stable across machines and numpy versions)."""
    ids = [sid for sid, _ in SENTENCES]
    order = sorted(ids, key=lambda s: hashlib.sha256(f"{recipe['seed']}:{s}".encode()).hexdigest())
    n_test = int(recipe["test_sentences"])
    return {"test": sorted(order[:n_test]), "train": sorted(order[n_test:])}


def plan(recipe: dict[str, Any] | None = None) -> list[PlannedItem]:
    """Every item of the corpus, with all labels except the measured ones (F0, duration)."""
    recipe = recipe or RECIPE
    texts = dict(SENTENCES)
    pools = split_sentences(recipe)
    accents = list(recipe["accents"])
    pitches = list(recipe["pitch"].items())  # [("low", 20), ("high", 80)]
    k = int(recipe["sentences_per_cell"])
    voices = recipe.get("espeak_voices", {})
    items: list[PlannedItem] = []
    for split in ("train", "test"):
        pool = pools[split]
        n = len(pool)
        speakers = recipe["espeak_speakers"][split]
        cells = len(accents) * len(pitches) * k
        if cells > n:
            raise BuildError(f"{split}: {cells} sentences per speaker but only {n} in the pool")
        stride = n // max(len(speakers), 1)
        half = len(speakers) // 2
        for i, (variant, gender) in enumerate(speakers):
            for a, accent in enumerate(accents):
                for p, (pclass, pval) in enumerate(pitches):
                    # Alternate the pitch order between speakers, so that a sentence is not said
                    # at one pitch class only.
                    p_slot = p ^ (i % 2)
                    quick_speakers = {(a + p) % max(half, 1), (a + p) % max(half, 1) + half}
                    for j in range(k):
                        sid = pool[(stride * i + (a * len(pitches) + p_slot) * k + j) % n]
                        items.append(PlannedItem(
                            id=f"{variant}_{accent}_{pclass}_{sid}", text=texts[sid], speaker=variant,
                            gender=gender, accent=accent, pitch_class=pclass, espeak_pitch=int(pval),
                            split=split, sentence_id=sid, voice=f"{voices.get(accent, accent)}+{variant}",
                            quick=(j < int(recipe["quick_per_cell"]) // 2 and i in quick_speakers),
                        ))
        mb = recipe["mbrola_speakers"][split]
        m = int(recipe["mbrola_sentences_per_pitch"])
        mb_stride = n // max(len(mb), 1)
        for v, (voice, gender, accent) in enumerate(mb):
            for p, (pclass, pval) in enumerate(pitches):
                for j in range(m):
                    sid = pool[(mb_stride * v + p * m + j + 3) % n]
                    items.append(PlannedItem(
                        id=f"{voice}_{accent}_{pclass}_{sid}", text=texts[sid], speaker=voice,
                        gender=gender, accent=accent, pitch_class=pclass, espeak_pitch=int(pval),
                        split=split, sentence_id=sid, voice=voice, quick=False,
                    ))
    ids = [it.id for it in items]
    if len(set(ids)) != len(ids):
        raise BuildError("the design produced duplicate item ids")
    return sorted(items, key=lambda it: it.id)


# --- tools -------------------------------------------------------------------------------------


def _tool_version(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0].strip() if text else None


def _espeak_version() -> str | None:
    # "eSpeak NG text-to-speech: 1.51  Data at: /usr/lib/...": keep the version, not the path.
    text = _tool_version(["espeak-ng", "--version"])
    match = re.search(r"text-to-speech:\s*(\S+)", text or "")
    return match.group(1) if match else text


def _deb_version(package: str) -> str | None:
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def tool_versions(recipe: dict[str, Any]) -> dict[str, Any]:
    import soundfile
    import soxr

    versions: dict[str, Any] = {
        "espeak-ng": _espeak_version(),
        "soxr": getattr(soxr, "__version__", None),
        "soundfile": getattr(soundfile, "__version__", None),
        "libsndfile": getattr(soundfile, "__libsndfile_version__", None),
        "numpy": np.__version__,
    }
    try:
        import parselmouth

        versions["praat-parselmouth"] = parselmouth.__version__
        versions["praat"] = getattr(parselmouth, "PRAAT_VERSION", None)
    except ImportError:
        versions["praat-parselmouth"] = None
    if any(recipe.get("mbrola_speakers", {}).values()):
        versions["mbrola"] = _deb_version("mbrola")
        for split in recipe["mbrola_speakers"].values():
            for voice, _, _ in split:
                versions[f"mbrola-{voice[3:]}"] = _deb_version(f"mbrola-{voice[3:]}")
    return versions


MBROLA_HINT = (
    "MBROLA voices are in Debian's contrib and non-free components. Without changing the system "
    "sources: copy the 'deb' line of your Debian mirror from /etc/apt/sources.list (or the URIs "
    "and Suites of /etc/apt/sources.list.d/debian.sources) into /tmp/mb.list with the components "
    "'main contrib non-free', then: "
    "apt-get -o Dir::Etc::SourceList=/tmp/mb.list -o Dir::Etc::SourceParts=/dev/null update && "
    "apt-get -o Dir::Etc::SourceList=/tmp/mb.list -o Dir::Etc::SourceParts=/dev/null install -y "
    "mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1"
)


def check_tools(recipe: dict[str, Any]) -> None:
    if shutil.which("espeak-ng") is None:
        raise BuildError("espeak-ng is not installed: apt-get install espeak-ng")
    try:
        import parselmouth  # noqa: F401
    except ImportError:
        raise BuildError("praat-parselmouth is not installed: pip install 'bench[probe]'") from None
    if any(recipe.get("mbrola_speakers", {}).values()):
        if shutil.which("mbrola") is None:
            raise BuildError("mbrola is not installed. " + MBROLA_HINT)
        for split in recipe["mbrola_speakers"].values():
            for voice, _, _ in split:
                if not (os.path.isdir(f"/usr/share/mbrola/{voice[3:]}") or _deb_version(f"mbrola-{voice[3:]}")):
                    raise BuildError(f"MBROLA voice {voice} is not installed. " + MBROLA_HINT)


# --- synthesis and measurement -----------------------------------------------------------------


def synthesize(item: PlannedItem, recipe: dict[str, Any]) -> tuple[np.ndarray, int]:
    """Raw espeak-ng output for one item (float32 mono, its native rate)."""
    import soundfile as sf

    cmd = ["espeak-ng", "-v", item.voice, "-p", str(item.espeak_pitch), "-s", str(recipe["speed_wpm"]),
           "--stdout", item.text]
    out = subprocess.run(cmd, capture_output=True, timeout=60)
    if out.returncode != 0 or not out.stdout:
        raise BuildError(f"espeak-ng failed for {item.id}: {out.stderr.decode(errors='replace').strip()}")
    wave, sr = sf.read(io.BytesIO(out.stdout), dtype="float32", always_2d=True)
    return wave[:, 0], int(sr)


def trim_silence(wave: np.ndarray, sr: int, threshold_db: float, frame_s: float, pad_s: float) -> np.ndarray:
    """Cut leading/trailing frames quieter than ``threshold_db`` below the loudest frame, keep a pad."""
    frame = max(1, int(frame_s * sr))
    n_frames = len(wave) // frame
    if n_frames == 0:
        return wave
    rms = np.sqrt(np.mean(wave[: n_frames * frame].reshape(n_frames, frame).astype(np.float64) ** 2, axis=1))
    active = np.flatnonzero(rms > rms.max() * 10 ** (threshold_db / 20))
    if active.size == 0:
        return wave
    pad = int(pad_s * sr)
    start = max(0, active[0] * frame - pad)
    stop = min(len(wave), (active[-1] + 1) * frame + pad)
    return wave[start:stop]


def postprocess(wave: np.ndarray, sr: int, recipe: dict[str, Any]) -> np.ndarray:
    """Resample to 16 kHz (soxr VHQ), trim silence, peak-normalize, quantize: int16 samples."""
    import soxr

    x = np.asarray(wave, dtype=np.float64)
    if sr != recipe["sample_rate"]:
        x = soxr.resample(x, sr, recipe["sample_rate"], quality="VHQ")
    t = recipe["trim"]
    x = trim_silence(x, recipe["sample_rate"], t["threshold_db"], t["frame_s"], t["pad_s"])
    peak = float(np.max(np.abs(x))) or 1.0
    x = x * (recipe["peak"] / peak)
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)


def median_f0(wave: np.ndarray, sr: int, recipe: dict[str, Any]) -> float:
    """Median F0 (Hz) over voiced frames, Praat autocorrelation tracker."""
    import parselmouth

    snd = parselmouth.Sound(np.asarray(wave, dtype=np.float64), sampling_frequency=float(sr))
    pitch = snd.to_pitch_ac(pitch_floor=recipe["f0"]["floor_hz"], pitch_ceiling=recipe["f0"]["ceiling_hz"])
    f0 = pitch.selected_array["frequency"]
    f0 = f0[f0 > 0]
    return float(np.median(f0)) if f0.size else float("nan")


# --- writing and checking ----------------------------------------------------------------------




def write_sums(root: str, rels: list[str]) -> None:
    with open(os.path.join(root, "SHA256SUMS"), "w", encoding="utf-8") as fh:
        for rel in sorted(rels):
            fh.write(f"{file_hash(os.path.join(root, rel))}  {rel}\n")


def manifest_row(item: PlannedItem, wave: np.ndarray, f0: float) -> dict[str, Any]:
    return {
        "id": item.id, "path": item.path, "text": item.text, "speaker": item.speaker,
        "accent": item.accent, "pitch_class": item.pitch_class, "f0_median": round(f0, 2),
        "gender": item.gender, "duration": round(len(wave) / SR, 4), "split": item.split,
        "sentence_id": item.sentence_id, "voice": item.voice, "espeak_pitch": item.espeak_pitch,
        "quick": item.quick,
    }



def render(item: Any, recipe: dict[str, Any], out_dir: str) -> tuple[np.ndarray, float]:
    """Synthesise one planned item, post-process it (resample, trim, normalise), write it to
    ``out_dir/item.path`` as 16-bit FLAC and return the PCM and its median F0 (Praat). Every
    built-in espeak-ng set (synth-speech, synth-speech-probe, minimal-pairs) goes through here."""
    import soundfile as sf

    raw, sr = synthesize(item, recipe)
    pcm = postprocess(raw, sr, recipe)
    f0 = median_f0(pcm.astype(np.float64) / 32768.0, recipe["sample_rate"], recipe)
    sf.write(os.path.join(out_dir, item.path), pcm, recipe["sample_rate"], format="FLAC",
             subtype="PCM_16", compression_level=recipe["flac_compression_level"])
    return pcm, f0


def build(out_dir: str, recipe: dict[str, Any] | None = None,
          log: Callable[[str], None] = lambda msg: None) -> dict[str, Any]:
    """Generate the corpus into ``out_dir`` (audio/, manifest.jsonl, recipe.json, SHA256SUMS).

    Returns the written recipe. Raises :class:`BuildError` if a tool is missing or the recipe's
    sentence hash does not match :mod:`recipes.synth_speech.sentences`.
    """
    recipe = copy.deepcopy(recipe or RECIPE)
    want = recipe.get("sentences_sha256")
    if want and want != sentences_hash():
        raise BuildError("the recipe was made from other sentences (sentences_sha256 differs): "
                         "recipes/synth_speech/sentences.py changed; bump the corpus version")
    check_tools(recipe)
    items = plan(recipe)
    os.makedirs(os.path.join(out_dir, "audio"), exist_ok=True)
    rows = []
    for n, item in enumerate(items, 1):
        pcm, f0 = render(item, recipe, out_dir)
        rows.append(manifest_row(item, pcm, f0))
        if n % 40 == 0 or n == len(items):
            log(f"  {n}/{len(items)} items")
    with open(os.path.join(out_dir, "manifest.jsonl"), "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, sort_keys=False) + "\n")
    recipe["sentences_sha256"] = sentences_hash()
    recipe["tools"] = tool_versions(recipe)
    recipe["n_items"] = len(rows)
    with open(os.path.join(out_dir, "recipe.json"), "w", encoding="utf-8") as fh:
        json.dump(recipe, fh, indent=2)
        fh.write("\n")
    # recipe.json is not summed: it records tool versions, which may differ between builders
    # while the audio and labels stay identical.
    write_sums(out_dir, ["manifest.jsonl"] + [row["path"] for row in rows])
    return recipe


def compare(new_dir: str, frozen_dir: str) -> dict[str, Any]:
    """Compare a rebuilt corpus with the frozen one: checksums first, decoded samples if they differ."""
    import soundfile as sf

    old = read_sums(os.path.join(frozen_dir, "SHA256SUMS"))
    new = read_sums(os.path.join(new_dir, "SHA256SUMS"))
    report: dict[str, Any] = {
        "n_files": len(old), "identical": 0, "missing": sorted(set(old) - set(new)),
        "extra": sorted(set(new) - set(old)), "differ": [],
    }
    for rel in sorted(set(old) & set(new)):
        if old[rel] == new[rel]:
            report["identical"] += 1
            continue
        entry: dict[str, Any] = {"path": rel}
        if rel.endswith(".flac"):
            a, _ = sf.read(os.path.join(frozen_dir, rel), dtype="int16")
            b, _ = sf.read(os.path.join(new_dir, rel), dtype="int16")
            entry["samples_frozen"], entry["samples_new"] = len(a), len(b)
            n = min(len(a), len(b))
            diff = np.abs(a[:n].astype(np.int32) - b[:n].astype(np.int32))
            entry["samples_identical"] = bool(len(a) == len(b) and not diff.any())
            entry["max_abs_diff_lsb"] = int(diff.max()) if n else None
            entry["n_samples_differing"] = int((diff > 0).sum())
        else:
            entry["note"] = _manifest_diff(os.path.join(frozen_dir, rel), os.path.join(new_dir, rel))
        report["differ"].append(entry)
    report["match"] = not (report["missing"] or report["extra"] or report["differ"])
    report["samples_match"] = not (report["missing"] or report["extra"]) and all(
        d.get("samples_identical", False) for d in report["differ"] if d["path"].endswith(".flac"))
    return report


def _manifest_diff(a_path: str, b_path: str) -> str:
    def load(p: str) -> dict[str, dict]:
        with open(p, encoding="utf-8") as fh:
            return {r["id"]: r for r in map(json.loads, filter(str.strip, fh))}

    a, b = load(a_path), load(b_path)
    changed: dict[str, int] = {}
    for key in set(a) & set(b):
        for field in set(a[key]) | set(b[key]):
            if a[key].get(field) != b[key].get(field):
                changed[field] = changed.get(field, 0) + 1
    parts = [f"{field} differs on {n} rows" for field, n in sorted(changed.items())]
    if set(a) != set(b):
        parts.append(f"ids differ ({len(set(a) ^ set(b))})")
    return "; ".join(parts) or "same rows, different bytes (order or formatting)"


def frozen_dir() -> str:
    """The folder of the shipped corpus (package data of bench)."""
    return default_root()


def load_recipe(folder: str | None = None) -> dict[str, Any]:
    with open(os.path.join(folder or frozen_dir(), "recipe.json"), encoding="utf-8") as fh:
        return json.load(fh)


def rebuild_and_compare(out_dir: str | None = None, log: Callable[[str], None] = lambda msg: None) -> dict[str, Any]:
    """Regenerate the corpus from the frozen recipe and compare it with the frozen files."""
    frozen = frozen_dir()
    recipe = load_recipe(frozen)
    keep = out_dir is not None
    out_dir = out_dir or tempfile.mkdtemp(prefix="synth-speech-")
    if os.path.realpath(out_dir) == os.path.realpath(frozen):
        raise BuildError("--out is the frozen corpus folder; build elsewhere and compare")
    frozen_tools = recipe.pop("tools", {})
    recipe.pop("n_items", None)
    log(f"building {CORPUS} {recipe['version']} into {out_dir}")
    built = build(out_dir, recipe, log=log)
    report = compare(out_dir, frozen)
    report["out"] = out_dir if keep else None
    report["tools_frozen"] = frozen_tools
    report["tools_now"] = built["tools"]
    if not keep:
        shutil.rmtree(out_dir, ignore_errors=True)
    return report
