"""The built-in corpus synth-speech: design balance, checksums, splits, F0 labels, loading."""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from bench.datasets import DATASETS, DEFAULT_DATASET
from recipes.synth_speech import build as sb
from recipes.synth_speech.sentences import SENTENCES, sentences_hash
from bench.datasets.synth_speech import SynthSpeechConfig, SynthSpeechDataset, corpus_stats, default_root

ROOT = default_root()
SCHEMA_ATTRS = {"accent", "pitch_class", "f0_median", "gender", "duration", "split", "sentence_id", "voice"}


@pytest.fixture(scope="module")
def items():
    return DATASETS.build("synth-speech").items()


@pytest.fixture(scope="module")
def recipe():
    return sb.load_recipe(ROOT)


def espeak_items(items):
    return [it for it in items if not it.speaker.startswith("mb-")]


def test_is_default_and_registered():
    assert DEFAULT_DATASET == "synth-speech"
    assert "synth-speech-quick" in DATASETS
    assert DATASETS.build("synth-speech-quick").config.subset == "quick"


def test_sentences_follow_the_rules():
    assert len(SENTENCES) >= 60
    assert len({sid for sid, _ in SENTENCES}) == len(SENTENCES)
    for sid, text in SENTENCES:
        assert 4 <= len(text.split()) <= 12, sid
        assert not re.search(r"[0-9()\[\]'’]s\b|[0-9()\[\]]", text), sid  # no digits, brackets, possessives
        assert "-" not in text, sid


def test_recipe_matches_code_and_size(recipe):
    assert recipe["version"] == "v1"
    assert recipe["sentences_sha256"] == sentences_hash()
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(ROOT) for f in fs)
    assert total <= 15e6
    assert not any(str(v).startswith("/") for v in recipe["tools"].values())  # no local paths


def test_labels_follow_the_schema(items):
    assert len(items) == 240
    assert [it.id for it in items] == sorted(it.id for it in items)
    for it in items:
        assert it.error is None, it.error
        assert it.text and it.speaker
        assert SCHEMA_ATTRS <= set(it.attrs), it.id
        assert "quick" not in it.attrs  # a subset marker, not a label
        assert it.attrs["pitch_class"] in ("low", "high")
        assert it.attrs["gender"] in ("male", "female")
        assert 1.5 <= it.attrs["duration"] <= 4.0
        assert it.text == dict(SENTENCES)[it.attrs["sentence_id"]]


def test_design_is_balanced(items, recipe):
    esp = espeak_items(items)
    accents = recipe["accents"]
    assert collections.Counter(it.attrs["accent"] for it in esp) == {a: 32 for a in accents}
    assert collections.Counter(it.attrs["pitch_class"] for it in items) == {"low": 120, "high": 120}
    assert collections.Counter(it.attrs["split"] for it in items) == {"train": 120, "test": 120}
    speakers = collections.Counter(it.speaker for it in items)
    assert len(speakers) == 12
    # Every espeak speaker says every accent at both pitch classes, the same number of times.
    cells = collections.Counter((it.speaker, it.attrs["accent"], it.attrs["pitch_class"]) for it in esp)
    assert len(cells) == 8 * 6 * 2 and set(cells.values()) == {recipe["sentences_per_cell"]}
    mb = collections.Counter((it.speaker, it.attrs["pitch_class"]) for it in items if it.speaker.startswith("mb-"))
    assert len(mb) == 4 * 2 and set(mb.values()) == {recipe["mbrola_sentences_per_pitch"]}
    # Each split has both genders among espeak speakers.
    for split in ("train", "test"):
        genders = {(it.speaker, it.attrs["gender"]) for it in esp if it.attrs["split"] == split}
        assert collections.Counter(g for _, g in genders) == {"male": 2, "female": 2}


def test_sentences_not_confounded_with_labels(items):
    by_sentence = collections.defaultdict(list)
    for it in espeak_items(items):
        by_sentence[it.attrs["sentence_id"]].append(it)
    multi_accent = sum(len({it.attrs["accent"] for it in group}) >= 2 for group in by_sentence.values())
    both_pitch = sum(len({it.attrs["pitch_class"] for it in group}) == 2 for group in by_sentence.values())
    assert multi_accent >= 0.9 * len(by_sentence)
    assert both_pitch >= 0.75 * len(by_sentence)


def test_splits_disjoint_in_speakers_and_sentences(items):
    def of(split, key):
        return {it.speaker if key == "speaker" else it.attrs[key] for it in items if it.attrs["split"] == split}

    assert not of("train", "speaker") & of("test", "speaker")
    assert not of("train", "sentence_id") & of("test", "sentence_id")
    for split in ("train", "test"):
        assert len({it.attrs["accent"] for it in items if it.attrs["split"] == split}) == 6


