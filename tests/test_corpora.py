"""Real-corpus loaders on tiny fixtures written in each corpus's own layout, with bad input."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import soundfile as sf

from bench.datasets import DATASETS
from bench.datasets.base import dataset_hash
from bench.datasets.corpora import CorpusError


def write_tone(path, sr=16000, seconds=1.0, channels=1, freq=220.0, fmt=None, subtype=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    t = np.arange(int(sr * seconds)) / sr
    x = 0.3 * np.sin(2 * np.pi * freq * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    data = np.stack([x] * channels, axis=1) if channels > 1 else x
    sf.write(path, data.astype(np.float32), sr, format=fmt, subtype=subtype)


def by_id(items):
    return {it.id: it for it in items}


def build(name, **options):
    return DATASETS.build(name, {k: str(v) for k, v in options.items()})


# --- LibriSpeech -------------------------------------------------------------------------------


@pytest.fixture()
def librispeech(tmp_path):
    top = tmp_path / "LibriSpeech"
    root = top / "test-clean"
    (top).mkdir()
    (top / "SPEAKERS.TXT").write_text(
        "; ID  |SEX| SUBSET           |MINUTES| NAME\n19   | F | test-clean       | 25.19 | Kara Shallenberg\n"
        "26   | M | test-clean       | 25.08 | Denny Sayers\n")
    chap = root / "19" / "198"
    write_tone(str(chap / "19-198-0000.flac"))
    write_tone(str(chap / "19-198-0001.flac"), freq=330)
    write_tone(str(chap / "19-198-0002.flac"))
    write_tone(str(chap / "19-198-0004.flac"), sr=8000)
    write_tone(str(chap / "19-198-0005.flac"), channels=2)
    (chap / "19-198-0006.flac").write_bytes(b"not a flac file at all" * 10)
    (chap / "19-198-0007.flac").write_bytes(b"")
    write_tone(str(tmp_path / "outside.flac"))
    (chap / "19-198.trans.txt").write_text(
        "19-198-0000 NORTHANGER ABBEY\n"
        "19-198-0001 THIS LITTLE WORK WAS FINISHED\n"
        "19-198-0002\n"                      # empty transcript
        "19-198-0003 A MISSING FILE\n"       # no audio
        "19-198-0004 WRONG SAMPLE RATE\n"
        "19-198-0005 A STEREO FILE\n"
        "19-198-0006 CORRUPT BYTES\n"
        "19-198-0007 ZERO BYTES\n"
        "19-198-0000 THE SAME ID AGAIN\n"    # duplicate id
        "../../../outside AN ESCAPING ID\n")
    write_tone(str(root / "26" / "495" / "26-495-0000.flac"), freq=180)
    (root / "26" / "495" / "26-495.trans.txt").write_text("26-495-0000 ANOTHER SPEAKER\n")
    return root


def test_librispeech_layout_and_bad_input(librispeech):
    ds = build("librispeech", root=librispeech)
    items = by_id(ds.items())
    ok = {k for k, it in items.items() if it.error is None}
    assert ok == {"19-198-0000", "19-198-0001", "26-495-0000"}
    it = items["19-198-0001"]
    assert it.text == "THIS LITTLE WORK WAS FINISHED" and it.speaker == "19"
    assert it.attrs["gender"] == "female" and it.attrs["chapter"] == "198"
    assert items["26-495-0000"].attrs["gender"] == "male"
    assert it.load().sample_rate == 16000
    errors = {k: it.error for k, it in items.items() if it.error}
    assert errors["19-198-0002"] == "empty transcript"
    assert "missing" in errors["19-198-0003"]
    assert "8000 Hz, expected 16000" in errors["19-198-0004"]
    assert "2 channels" in errors["19-198-0005"]
    assert "unreadable" in errors["19-198-0006"]
    assert "0 bytes" in errors["19-198-0007"]
    assert "duplicate" in errors["19-198-0000#dup1"]
    assert "escapes" in errors["../../../outside"]
    assert len(items) == 11
    # Accepting other rates and downmixing are options.
    relaxed = by_id(build("librispeech", root=librispeech, sample_rate=0, allow_stereo=True).items())
    assert relaxed["19-198-0004"].error is None and relaxed["19-198-0005"].error is None
    assert ds.describe()["n_item_errors"] == 8


def test_librispeech_runs_and_records_content_hash(librispeech, tmp_path):
    from bench.runner import RunOptions, run

    report = run(RunOptions(codec="identity", dataset=f"librispeech:root={librispeech}", out=str(tmp_path / "out"),
                            progress=False))
    record = report.records[0]
    counts = record["counts"]
    assert counts["requested"] == 11 and counts["measured"] == 3 and counts["failed"] == 8
    assert any("escapes" in reason for reason in counts["failure_reasons"])
    ds = build("librispeech", root=librispeech)
    assert record["dataset"]["content_hash"] == dataset_hash([it.content_hash() for it in ds.items()])
    assert record["dataset"]["corpus"] == "librispeech"


def test_librispeech_not_a_corpus(tmp_path):
    with pytest.raises(CorpusError, match="trans.txt"):
        build("librispeech", root=tmp_path).items()
    with pytest.raises(CorpusError, match="not found"):
        build("librispeech", root=tmp_path / "nope").items()


# --- VCTK --------------------------------------------------------------------------------------


def test_vctk_092_layout(tmp_path):
    root = tmp_path / "VCTK-Corpus-0.92"
    root.mkdir()
    (root / "speaker-info.txt").write_text(
        "ID  AGE  GENDER  ACCENTS  REGION COMMENTS \n"
        "p225  23  F    English    Southern  England\n"
        "p226  22  M    English    Surrey\n"
        "p315  28  M    American    Connecticut  (mic2 files unavailable)\n")
    wav = root / "wav48_silence_trimmed"
    for utt, sr in (("p225_001", 48000), ("p225_002", 48000), ("p226_001", 16000)):
        write_tone(str(wav / utt[:4] / f"{utt}_mic1.flac"), sr=sr)
        write_tone(str(wav / utt[:4] / f"{utt}_mic2.flac"), sr=sr, freq=300)
    write_tone(str(wav / "p315" / "p315_001_mic1.flac"), sr=48000)
    (root / "txt" / "p225").mkdir(parents=True)
    (root / "txt" / "p226").mkdir(parents=True)
    (root / "txt" / "p225" / "p225_001.txt").write_text("Please call Stella.\n")
    (root / "txt" / "p225" / "p225_002.txt").write_text("  \n")
    (root / "txt" / "p225" / "p225_003.txt").write_text("Ask her to bring these things.\n")
    (root / "txt" / "p226" / "p226_001.txt").write_text("Please call Stella.\n")

    items = by_id(build("vctk", root=root).items())
    assert set(items) == {"p225_001", "p225_002", "p225_003", "p226_001", "p315_001"}
    good = items["p225_001"]
    assert good.error is None and good.text == "Please call Stella." and good.speaker == "p225"
    assert good.attrs["accent"] == "English" and good.attrs["gender"] == "female" and good.attrs["age"] == 23
    assert good.path.endswith("p225_001_mic1.flac")
    assert items["p225_002"].error == "empty transcript"
    assert "missing" in items["p225_003"].error
    assert "16000 Hz, expected 48000" in items["p226_001"].error
    assert "no transcript" in items["p315_001"].error
    assert items["p315_001"].attrs["accent"] == "American"
    mic2 = by_id(build("vctk", root=root, mic="mic2").items())
    assert mic2["p225_001"].path.endswith("_mic2.flac")
    lax = by_id(build("vctk", root=root, require_text=False).items())
    assert lax["p315_001"].error is None and lax["p315_001"].text is None


def test_vctk_080_layout(tmp_path):
    root = tmp_path / "VCTK-Corpus"
    root.mkdir()
    (root / "speaker-info.txt").write_text(
        "ID  AGE  GENDER  ACCENTS  REGION\n225  23  F    English    Southern  England\n"
        "237  22  M    Scottish    Fife\n")
    write_tone(str(root / "wav48" / "p237" / "p237_001.wav"), sr=48000)
    (root / "txt" / "p237").mkdir(parents=True)
    (root / "txt" / "p237" / "p237_001.txt").write_text("Six spoons of fresh snow peas.\n")
    items = build("vctk", root=root).items()
    assert len(items) == 1 and items[0].error is None
    assert items[0].attrs["accent"] == "Scottish" and items[0].attrs["region"] == "Fife"
    assert items[0].load().sample_rate == 48000


# --- Common Voice ------------------------------------------------------------------------------


def test_common_voice_tsv(tmp_path):
    root = tmp_path / "cv-corpus" / "en"
    clips = root / "clips"
    write_tone(str(clips / "common_voice_en_1.mp3"), sr=48000, fmt="MP3", subtype="MPEG_LAYER_III")
    write_tone(str(clips / "common_voice_en_2.mp3"), sr=48000, fmt="MP3", subtype="MPEG_LAYER_III", freq=300)
    write_tone(str(clips / "common_voice_en_5.mp3"), sr=48000, fmt="MP3", subtype="MPEG_LAYER_III", freq=300)
    write_tone(str(tmp_path / "cv-corpus" / "outside.mp3"), sr=48000, fmt="MP3", subtype="MPEG_LAYER_III")
    header = "client_id\tpath\tsentence_id\tsentence\tup_votes\tdown_votes\tage\tgender\taccents\tvariant\tlocale\tsegment\n"
    rows = [
        "abc\tcommon_voice_en_1.mp3\tx1\tThe \"quoted\" word stays.\t2\t0\ttwenties\tmale_masculine\tUnited States English\t\ten\t",
        "def\tcommon_voice_en_2.mp3\tx2\tA second clip.\t2\t0\t\tfemale_feminine\tScottish English\t\ten\t",
        "abc\tcommon_voice_en_3.mp3\tx3\tThis clip is missing.\t2\t0\t\t\t\t\ten\t",
        "ghi\t../../outside.mp3\tx4\tEscaping the root.\t2\t0\t\t\t\t\ten\t",
        "ghi\tcommon_voice_en_5.mp3\tx5\t\t2\t0\t\t\t\t\ten\t",
        "abc\tcommon_voice_en_1.mp3\tx1\tThe same clip twice.\t2\t0\t\t\t\t\ten\t",
    ]
    (root / "test.tsv").write_text(header + "\n".join(rows) + "\n")
    items = by_id(build("common-voice", root=root).items())
    first = items["common_voice_en_1"]
    assert first.error is None, first.error
    assert first.text == 'The "quoted" word stays.' and first.speaker == "abc"
    assert first.attrs["accent"] == "United States English" and first.attrs["gender"] == "male"
    assert first.load().sample_rate == 48000
    assert items["common_voice_en_2"].attrs["accent"] == "Scottish English"
    assert "missing" in items["common_voice_en_3"].error
    assert "escapes" in items["../../outside"].error
    assert items["common_voice_en_5"].error == "empty transcript"
    assert "duplicate" in items["common_voice_en_1#dup1"].error
    # Older releases name the column "accent"; another TSV is chosen with tsv=.
    (root / "dev.tsv").write_text("client_id\tpath\tsentence\taccent\nzz\tcommon_voice_en_2.mp3\tHello there.\tengland\n")
    dev = build("common-voice", root=root, tsv="dev.tsv").items()
    assert dev[0].attrs["accent"] == "england" and dev[0].error is None
    (root / "bad.tsv").write_text("client_id\tfile\ttext\nzz\ta.mp3\thi\n")
    with pytest.raises(CorpusError, match="missing column"):
        build("common-voice", root=root, tsv="bad.tsv").items()


# --- Lhotse ------------------------------------------------------------------------------------


def test_lhotse_missing_is_a_clear_error(monkeypatch, tmp_path):
    from bench.codecs.base import MissingDependency

    monkeypatch.setitem(sys.modules, "lhotse", None)
    with pytest.raises(MissingDependency, match="pip install lhotse"):
        build("lhotse", recordings=tmp_path / "r.jsonl", supervisions=tmp_path / "s.jsonl").items()


def test_lhotse_recordings_supervisions_and_cuts(tmp_path):
    lhotse = pytest.importorskip("lhotse")
    from lhotse import CutSet, Recording, RecordingSet, SupervisionSegment, SupervisionSet

    audio = tmp_path / "audio"
    write_tone(str(audio / "a.wav"), seconds=1.0)
    write_tone(str(audio / "b.wav"), seconds=2.0, freq=330)
    write_tone(str(audio / "gone.wav"))
    write_tone(str(audio / "rate.wav"))
    recs = [Recording.from_file(str(audio / f"{n}.wav"), recording_id=n) for n in ("a", "b", "gone", "rate")]
    os.remove(audio / "gone.wav")
    write_tone(str(audio / "rate.wav"), sr=8000)  # the file no longer has the manifest's rate
    sups = [
        SupervisionSegment("a-all", "a", 0.0, 1.0, text="whole file", speaker="spk1", language="English",
                           custom={"accent": "scottish"}),
        SupervisionSegment("b-mid", "b", 0.5, 1.0, text="a segment", speaker="spk2", gender="F"),
        SupervisionSegment("b-empty", "b", 0.0, 0.5, text="", speaker="spk2"),
        SupervisionSegment("x-orphan", "nope", 0.0, 1.0, text="no such recording"),
        SupervisionSegment("gone-1", "gone", 0.0, 1.0, text="file deleted"),
        SupervisionSegment("rate-1", "rate", 0.0, 1.0, text="wrong rate"),
    ]
    rpath, spath = tmp_path / "recordings.jsonl.gz", tmp_path / "supervisions.jsonl.gz"
    RecordingSet.from_recordings(recs).to_file(str(rpath))
    SupervisionSet.from_segments(sups).to_file(str(spath))
    items = by_id(build("lhotse", recordings=rpath, supervisions=spath).items())
    assert items["a-all"].error is None and items["a-all"].generator is None  # whole file: plain path
    assert items["a-all"].attrs["accent"] == "scottish" and items["a-all"].speaker == "spk1"
    seg = items["b-mid"]
    assert seg.error is None and seg.attrs["gender"] == "female"
    audio_b = seg.load()
    assert audio_b.sample_rate == 16000 and len(audio_b.wave) == 16000
    full_b, _ = sf.read(str(audio / "b.wav"), dtype="float32")
    assert np.allclose(audio_b.wave, full_b[8000:24000])
    assert items["b-empty"].error == "empty transcript"
    assert "not found in the recordings manifest" in items["x-orphan"].error
    assert "missing" in items["gone-1"].error
    assert "8000" in items["rate-1"].error
    assert len(seg.content_hash()) == 64

    cuts = CutSet.from_manifests(recordings=RecordingSet.from_recordings(recs[:2]),
                                 supervisions=SupervisionSet.from_segments(sups[:2])).trim_to_supervisions()
    cpath = tmp_path / "cuts.jsonl.gz"
    cuts.to_file(str(cpath))
    citems = build("lhotse", cuts=cpath).items()
    assert len(citems) == 2 and not any(it.error for it in citems)
    texts = sorted(it.text for it in citems)
    assert texts == ["a segment", "whole file"]
    seg_cut = next(it for it in citems if it.text == "a segment")
    assert np.allclose(seg_cut.load().wave, full_b[8000:24000])
    # confine=true with root elsewhere: every path escapes
    other = tmp_path / "elsewhere"
    other.mkdir()
    conf = build("lhotse", recordings=rpath, supervisions=spath, root=other, confine=True).items()
    assert all(it.error for it in conf)
    del lhotse


def test_realspeech_through_the_manifest_dataset():
    """The shared natural-speech folder (LJ Speech 22.05 kHz, FSDD 8 kHz) loads with no item errors."""
    from pathlib import Path

    from bench.datasets.corpora import finish_items

    manifest = Path(__file__).resolve().parents[2] / "shared" / "realspeech" / "manifest.jsonl"
    if not manifest.is_file():
        pytest.skip("../shared/realspeech is absent")
    items = finish_items(build("manifest", path=manifest).items())  # any rate, mono, non-empty text
    assert items and not [it.error for it in items if it.error]
    assert {it.load().sample_rate for it in items} >= {8000, 22050}
