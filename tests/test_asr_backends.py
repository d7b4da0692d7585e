"""Every ASR backend the asr task ships, exercised end to end without downloading anything:
pocketsphinx with its bundled model, openai-whisper with a randomly initialised tiny Whisper
built here (its transcripts are nonsense; the path through loading, decoding options, the
provenance and scoring is what is tested). faster-whisper is tested in test_asr.py."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os

import numpy as np
import pytest

import bench
from bench.codecs.base import MissingDependency
from bench.tasks.base import Failed, ItemContext

pytest.importorskip("jiwer")
pytest.importorskip("whisper_normalizer")

from bench.tasks.asr import BACKEND_CLASSES, BACKENDS, Asr  # noqa: E402

CORPUS = os.path.join(os.path.dirname(bench.__file__), "data", "synth_speech")


def _clips(n: int = 2) -> list[tuple[str, np.ndarray, str]]:
    import soundfile as sf

    out = []
    with open(os.path.join(CORPUS, "manifest.jsonl")) as fh:
        for line in fh:
            row = json.loads(line)
            if row["accent"] != "en-us":
                continue
            x, sr = sf.read(os.path.join(CORPUS, row["path"]), dtype="float32")
            assert sr == 16000
            out.append((row["id"], x, row["text"]))
            if len(out) == n:
                break
    return out


def _items(clips, noisy: bool = True) -> list[ItemContext]:
    rng = np.random.default_rng(0)
    items = []
    for name, x, text in clips:
        rec = (x + 0.02 * rng.standard_normal(len(x))).astype(np.float32) if noisy else x
        items.append(ItemContext(name, x, rec, np.zeros((1, 0), np.int64), {"text": text}, item_hash=f"h-{name}"))
    return items


def _sha256(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def test_every_backend_has_a_module_and_is_listed():
    assert BACKENDS == ("faster-whisper", "openai-whisper", "pocketsphinx")
    for name, cls in BACKEND_CLASSES.items():
        assert cls.name == name and cls.__module__ == "bench.tasks.asr." + name.replace("-", "_")


# -- pocketsphinx ---------------------------------------------------------------------------------
def test_pocketsphinx_transcribes_offline_and_deterministically():
    pytest.importorskip("pocketsphinx")
    task = Asr.from_options({"backend": "pocketsphinx"})
    resolved = task.describe()["config"]["resolved"]
    assert resolved["backend"] == "pocketsphinx" and resolved["model"] == "en-us"
    assert len(resolved["model_sha256"]) == 64 and resolved["beam_size"] is None
    assert resolved["packages"]["pocketsphinx"] and resolved["decoding"] == {}
    clips = _clips(2)
    a, b = clips[0][1], clips[1][1]
    first = task.transcribe([a, b])
    assert all(isinstance(t, str) and t for t in first)
    # the cepstral mean is reset per clip: a clip's transcript does not depend on what came before
    assert task.transcribe([b]) == first[1:]
    m = task.measure_batch(_items(clips[:1]))[0]
    assert m.extras["transcript_original"] == first[0]
    assert all(isinstance(m.values[k], float) for k in ("wer", "wer_original", "cer", "wer_vs_original"))
    assert m.values["wer_original"] < 100.0  # a weak ASR ("... the brakes ..."), but not deaf
    assert task.corpus_report([], seed=0)["speed"]["threads"] is None


def test_pocketsphinx_custom_model_must_be_a_file(tmp_path):
    pytest.importorskip("pocketsphinx")
    with pytest.raises(MissingDependency, match="not found"):
        Asr.from_options({"backend": "pocketsphinx", "model": str(tmp_path / "none.lm.bin")}).describe()
    with pytest.raises(MissingDependency, match="language model file"):
        Asr.from_options({"backend": "pocketsphinx", "model": str(tmp_path)}).describe()


# -- openai-whisper -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_whisper(tmp_path_factory) -> str:
    """A randomly initialised English-only Whisper (1 layer, 64 wide) saved as a checkpoint:
    the format ``whisper.load_model`` reads, with nothing downloaded."""
    pytest.importorskip("whisper")
    pytest.importorskip("tiktoken")
    import torch
    from whisper.model import ModelDimensions, Whisper

    torch.manual_seed(0)
    dims = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=1,
                           n_vocab=51864, n_text_ctx=64, n_text_state=64, n_text_head=2, n_text_layer=1)
    model = Whisper(dims)
    path = str(tmp_path_factory.mktemp("whisper") / "tiny-random.pt")
    torch.save({"dims": dataclasses.asdict(dims), "model_state_dict": model.state_dict()}, path)
    return path


def test_openai_whisper_path_with_a_random_tiny_model(tiny_whisper):
    task = Asr.from_options({"backend": "openai-whisper", "model": tiny_whisper, "threads": 1})
    resolved = task.describe()["config"]["resolved"]
    assert resolved["backend"] == "openai-whisper" and resolved["model"] == "tiny-random.pt"
    assert resolved["model_sha256"] == _sha256(tiny_whisper)
    assert resolved["decoding"] == {"language": "en", "temperature": 0.0, "beam_size": 5, "fp16": False,
                                    "condition_on_previous_text": False}
    assert resolved["call"] == "whisper.transcribe, one clip at a time"
    assert set(resolved["packages"]) == {"openai-whisper", "torch"} and resolved["compute_type"] is None
    greedy = Asr.from_options({"backend": "openai-whisper", "model": tiny_whisper, "beam_size": 1})
    assert greedy.describe()["config"]["resolved"]["decoding"]["beam_size"] is None
    assert greedy.asr_hash != task.asr_hash

    clips = _clips(1)
    # greedy decoding of a random model: nonsense, but a deterministic string
    text = greedy.transcribe([clips[0][1]])[0]
    assert isinstance(text, str) and greedy.transcribe([clips[0][1]])[0] == text
    m = greedy.measure_batch(_items(clips, noisy=False))[0]
    assert m.extras["transcript"] == m.extras["transcript_original"] == text
    if m.extras["normalized"]["original"]:
        assert m.values["wer_vs_original"] == 0.0 and isinstance(m.values["wer"], float)
    else:
        assert m.values["wer_vs_original"] == Failed("original transcript is empty")
    assert m.values["wer_delta"] == 0.0


def test_openai_whisper_needs_a_checkpoint_file(tmp_path):
    with pytest.raises(MissingDependency, match="nothing is downloaded"):
        Asr.from_options({"backend": "openai-whisper"}).describe()
    with pytest.raises(MissingDependency, match="FILE.pt"):
        Asr.from_options({"backend": "openai-whisper", "model": str(tmp_path / "missing.pt")}).describe()
