"""The tokens task (docs/tokens.md): Kneser-Ney model, edit distances, the consistency suite on
the built-in codecs, a non-deterministic control codec that must fail it, and a small run."""

from __future__ import annotations

import functools
import json
import os

import numpy as np
import pytest

from bench.codecs import CODECS
from bench.codecs.base import MissingDependency
from bench.metrics.tokens import KneserNey, edit_distance, entropy_bits, mismatch_rate, normalized_edit_distance
from bench.testing import (CONSISTENCY_CHECKS, NonDeterministicTokens, check_chunking, check_encode_deterministic,
                           check_padding_invariant, check_tandem)

pytest.importorskip("rapidfuzz")  # the tokens extra; ./install.sh --test installs it (CI fails a skip)


def build(name: str):
    codec = CODECS.build(name, {})
    try:
        codec.load()
    except MissingDependency as exc:  # as tests/test_baselines.py: a backend extra not installed
        pytest.skip(str(exc))
    return codec


# -- Kneser-Ney ---------------------------------------------------------------------------------
@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_kneser_ney_is_a_distribution(order):
    """For every context, P(w | context) over the whole declared vocabulary sums to 1 (seen and
    unseen contexts, unseen symbols included)."""
    rng = np.random.default_rng(0)
    model = KneserNey(order, vocab_size=7).fit([rng.integers(0, 5, 60) for _ in range(8)])
    for ctx in [(), (1,), (2, 3), (0, 1, 2), (4, 4, 4), (6, 6)]:
        total = sum(2.0 ** -model.bits(np.array(ctx + (w,)))[-1] for w in range(7))
        assert total == pytest.approx(1.0, abs=1e-9), (order, ctx)


def test_kneser_ney_learns_a_markov_chain():
    """On a first-order chain whose conditional entropy is 0.469 bits, the bigram model gets near
    it and far below the unigram; higher orders add nothing."""
    rng = np.random.default_rng(1)
    T = np.array([[0.9, 0.1, 0, 0], [0, 0.1, 0.9, 0], [0, 0, 0.1, 0.9], [0.9, 0, 0, 0.1]])

    def chain(n):
        s = [0]
        for _ in range(n - 1):
            s.append(rng.choice(4, p=T[s[-1]]))
        return np.array(s)

    train, test = [chain(3000) for _ in range(4)], chain(3000)
    bits = {n: KneserNey(n, 4).fit(train).bits(test).mean() for n in (1, 2, 4)}
    h_cond = -(0.9 * np.log2(0.9) + 0.1 * np.log2(0.1))
    assert bits[1] > 1.0
    assert abs(bits[2] - h_cond) < 0.05
    assert abs(bits[4] - bits[2]) < 0.03


def test_kneser_ney_unseen_symbols_cost_finite_bits():
    model = KneserNey(3, vocab_size=2 ** 32).fit([np.array([5, 6, 7, 5, 6, 7])])
    b = model.bits(np.array([123456789, 5, 6]))
    assert np.isfinite(b).all() and b[0] > 30  # an unseen symbol: about log2(2^32) bits and more


def test_edit_distance_and_mismatch():
    a = np.arange(100)[None, :]
    shifted = np.concatenate([[0], np.arange(99)])[None, :]
    assert normalized_edit_distance(a, a) == 0.0 and mismatch_rate(a, a) == 0.0
    assert edit_distance(a[0], shifted[0]) == 2  # one insertion, one deletion
    assert mismatch_rate(a, shifted) > 0.95  # but almost every position differs
    assert normalized_edit_distance(a, np.zeros((1, 0), int)) == 1.0
    assert entropy_bits(np.array([1, 1, 1, 1])) == pytest.approx(2.0)


# -- the consistency suite ----------------------------------------------------------------------
#: built-in codecs the suite applies to, with the tolerances each meets (its promise)
TIGHT = {"identity": {}, "pcm16": {}, "mulaw-8bit": {}, "mulaw-2bit": {}}
LOOSE = ["mp3-16k", "opus-8k", "dct-q4", "codec2-1200", "rvq-1q", "rvq-8q", "dmel-80x4", "dmel-80x16", "world-3k",
         "world-8.4k"]
#: rvq's encoder sees about 18 frames (360 ms) into the zero padding of a batch
TAIL = {"rvq-1q": 20, "rvq-8q": 20}