def test_f0_separates_pitch_classes_on_every_voice(items):
    groups = collections.defaultdict(lambda: collections.defaultdict(list))
    for it in items:
        groups[(it.speaker, it.attrs["accent"])][it.attrs["pitch_class"]].append(it.attrs["f0_median"])
        assert 50 < it.attrs["f0_median"] < 400
    for key, g in groups.items():
        assert max(g["low"]) * 1.3 < min(g["high"]), key
    # Female espeak variants really are female voices in every accent (espeak-ng ignores a
    # variant after "en-gb": the recipe uses the voice file gmw/en for that reason).
    for it in espeak_items(items):
        if it.attrs["gender"] == "female":
            assert it.attrs["f0_median"] > 110, it.id


def test_f0_labels_reproduce():
    parselmouth = pytest.importorskip("parselmouth")
    del parselmouth
    rows = [json.loads(line) for line in open(os.path.join(ROOT, "manifest.jsonl"), encoding="utf-8")]
    recipe = sb.load_recipe(ROOT)
    for row in rows[::40]:
        wave, sr = sf.read(os.path.join(ROOT, row["path"]), dtype="int16")
        f0 = sb.median_f0(wave.astype(np.float64) / 32768.0, sr, recipe)
        assert abs(f0 - row["f0_median"]) < 0.5, row["id"]


def test_quick_subset_balanced():
    quick = DATASETS.build("synth-speech-quick").items()
    assert len(quick) == 48
    cells = collections.Counter((it.attrs["split"], it.attrs["accent"], it.attrs["pitch_class"]) for it in quick)
    assert len(cells) == 24 and set(cells.values()) == {2}
    assert collections.Counter(it.attrs["gender"] for it in quick) == {"male": 24, "female": 24}
    assert len({it.speaker for it in quick}) == 8
    # Same content hash in both subsets: cached work is shared.
    full = {it.id: it for it in DATASETS.build("synth-speech").items()}
    assert all(it.content_hash() == full[it.id].content_hash() for it in quick[:3])


def test_subsets_and_bad_option():
    train = SynthSpeechDataset(SynthSpeechConfig(subset="train")).items()
    test = SynthSpeechDataset(SynthSpeechConfig(subset="test")).items()
    assert len(train) == len(test) == 120
    assert {it.attrs["split"] for it in train} == {"train"}
    from bench.config import ConfigError

    with pytest.raises(ConfigError, match="subset"):
        DATASETS.build("synth-speech", {"subset": "tiny"})


def test_plan_reproduces_manifest_labels(recipe):
    planned = {p.id: p for p in sb.plan(recipe)}
    rows = [json.loads(line) for line in open(os.path.join(ROOT, "manifest.jsonl"), encoding="utf-8")]
    assert set(planned) == {r["id"] for r in rows}
    for r in rows:
        p = planned[r["id"]]
        assert (p.text, p.speaker, p.accent, p.pitch_class, p.split, p.voice, p.quick) == (
            r["text"], r["speaker"], r["accent"], r["pitch_class"], r["split"], r["voice"], r["quick"])


def test_audio_matches_labels(items):
    for it in items[::30]:
        audio = it.load()
        assert audio.sample_rate == 16000
        assert abs(audio.duration - it.attrs["duration"]) < 1e-3
        assert 0.45 < float(np.max(np.abs(audio.wave))) <= 0.5 + 1e-4


def test_corrupted_file_is_a_failed_item(tmp_path):
    root = tmp_path / "ss"
    shutil.copytree(ROOT, root)
    rows = [json.loads(line) for line in open(root / "manifest.jsonl", encoding="utf-8")]
    victim, gone = rows[5], rows[9]
    data = bytearray((root / victim["path"]).read_bytes())
    data[-100] ^= 0xFF
    (root / victim["path"]).write_bytes(bytes(data))
    (root / gone["path"]).unlink()
    items = SynthSpeechDataset(SynthSpeechConfig(root=str(root))).items()
    errors = {it.id: it.error for it in items if it.error}
    assert set(errors) == {victim["id"], gone["id"]}
    assert "SHA-256 mismatch" in errors[victim["id"]] and "missing" in errors[gone["id"]]
    assert len(items) == 240
    # verify=false trusts the files
    assert not any(it.error for it in SynthSpeechDataset(SynthSpeechConfig(root=str(root), verify=False)).items()
                   if it.id == victim["id"])


