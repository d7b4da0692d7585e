"""The speaker task: identity keeps the voice (similarity > 0.99 on every item), 2-bit mu-law
does not, short clips are scored and marked short, only clips with no speech left fail, trials
are deterministic and saved, EER on hand-made trials."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from bench.metrics.speaker import Trial, build_trials, equal_error_rate
from bench.tasks.base import Failed, ItemContext, Row
from bench.tasks.speaker import Speaker

SENTENCES = [
    "The small boat drifted slowly toward the quiet harbor.",
    "Please bring the green folder to the meeting room.",
]
VOICES = {"m3": "en-us+m3", "f2": "en-us+f2", "m7": "en-gb+m7"}


def test_eer_hand_made():
    # targets .9 .8 .3, non-targets .7 .2 .1: one miss and one false alarm at threshold .7/.3
    s = np.array([0.9, 0.8, 0.3, 0.7, 0.2, 0.1])
    y = np.array([1, 1, 1, 0, 0, 0])
    assert equal_error_rate(s, y) == pytest.approx(1 / 3)
    assert equal_error_rate(np.array([0.9, 0.8, 0.2, 0.1]), np.array([1, 1, 0, 0])) == 0.0
    assert equal_error_rate(np.array([0.1, 0.2, 0.8, 0.9]), np.array([1, 1, 0, 0])) == 1.0
    assert equal_error_rate(np.full(6, 0.5), y) == pytest.approx(0.5)  # no information
    # interpolated crossing: 4 targets, 4 non-targets, one swap each side
    s2 = np.array([0.9, 0.8, 0.7, 0.35, 0.6, 0.3, 0.2, 0.1])
    y2 = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    assert equal_error_rate(s2, y2) == pytest.approx(0.25)
    assert equal_error_rate(s, np.ones(6)) is None


def test_trials_deterministic_and_sane():
    speakers = {f"{s}_{i}": s for s in "abcd" for i in range(4)}
    t1 = build_trials(speakers, seed=3, targets=2, impostors=3)
    assert t1 == build_trials(speakers, seed=3, targets=2, impostors=3)
    assert t1 != build_trials(speakers, seed=4, targets=2, impostors=3)
    assert all(t.enrol != t.test for t in t1)
    assert all((speakers[t.enrol] == speakers[t.test]) == t.target for t in t1)
    per_test = {k: [t for t in t1 if t.test == k] for k in speakers}
    assert all(sum(t.target for t in v) == 2 and sum(not t.target for t in v) == 3 for v in per_test.values())
    # impostors come from distinct speakers while there are enough of them
    assert all(len({speakers[t.enrol] for t in v if not t.target}) == 3 for v in per_test.values())


def _make_corpus(folder: str) -> str:
    import soundfile as sf
    import soxr

    rows = []
    for spk, voice in VOICES.items():
        for k, text in enumerate(SENTENCES):
            wav = os.path.join(folder, f"{spk}_{k}.wav")
            subprocess.run(["espeak-ng", "-v", voice, "-w", wav, text], check=True, capture_output=True)
            x, sr = sf.read(wav, dtype="float32")
            sf.write(os.path.join(folder, f"{spk}_{k}.flac"), soxr.resample(x, sr, 16000), 16000, subtype="PCM_16")
            os.remove(wav)
            rows.append({"path": f"{spk}_{k}.flac", "text": text, "speaker": spk, "gender": spk[0]})
    # 0.3 s of speech: under the 0.5 s minimum once silences are trimmed
    x, _ = sf.read(os.path.join(folder, "m3_0.flac"), dtype="float32")
    sf.write(os.path.join(folder, "short.flac"), x[1600:6400], 16000, subtype="PCM_16")
    rows.append({"path": "short.flac", "speaker": "m3"})
    path = os.path.join(folder, "manifest.jsonl")
    with open(path, "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    pytest.importorskip("resemblyzer")
    pytest.importorskip("webrtcvad")
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    return _make_corpus(str(tmp_path_factory.mktemp("spk_corpus")))


def _run(codec: str, manifest: str, out: str):
    from bench.runner import RunOptions, run

    rep = run(RunOptions(codec=codec, dataset=f"manifest:path={manifest}", tasks=("speaker",), out=out, progress=False))
    return rep.records[0]


def test_identity_keeps_voice_mulaw2_does_not(corpus, tmp_path):
    out = str(tmp_path / "run")
    ident = _run("identity", corpus, out)
    worse = _run("mulaw-2bit", corpus, out)

    import sqlite3

    conn = sqlite3.connect(os.path.join(out, "bench.sqlite"))
    sims = {}
    for codec_hash, value, failure in conn.execute(
        "SELECT codec_hash, value, failure FROM metric_values WHERE metric = 'similarity'"
    ):
        sims.setdefault(codec_hash, []).append((value, failure))
    conn.close()
    ident_vals = sims[ident["run"]["key"]]
    measured = [v for v, f in ident_vals if f is None]
    # the 0.3 s clip is scored too (short, not failed)
    assert len(measured) == 7 and min(measured) > 0.99
    assert [f for v, f in ident_vals if f is not None] == []
    mi, mw = ident["metrics"], worse["metrics"]
    assert mi["similarity"]["n"] == 7 and mi["similarity"]["n_failed"] == 0
    short = ident["extra"]["short"]
    assert short["n_short"] == 1 and short["n_long"] == 6 and short["min_speech_s"] == 0.5
    assert mw["similarity"]["value"] < mi["similarity"]["value"] - 0.02
    # verification: 3 distinct voices, identity's EER equals the originals' own EER
    assert mi["eer"]["value"] == mi["eer_original"]["value"]
    assert mi["eer"]["n"] > 0 and mi["eer"]["n_failed"] == 0  # trials with the short clip are kept
    trials = ident["extra"]["trials"]
    assert trials["file"] == worse["extra"]["trials"]["file"], "same trials for every codec"
    lines = open(os.path.join(out, trials["file"])).read().splitlines()
    assert lines[0].startswith("enrol_id\ttest_id\ttarget") and len(lines) == trials["n"] + 1
    assert ident["task"]["config"]["resolved"]["weights_sha256"]


def _digit_clips(realspeech):
    from bench.audio import METRIC_SR, load_audio, resample

    with open(os.path.join(realspeech, "manifest.jsonl")) as fh:
        rows = [json.loads(line) for line in fh]
    for r in rows:
        if r["path"].startswith("fsdd_"):
            a = load_audio(os.path.join(realspeech, r["path"]))
            yield r, resample(a.wave, a.sample_rate, METRIC_SR)


def test_short_digit_clips_are_scored(realspeech):
    """Spoken digits keep 0.2-0.6 s of speech after the VAD: every clip with any speech gets a
    score (identity: the same array, cosine 1), those under min_speech_s are marked short."""
    pytest.importorskip("resemblyzer")
    pytest.importorskip("webrtcvad")
    task = Speaker()
    scored = short = 0
    for r, x in _digit_clips(realspeech):
        m = task.measure(ItemContext(r["path"], x, x.copy(), np.zeros((1, 0), np.int64), {"speaker": r["speaker"]}))
        speech = m.extras["speech_seconds"]["original"]
        if speech == 0:
            assert isinstance(m.values["similarity"], Failed)
            continue
        assert not isinstance(m.values["similarity"], Failed), (r["path"], m.values["similarity"])
        assert m.values["similarity"] == pytest.approx(1.0, abs=1e-6)
        assert m.extras.get("short") == (speech < task.config.min_speech_s)
        scored += 1
        short += m.extras["short"]
    assert scored == 20 and short == 16  # 16 of the 20 keep less than 0.5 s
    # the option is recorded (record and cache key) and moves only the flag
    loose = Speaker(Speaker.Config(min_speech_s=0.1))
    assert loose.describe()["config"]["min_speech_s"] == 0.1


def test_silent_reconstruction_is_failed():
    task = Speaker()
    rng = np.random.default_rng(0)
    t = np.arange(32000) / 16000
    voiced = (0.3 * np.sin(2 * np.pi * 140 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    voiced += 0.01 * rng.standard_normal(len(t)).astype(np.float32)
    item = ItemContext("x", voiced, np.zeros_like(voiced), np.zeros((1, 0), np.int64), {"speaker": "s"})
    m = task.measure(item)
    assert m.values["similarity"] == Failed("no speech in the reconstruction after VAD trimming")
    assert "embedding_original" not in m.extras


def test_summarize_from_rows():
    """EER from stored rows: two speakers, embeddings on two axes; the codec swaps one test."""
    e = {"a": [1.0, 0.0], "b": [0.0, 1.0]}

    def row(i, spk, recon_spk):
        return Row(f"{spk}{i}", {"speaker": spk}, {"similarity": 1.0 if spk == recon_spk else 0.0},
                   {"embedding_original": e[spk], "embedding_reconstruction": e[recon_spk]})

    rows = [row(i, "a", "a") for i in range(3)] + [row(i, "b", "b") for i in range(3)]
    task = Speaker.__new__(Speaker)
    task.config = Speaker.Config(targets=2, impostors=2)
    res = task.summarize(rows, seed=0)
    assert res["eer"].value == 0.0 and res["eer_original"].value == 0.0
    rows[0] = row(0, "a", "b")
    res = task.summarize(rows, seed=0)
    assert res["eer"].value > 0.0 and res["eer_original"].value == 0.0
    trial = Trial("a", "b", True)
    assert (trial.enrol, trial.test, trial.target) == ("a", "b", True)
