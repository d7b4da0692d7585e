"""bench export-listening: the folder layout, the anchors, reproducible items, A/B pairs."""

import csv
import json
import os

import numpy as np
import pytest
import soundfile as sf
import yaml

from bench.cli import main
from bench.listening import lowpass


@pytest.fixture(scope="module")
def mushra(tmp_path_factory):
    out = tmp_path_factory.mktemp("x") / "study"
    assert main(["export-listening", "--format", "mushra", "-c", "mulaw-4bit", "-c", "mp3-16k", "--items", "2",
                 "--out", str(out)]) == 0
    return out


def test_mushra_layout_and_config(mushra):
    manifest = json.loads((mushra / "listening.json").read_text())
    names = [c["name"] for c in manifest["conditions"]]
    assert names == ["reference", "anchor-lp35", "anchor-opus-6k", "mulaw-4bit", "mp3-16k"]
    assert len(manifest["items"]) == 2 and not manifest["failed"]
    for it in manifest["items"]:
        folder = mushra / "audio" / it["id"]
        assert sorted(os.listdir(folder)) == sorted(f"{n}.wav" for n in names)
        infos = [sf.info(str(folder / f"{n}.wav")) for n in names]
        assert {(i.samplerate, i.subtype, i.channels) for i in infos} == {(48000, "PCM_16", 1)}
        assert len({i.frames for i in infos}) == 1  # every condition as long as the reference
    config = yaml.safe_load((mushra / "config.yaml").read_text())
    assert config["testId"] == "study" and config["pages"][-1]["type"] == "finish"
    group = config["pages"][0]
    assert group[0] == "random" and [p["type"] for p in group[1:]] == ["mushra", "mushra"]
    page = group[1]
    # webMUSHRA adds the hidden reference itself: it must not be a stimulus as well
    assert set(page["stimuli"]) == {"anchor-lp35", "anchor-opus-6k", "mulaw-4bit", "mp3-16k"}
    assert page["reference"].startswith("configs/study/audio/") and page["createAnchor35"] is False
    for path in [page["reference"], *page["stimuli"].values()]:
        assert (mushra / path.removeprefix("configs/study/")).is_file()


def test_anchor_is_a_low_pass_of_the_reference(mushra):
    it = json.loads((mushra / "listening.json").read_text())["items"][0]
    ref, sr = sf.read(str(mushra / it["files"]["reference"]))
    lp, _ = sf.read(str(mushra / it["files"]["anchor-lp35"]))
    spec = lambda x: np.abs(np.fft.rfft(x)) ** 2  # noqa: E731
    f = np.fft.rfftfreq(len(ref), 1 / sr)
    high = (f > 4500) & (f < 8000)
    assert spec(lp)[high].sum() < 1e-3 * spec(ref)[high].sum()
    low = f < 3000
    assert spec(lp)[low].sum() == pytest.approx(spec(ref)[low].sum(), rel=0.05)
    tone = np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000).astype(np.float32)
    assert np.abs(lowpass(tone, 16000)[2000:-2000] - tone[2000:-2000]).max() < 0.02  # no delay in the pass band


def test_same_seed_same_items_and_ab_pairs(tmp_path, mushra):
    out = tmp_path / "ab"
    assert main(["export-listening", "--format", "ab", "-c", "mulaw-4bit", "-c", "mp3-16k", "-c", "mulaw-8bit",
                 "--items", "2", "--out", str(out)]) == 0
    manifest = json.loads((out / "listening.json").read_text())
    first = json.loads((mushra / "listening.json").read_text())
    assert [i["id"] for i in manifest["items"]] == [i["id"] for i in first["items"]]
    assert not (out / "config.yaml").exists()
    rows = list(csv.DictReader((out / "pairs.csv").open()))
    assert len(rows) == 2 * 3 and rows == [{k: str(v) for k, v in p.items()} for p in manifest["pairs"]]
    assert {frozenset((r["a"], r["b"])) for r in rows} == {frozenset(p) for p in
                                                          [("mulaw-4bit", "mp3-16k"), ("mulaw-4bit", "mulaw-8bit"),
                                                           ("mp3-16k", "mulaw-8bit")]}
    assert all((out / r["a_file"]).is_file() and (out / r["b_file"]).is_file() for r in rows)
    assert not any(name.startswith("anchor") for name in os.listdir(out / "audio" / rows[0]["item"]))


def test_bad_codec_is_one_line(tmp_path, capsys):
    assert main(["export-listening", "-c", "nosuch", "--items", "1", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown codec 'nosuch'" in err[0]
