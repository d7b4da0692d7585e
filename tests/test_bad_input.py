import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from bench.datasets.manifest import ManifestError
from bench.datasets.synthetic import make_signal
from bench.runner import RunOptions, run


@pytest.fixture
def bad_manifest(tmp_path):
    speech = make_signal("vowel", 0, seed=1, duration=2.0).wave
    sf.write(tmp_path / "good1.wav", speech, 16000, subtype="PCM_16")
    sf.write(tmp_path / "good2.flac", make_signal("vowel", 3, seed=2, duration=2.0).wave, 16000)
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF\x00\x01garbage" + bytes(range(256)) * 4)
    nan = speech.copy()
    nan[100:200] = np.nan
    sf.write(tmp_path / "nan.wav", nan, 16000, subtype="FLOAT")
    sf.write(tmp_path / "short.wav", speech[:160], 16000)  # 10 ms
    import soxr

    stereo = soxr.resample(speech, 16000, 44100)
    sf.write(tmp_path / "stereo44k.wav", np.stack([stereo, 0.5 * stereo], axis=1), 44100)
    sf.write(tmp_path / "u8.wav", speech, 16000, subtype="PCM_U8")
    rows = [{"path": p} for p in ("good1.wav", "good2.flac", "missing.wav", "empty.wav", "corrupt.wav",
                                  "nan.wav", "short.wav", "stereo44k.wav", "u8.wav", "../escape.wav")]
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return manifest


def test_bad_items_are_recorded_and_good_ones_scored(bad_manifest, tmp_path):
    out = tmp_path / "out"
    report = run(RunOptions(codec="mulaw", dataset=f"manifest:path={bad_manifest}", out=str(out), progress=False))
    rec = report.records[0]
    reasons = rec["counts"]["failure_reasons"]
    assert rec["counts"]["requested"] == 10
    assert rec["counts"]["measured"] == 4  # good1, good2, stereo44k, u8
    assert rec["counts"]["failed"] == 6
    text = " | ".join(reasons)
    assert "file not found" in text
    assert "empty file (0 bytes)" in text
    assert "unreadable or corrupt" in text
    assert "NaN/Inf" in text
    assert "escapes the dataset folder" in text
    # the 10 ms item fails the validity gate: no metric and no bitrate is computed on it
    assert "too short: 10.0 ms of audio (at least 0.1 s)" in text
    pesq = rec["metrics"]["pesq_wb"]
    assert pesq["n"] == 4 and pesq["n_failed"] == 6
    assert rec["codec"]["bitrate"]["token_kbps"]["n"] == 4
    # stereo 44.1 kHz and 8-bit items are scored; the downmix is noted on the item
    import sqlite3

    with sqlite3.connect(out / "bench.sqlite") as conn:
        notes = dict(conn.execute("SELECT item_id, notes FROM codec_outputs").fetchall())
    assert "downmixed" in notes["stereo44k"]
    # running again recomputes nothing and keeps the same counts
    again = run(RunOptions(codec="mulaw", dataset=f"manifest:path={bad_manifest}", out=str(out), progress=False))
    assert again.n_computed == 0 and again.records[0]["counts"] == rec["counts"]


def test_malformed_manifest_line_is_one_line_error(tmp_path):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"path": "a.wav"}\n{"path": "b.wav",\n')
    with pytest.raises(ManifestError, match=r"m.jsonl:2: malformed JSON"):
        run(RunOptions(codec="mulaw", dataset=f"manifest:path={manifest}", out=str(tmp_path / "o"), progress=False))
    proc = subprocess.run([sys.executable, "-m", "bench", "run", "-c", "mulaw", "-d", f"manifest:path={manifest}",
                           "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "m.jsonl:2: malformed JSON" in lines[0]


def test_unknown_codec_option_is_one_line_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "bench", "run", "-c", "mulaw:bitz=4", "-d", "synthetic",
                           "--out", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown option 'bitz'" in lines[0]


def test_csv_manifest_and_missing_path_column(tmp_path):
    sf.write(tmp_path / "a.wav", make_signal("vowel", 1, seed=0, duration=1.0).wave, 16000)
    (tmp_path / "m.csv").write_text("path,text,speaker,accent\na.wav,hello there,spk1,en-gb\n")
    from bench.datasets.manifest import ManifestDataset, ManifestConfig

    items = ManifestDataset(ManifestConfig(path=str(tmp_path / "m.csv"))).items()
    assert items[0].id == "a" and items[0].text == "hello there" and items[0].attrs == {"accent": "en-gb"}
    (tmp_path / "bad.csv").write_text("file,text\na.wav,hi\n")
    with pytest.raises(ManifestError, match="bad.csv:1: CSV header must have a 'path' column"):
        ManifestDataset(ManifestConfig(path=str(tmp_path / "bad.csv"))).items()
