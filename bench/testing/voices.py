"""A tiny labelled corpus of synthetic voiced signals, for tests of the pitch and probe tasks.

Each item is a harmonic complex with a known F0 contour (two voiced stretches separated by a
pause), a speaker (base F0), a pitch class (base F0 or 1.6 times it), a sentence (contour shape)
and an "accent" (a spectral peak), written as 16 kHz WAV files with a JSONL manifest that follows
the synth-speech label schema. No TTS engine needed.
"""

from __future__ import annotations

import json
import os

import numpy as np

SR = 16_000
BASE_F0 = (85.0, 95.0, 105.0, 160.0, 175.0, 190.0)
ACCENT_PEAK_HZ = {"en-us": 500.0, "en-gb": 900.0, "en-029": 1400.0}


def voice(f0_base: float, sentence: int, peak_hz: float, seconds: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(wave, F0 in Hz per sample, 0 where unvoiced)."""
    t = np.arange(int(seconds * SR)) / SR
    f0 = f0_base * (1 + 0.08 * np.sin(2 * np.pi * (sentence + 1) * t / seconds))
    voiced = ((t > 0.1 * seconds) & (t < 0.45 * seconds)) | ((t > 0.55 * seconds) & (t < 0.9 * seconds))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    x = np.zeros_like(t)
    for h in range(1, 40):
        fh = h * f0_base
        if fh > 7000:
            break
        gain = 1.0 / h + 2.0 * np.exp(-0.5 * ((fh - peak_hz) / 150.0) ** 2)
        x += gain * np.sin(h * phase)
    ramp = np.convolve(voiced.astype(float), np.hanning(161) / np.hanning(161).sum(), mode="same")
    rng = np.random.default_rng(seed)
    x = 0.3 * x * ramp / np.max(np.abs(x)) + 1e-4 * rng.standard_normal(len(t))
    return x.astype(np.float32), np.where(voiced, f0, 0.0)


def write_voices_manifest(folder: str, n_speakers: int = 6, n_sentences: int = 6, seconds: float = 1.0) -> str:
    """Write the corpus into ``folder``; returns the manifest path. Speakers 0 and the last
    one of each half, with the last third of the sentences, form the test split."""
    import soundfile as sf

    os.makedirs(folder, exist_ok=True)
    accents = list(ACCENT_PEAK_HZ)
    test_speakers = {n_speakers // 2 - 1, n_speakers - 1}
    test_sentences = set(range(n_sentences - max(1, n_sentences // 3), n_sentences))
    rows = []
    for spk in range(n_speakers):
        for sen in range(n_sentences):
            if (spk in test_speakers) != (sen in test_sentences):
                split = None  # mixed: keep it out of the fixed split, as synth-speech does
            else:
                split = "test" if spk in test_speakers else "train"
            for pitch_class, factor in (("low", 1.0), ("high", 1.6)):
                accent = accents[(spk + sen) % len(accents)]
                f0_base = BASE_F0[spk % len(BASE_F0)] * factor
                wave, _ = voice(f0_base, sen, ACCENT_PEAK_HZ[accent], seconds, seed=spk * 100 + sen)
                item_id = f"sp{spk}_{accent}_{pitch_class}_s{sen:03d}"
                sf.write(os.path.join(folder, item_id + ".wav"), wave, SR, subtype="PCM_16")
                row = {"id": item_id, "path": item_id + ".wav", "text": f"sentence {sen}",
                       "speaker": f"sp{spk}", "accent": accent, "pitch_class": pitch_class,
                       "f0_median": f0_base, "gender": "male" if spk % len(BASE_F0) < 3 else "female",
                       "duration": seconds, "sentence_id": f"s{sen:03d}"}
                if split:
                    row["split"] = split
                rows.append(row)
    path = os.path.join(folder, "manifest.jsonl")
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    return path
