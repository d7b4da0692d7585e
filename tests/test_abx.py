"""The minimal-pairs set and the abx task: triple design, token pooling, the ceiling and controls."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from bench.metrics.abx import form_triples
from bench.tasks.abx import Abx, token_cells
from bench.tasks.base import Failed, ItemContext, Row

SPEAKERS = {"m2": "male", "m3": "male", "f1": "female", "f4": "female"}


def _design(words=("tomato", "water", "dance")) -> list[dict]:
    return [{"word": w, "accent": a, "pitch_class": p, "speaker": s, "gender": SPEAKERS[s]}
            for w, a, p, s in itertools.product(words, ("en-us", "en-gb"), ("low", "high"), SPEAKERS)]


@pytest.mark.parametrize("target,other,same_gender,per_word", [
    # 16 A per word, one B each; X: 3 other speakers x 2 classes, or 1 same-gender speaker x 2
    ("accent", "pitch_class", False, 16 * 6),
    ("pitch_class", "accent", True, 16 * 2),
])
def test_triples_follow_the_design(target, other, same_gender, per_word):
    labels = _design()
    triples = form_triples(labels, target, same_gender_x=same_gender)
    assert len(triples) == 3 * per_word
    assert len(set(triples)) == len(triples)
    for t in triples:
        a, b, x = labels[t.a], labels[t.b], labels[t.x]
        assert len({t.a, t.b, t.x}) == 3 and a["word"] == b["word"] == x["word"] == t.group
        assert a["speaker"] == b["speaker"] and a[other] == b[other] and a[target] != b[target]
        assert x[target] == a[target] and x["speaker"] != a["speaker"]  # X differs in context
        assert (x["gender"] == a["gender"]) or not same_gender
    # every item serves as X, and both values of the other factor appear in X
    assert {t.x for t in triples} == set(range(len(labels)))
    assert {labels[t.x][other] for t in triples} == {labels[0][other], labels[-1][other]}


def test_items_missing_a_label_join_no_triple():
    labels = _design(("tomato",))
    labels[0] = {k: v for k, v in labels[0].items() if k != "speaker"}
    triples = form_triples(labels, "accent")
    assert all(0 not in (t.a, t.b, t.x) for t in triples) and triples
    assert form_triples([{k: v for k, v in lab.items() if k != "gender"} for lab in labels],
                        "pitch_class", same_gender_x=True) == []


def test_token_cells_pool_to_a_common_rate():
    # sample-level tokens (16,000 per second): 10-ms cells of 160 tokens
    pcm = np.arange(16_000, dtype=np.int64)[None, :] % 256
    c = token_cells(pcm, 1.0, 4096, 0.01)
    assert c["hop"] == pytest.approx(0.01) and len(c["p"]) - 1 == 100
    assert int(c["v"].astype(int).sum()) == 16_000
    # 3 streams at 50 Hz: 20-ms cells of one token per stream
    rvq = np.random.default_rng(0).integers(0, 1024, size=(3, 50))
    c = token_cells(rvq, 1.0, 4096, 0.01)
    assert c["hop"] == pytest.approx(0.02) and len(c["p"]) - 1 == 50
    assert np.all(np.diff(c["p"].astype(int)) <= 3) and int(c["v"].astype(int).sum()) == 150
    assert isinstance(token_cells(rvq[:, :1], 0.02, 4096, 0.01), Failed)


def _rows(task: Abx, token_fn) -> list[Row]:
    """Rows measured on noise audio with tokens from ``token_fn(labels)`` (no dataset needed)."""
    rng = np.random.default_rng(0)
    rows = []
    for n, lab in enumerate(_design()):
        wave = (0.1 * rng.standard_normal(4000)).astype(np.float32)
        ctx = ItemContext(item_id=f"i{n:03d}", reference=wave, reconstruction=wave,
                          tokens=token_fn(lab), labels=lab)
        m = task.measure(ctx)
        rows.append(Row(ctx.item_id, lab, m.values, m.extras))
    return rows


@pytest.mark.slow  # the first DTW in a process compiles librosa's kernel (numba): about 8 s
def test_tokens_that_carry_the_accent_score_one_and_the_rest_ties():
    """A codec that writes the accent into its tokens: accent ABX 1.0; pitch (not written) 0.5."""
    task = Abx()
    rows = _rows(task, lambda lab: np.full((2, 25), 1 if lab["accent"] == "en-us" else 2, dtype=np.int64))
    out = task.summarize(rows, seed=0)
    assert out["accent_abx_tokens"].value == 1.0
    assert out["pitch_abx_tokens"].value == 0.5  # every triple a tie
    assert out["abx_chance"].value == 0.5 and out["abx_chance"].higher_is_better is None
    assert out["accent_abx_tokens"].n == len(rows) and out["accent_abx_tokens"].n_failed == 0


def test_missing_labels_fail_with_a_reason_not_a_score():
    task = Abx()
    rows = [Row(r.item_id, {k: v for k, v in r.labels.items() if k != "word"}, r.values, r.extras)
            for r in _rows(task, lambda lab: np.zeros((1, 25), dtype=np.int64))]
    out = task.summarize(rows, seed=0)
    for m in ("accent_abx_tokens", "pitch_abx_audio"):
        assert out[m].value is None and out[m].n_failed == len(rows)
        assert any("'word'" in reason for reason in out[m].failures), out[m].failures


def test_shipped_set_is_complete_and_every_word_differs_between_accents():
    from bench.datasets import DATASETS

    ds = DATASETS.build("minimal-pairs")
    items = ds.items()
    assert len(items) == 448 and not [it for it in items if it.error]  # SHA256SUMS verified
    cells = {(it.attrs["word"], it.attrs["accent"], it.attrs["pitch_class"], it.speaker) for it in items}
    assert len(cells) == 448
    ipa: dict[str, dict[str, set]] = {}
    for it in items:
        ipa.setdefault(it.attrs["word"], {}).setdefault(it.attrs["accent"], set()).add(it.attrs["ipa"])
    assert len(ipa) == 28
    for word, by_accent in ipa.items():
        assert all(len(v) == 1 for v in by_accent.values()), word  # one pronunciation per accent
        assert by_accent["en-us"] != by_accent["en-gb"], word
    recipe = ds.recipe()
    assert recipe["phonemes"]["tomato"]["en-gb"]["ipa"] == "təmˈɑːtəʊ"
    # pitch classes are separated within every voice
    for spk in SPEAKERS:
        lows = [it.attrs["f0_median"] for it in items if it.speaker == spk and it.attrs["pitch_class"] == "low"]
        highs = [it.attrs["f0_median"] for it in items if it.speaker == spk and it.attrs["pitch_class"] == "high"]
        assert np.median(highs) > 1.5 * np.median(lows), spk


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory):
    """identity and the input-blind control through the runner on the 64-item quick subset."""
    pytest.importorskip("parselmouth")
    from bench.codecs import CODECS
    from bench.runner import RunOptions, run

    if "control-random-input" not in CODECS:
        CODECS.register("control-random-input", "bench.testing.control:RandomTokens",
                        defaults={"seed_from_input": True})
    out = str(tmp_path_factory.mktemp("abx"))
    records = {}
    for codec in ("identity", "control-random-input"):
        report = run(RunOptions(codec=codec, dataset="minimal-pairs-quick", tasks=("abx",), out=out,
                                progress=False))
        records[codec] = report.records[0]
    return records


@pytest.mark.slow
def test_identity_reaches_the_audio_ceiling(quick_runs):
    m = quick_runs["identity"]["metrics"]
    assert m["accent_abx_audio"]["value"] >= 0.9, m["accent_abx_audio"]
    assert m["pitch_abx_audio"]["value"] >= 0.95, m["pitch_abx_audio"]
    assert m["accent_abx_audio"]["ci_low"] > 0.6
    extra = quick_runs["identity"]["extra"]
    assert extra["chance"] == 0.5
    # 4 words: 16 A x 6 X (accent), 16 A x 2 X (pitch) per word
    assert extra["accent_abx_audio"]["n_triples"] == 4 * 96 and extra["pitch_abx_audio"]["n_triples"] == 4 * 32


@pytest.mark.slow
def test_input_blind_codec_stays_at_chance(quick_runs):
    m = quick_runs["control-random-input"]["metrics"]
    for name in ("accent_abx_tokens", "pitch_abx_tokens"):
        assert abs(m[name]["value"] - 0.5) <= 0.1, (name, m[name])
        assert m[name]["ci_low"] <= 0.55, (name, m[name])
    # it decodes to silence: every audio distance is equal, every triple a tie
    assert m["accent_abx_audio"]["value"] == 0.5 and m["pitch_abx_audio"]["value"] == 0.5
    assert json.dumps(m)  # the record is plain JSON


def test_docs_tables_are_generated_from_the_records_and_the_recipe():
    import importlib.util
    import os

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = importlib.util.spec_from_file_location("abx_doc_table", os.path.join(root, "results", "abx_doc_table.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    with open(mod.DOC, encoding="utf-8") as fh:
        doc = fh.read()
    assert mod.regenerate(doc) == doc, "docs/abx.md is out of date: run python results/abx_doc_table.py"
    assert "| tomato | təmˈeɪɾoʊ | təmˈɑːtəʊ |" in doc and "| identity | minimal-pairs |" in doc


def test_plan_reproduces_the_manifest_and_the_cli_reads_the_set(capsys):
    from bench.cli import main
    from bench.datasets.minimal_pairs import default_root
    from recipes.minimal_pairs.build import plan

    with open(f"{default_root()}/manifest.jsonl", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    planned = {p.id: p for p in plan()}
    assert set(planned) == {r["id"] for r in rows}
    for r in rows:
        p = planned[r["id"]]
        assert (p.word, p.text, p.speaker, p.accent, p.pitch_class, p.voice, p.espeak_pitch, p.quick) == (
            r["word"], r["text"], r["speaker"], r["accent"], r["pitch_class"], r["voice"], r["espeak_pitch"],
            r["quick"])
    assert main(["data", "verify", "minimal-pairs"]) == 0
    assert "448 of 448 files match" in capsys.readouterr().out
    assert main(["data", "info", "minimal-pairs"]) == 0
    assert "təmˈeɪɾoʊ" in capsys.readouterr().out


@pytest.mark.slow
def test_rebuild_reproduces_frozen_samples_and_phonemes():
    """A few items regenerated with espeak-ng match the frozen samples; the phoneme check holds."""
    import shutil

    import soundfile as sf

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (install.sh installs it)")
    pytest.importorskip("soxr")
    from bench.datasets import DATASETS
    from bench.datasets.minimal_pairs import default_root
    from recipes.minimal_pairs.build import plan, word_phonemes
    from recipes.synth_speech.build import postprocess, synthesize

    recipe = DATASETS.build("minimal-pairs").recipe()
    assert word_phonemes(recipe) == recipe["phonemes"]  # every word still differs in IPA
    for p in [p for p in plan(recipe) if p.id.startswith(("tomato_en-gb_high_f4", "water_en-us_low_m3"))]:
        raw, sr = synthesize(p, recipe)
        pcm = postprocess(raw, sr, recipe)
        frozen, _ = sf.read(f"{default_root()}/{p.path}", dtype="int16")
        assert np.array_equal(pcm, frozen), p.id
