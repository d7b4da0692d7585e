"""Accent ceiling from Whisper encoder states: an experiment beside the log-mel ceiling.

The learned log-mel ceiling (task ``probe-audio``) reads accent at chance on synth-speech-probe's
unseen test voices (docs/probes.md). This script asks whether a pretrained front end does better:
it encodes every item of synth-speech-probe with the bundled Whisper tiny.en encoder
(faster-whisper's feature extractor, CTranslate2's ``encode``; frames over the audio only),
pools each utterance (mean, or mean and standard deviation over frames), standardises on the
train split and fits a logistic regression on the train voices; balanced accuracy on the test
voices, 6 accents and en-us vs en-gb. No seeds are involved (lbfgs is deterministic).

    python benchmarks/probe_whisper_accent.py          # about 5 CPU-minutes, most of it encoding
"""

from __future__ import annotations

import json
import os
import time

import numpy as np


def encode_all(root: str) -> tuple[np.ndarray, list[dict]]:
    import ctranslate2
    import soundfile as sf
    from faster_whisper import WhisperModel

    from bench.tasks.asr.faster_whisper import bundled_whisper_path

    with open(os.path.join(root, "manifest.jsonl")) as f:
        items = [json.loads(line) for line in f if line.strip()]
    model = WhisperModel(bundled_whisper_path(), device="cpu", compute_type="int8", cpu_threads=1)
    feats = []
    for it in items:
        audio, sr = sf.read(os.path.join(root, it["path"]), dtype="float32")
        if sr != 16000:
            raise SystemExit(f"{it['path']}: {sr} Hz, expected 16000")
        mel = model.feature_extractor(audio)  # [80, frames at 100 Hz]
        mel = np.pad(mel, ((0, 0), (0, max(0, 3000 - mel.shape[1]))))[:, :3000][None].astype(np.float32)
        states = np.array(model.model.encode(ctranslate2.StorageView.from_array(mel), to_cpu=True))[0]
        states = states[: max(1, len(audio) // 320)]  # encoder frames (50 Hz) that cover the audio
        feats.append(np.concatenate([states.mean(0), states.std(0)]))
    return np.asarray(feats), items


def main() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.preprocessing import StandardScaler

    from bench.datasets.synth_speech import probe_root

    root = probe_root()
    t0 = time.process_time()
    X, items = encode_all(root)
    enc_s = time.process_time() - t0
    train = np.array([it["split"] == "train" for it in items])
    test = ~train
    accent = np.array([it["accent"] for it in items])
    two = np.isin(accent, ["en-us", "en-gb"])
    print(f"{len(items)} items ({train.sum()} train, {test.sum()} test); encoding {enc_s:.0f} CPU-s")
    print("| pooling | C | 6 accents (chance 0.167) | en-us vs en-gb (chance 0.5) |\n|---|---|---|---|")
    for name, cols in (("mean", slice(0, X.shape[1] // 2)), ("mean+std", slice(None))):
        Z = StandardScaler().fit(X[train][:, cols]).transform(X[:, cols])
        for C in (0.01, 0.1, 1.0):
            six = LogisticRegression(C=C, max_iter=3000).fit(Z[train], accent[train])
            b6 = balanced_accuracy_score(accent[test], six.predict(Z[test]))
            pair = LogisticRegression(C=C, max_iter=3000).fit(Z[train & two], accent[train & two])
            b2 = balanced_accuracy_score(accent[test & two], pair.predict(Z[test & two]))
            print(f"| {name} | {C:g} | {b6:.3f} | {b2:.3f} |")


if __name__ == "__main__":
    main()