@pytest.mark.parametrize("check", CONSISTENCY_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", list(TIGHT) + LOOSE)
def test_consistency_suite(name, check):
    codec = build(name)
    if check is check_padding_invariant:
        check(codec, tail_frames=TAIL.get(name, 0))
    else:
        check(codec)


@pytest.mark.parametrize("name", list(TIGHT))
def test_lossless_and_sample_codecs_are_exactly_stable(name):
    codec = build(name)
    check_tandem(codec, max_ned=0.0)
    check_chunking(codec, max_ned=0.0)


def test_rvq_padding_reaches_into_the_tail():
    """The padding check is not vacuous: without the tail exemption rvq-8q fails it."""
    with pytest.raises(AssertionError, match="padding inside a batch changed"):
        check_padding_invariant(build("rvq-8q"), tail_frames=0)


def test_lossy_codecs_fail_exact_tandem():
    """A tight tolerance states a promise a lossy codec does not keep."""
    with pytest.raises(AssertionError, match="tandem tokens differ"):
        check_tandem(build("codec2-1200"), max_ned=0.0)


@pytest.mark.parametrize("check", [check_encode_deterministic, check_padding_invariant,
                                   functools.partial(check_tandem, max_ned=0.0),
                                   functools.partial(check_chunking, max_ned=0.0)],
                         ids=["deterministic", "padding", "tandem", "chunking"])
def test_non_deterministic_codec_fails(check):
    with pytest.raises(AssertionError):
        check(NonDeterministicTokens())


# -- the task --------------------------------------------------------------------------------
def test_tokens_task_quick_run(tmp_path):
    """mulaw-4bit on the quick subset: entropy at most log2(vocab), the n-gram model well below
    the nominal rate, exactly stable under repeat, tandem and chunking, a 1-ms shift moving
    most positions (identity's exact stability is checked on the codec above: cheaper)."""
    from bench.runner import RunOptions, run

    records = {}
    for codec in ("mulaw-4bit",):
        report = run(RunOptions(codec=codec, tasks=("tokens",), dataset="synth-speech-quick", out=str(tmp_path),
                                progress=False))
        records[codec] = report.records[0]["metrics"]
    m = records["mulaw-4bit"]
    assert m["tokens_per_s"]["value"] == pytest.approx(16000)
    assert 1.0 < m["unigram_entropy"]["value"] <= 4.0  # at most log2(16); 2.48 measured
    assert m["ngram_kbps"]["value"] < 0.9 * m["declared_kbps"]["value"]
    assert m["ngram_kbps"]["ci_low"] <= m["ngram_kbps"]["value"] <= m["ngram_kbps"]["ci_high"]
    for codec in records:
        for cond in ("repeat", "tandem", "chunked_1s"):
            assert records[codec][f"ned_{cond}"]["value"] == 0.0, (codec, cond)
        assert records[codec]["ned_batch_padded"]["value"] is None  # not applicable: counted, with the reason
    assert m["mismatch_shift_1ms"]["value"] > 0.5
    assert m["transformer_kbps"]["failures"] == {"not run: transformer_lm=false": 48}
    saved = [f for f in os.listdir(tmp_path / "results") if "tokens" in f]
    rec = json.loads((tmp_path / "results" / saved[0]).read_text())
    assert rec["task"]["metric_sections"][0][0] == "rate and vocabulary"
    assert rec["extra"]["split"]["train_items"] == 24 and rec["extra"]["split"]["test_items"] == 24
    # the leaderboard shows the task as its declared sections, one table each; csv stays one table
    from bench.leaderboard import leaderboard

    md = leaderboard([rec], "md")
    assert [ln for ln in md.splitlines() if ln.startswith("### ")] == [
        "### tokens / rate and vocabulary (v1)", "### tokens / language-model cost (v1)",
        "### tokens / stability: edit distance (v1)", "### tokens / stability: mismatch rate (v1)"]
    assert "ngram_kbps" in leaderboard([rec], "csv").splitlines()[0]
    assert 'id="task-tokens-stability-edit-distance"' in leaderboard([rec], "html")


def test_transformer_lm_learns_a_markov_chain():
    """The tiny transformer recipe (shortened here) gets well below the chain's unigram entropy
    (about 1.9 bits) towards its conditional entropy (0.47 bits)."""
    pytest.importorskip("torch")
    from bench.metrics.token_lm import transformer_bits

    rng = np.random.default_rng(2)
    T = np.array([[0.9, 0.1, 0, 0], [0, 0.1, 0.9, 0], [0, 0, 0.1, 0.9], [0.9, 0, 0, 0.1]])

    def chain(n):
        s = [0]
        for _ in range(n - 1):
            s.append(rng.choice(4, p=T[s[-1]]))
        return np.array(s)[None, :]

    res = transformer_bits([chain(600) for _ in range(6)], [chain(600)], [4], seed=0, recipe={"steps": 80})
    assert res["bits"][0] / 600 < 1.0
    assert transformer_bits([np.zeros((1, 10), int)], [np.zeros((1, 10), int)], [65536], 0).startswith("vocabulary too large")