def test_loads_without_system_tools(tmp_path):
    code = (
        "import subprocess, shutil\n"
        "def boom(*a, **k): raise AssertionError('a system tool was called')\n"
        "subprocess.Popen = boom; subprocess.run = boom; shutil.which = boom\n"
        "from bench.registry import DATASETS; import bench.datasets\n"
        "items = DATASETS.build('synth-speech').items()\n"
        "assert not any(it.error for it in items)\n"
        "print(len(items), sum(len(it.load().wave) for it in items))\n"
    )
    env = {**os.environ, "PATH": str(tmp_path)}  # no espeak-ng, no mbrola, no sox
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    n, samples = map(int, out.stdout.split())
    assert n == 240 and samples > 240 * 1.5 * 16000


def test_stats_and_cli(items, capsys):
    stats = corpus_stats(items)
    assert stats["counts"]["split"] == {"test": 120, "train": 120}
    assert all(row["gap"] > 0 for row in stats["f0_by_speaker"].values())
    from bench.cli import main

    assert main(["data", "verify", "synth-speech"]) == 0
    assert "240 of 240 files match" in capsys.readouterr().out
    assert main(["data", "info", "synth-speech"]) == 0
    assert "pitch_class: high 120, low 120" in capsys.readouterr().out


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_rebuild_reproduces_frozen_samples(recipe):
    """A few items regenerated with espeak-ng (and MBROLA when installed) match the frozen samples."""
    pytest.importorskip("soxr")
    chosen = [p for p in sb.plan(recipe) if p.id.startswith(("f3_en-gb_", "m7_en-029_"))][:2]
    if shutil.which("mbrola") and os.path.isdir("/usr/share/mbrola/us1"):
        chosen += [p for p in sb.plan(recipe) if p.speaker == "mb-us1"][:1]
    for p in chosen:
        raw, sr = sb.synthesize(p, recipe)
        pcm = sb.postprocess(raw, sr, recipe)
        frozen, _ = sf.read(os.path.join(ROOT, p.path), dtype="int16")
        assert len(pcm) == len(frozen), p.id
        assert np.array_equal(pcm, frozen), p.id


# -- the training supplement (synth-speech-extra) ------------------------------------------------


def test_training_supplement_never_uses_a_test_voice_or_sentence():
    from recipes.synth_speech.sentences import SENTENCES
    from recipes.synth_speech.extra import EXTRA_RECIPE, EXTRA_SENTENCES, plan_extra

    items = plan_extra()
    test = [it for it in sb.plan() if it.split == "test"]
    assert {it.speaker for it in items}.isdisjoint({it.speaker for it in test})
    assert {it.sentence_id for it in items}.isdisjoint({it.sentence_id for it in test})
    assert {it.split for it in items} == {"train"} and len({it.id for it in items}) == len(items)
    assert [it.id for it in plan_extra()] == [it.id for it in items]  # seeded
    # A test voice named in the recipe is dropped, not synthesised.
    sneaky = {**EXTRA_RECIPE, "espeak_variants": ["m3", "adam"]}
    assert {it.speaker for it in plan_extra(sneaky)} == {"adam", "mb-us1", "mb-us2"}
    for bad in (0, -1, 81):  # the pool has 80 training sentences
        with pytest.raises(sb.BuildError, match="sentences per voice"):
            plan_extra({**EXTRA_RECIPE, "sentences_per_voice": bad})
    ids = [sid for sid, _ in EXTRA_SENTENCES]
    assert len(set(ids)) == len(ids) and not set(ids) & {sid for sid, _ in SENTENCES}
    assert not {t for _, t in EXTRA_SENTENCES} & {t for _, t in SENTENCES}


def test_training_supplement_builds_and_loads_as_training_data(tmp_path):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    from recipes.synth_speech.extra import EXTRA_RECIPE, build_extra

    recipe = {**EXTRA_RECIPE, "espeak_variants": ["adam", "klatt3"], "sentences_per_voice": 1}
    out = build_extra(str(tmp_path), recipe)
    if out["failed"]:  # MBROLA voices missing on this machine: the espeak ones must still be there
        assert all(f.startswith("x_mb-") for f in out["failed"]), out["failed"]
    assert out["n_items"] >= 2 and out["seconds"] > 1.0
    torch = pytest.importorskip("torch")  # noqa: F841
    from recipes.rvq.train import load_corpus

    corpus = load_corpus([f"manifest:path={tmp_path}/manifest.jsonl"], 16_000)
    assert len(corpus.waves) == out["n_items"]
    assert all(0.1 < float(np.abs(w).max()) <= 0.51 for w in corpus.waves)
