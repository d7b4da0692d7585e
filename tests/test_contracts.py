"""The contracts say everything (issue #17, point 1): declared hooks, one load rule, facts that
never load weights, requirements checked before a run starts, summaries checked against the
declared metrics."""

from __future__ import annotations

import numpy as np
import pytest

from bench.codecs.base import Codec
from bench.runner import RunError, RunOptions, build_codec, run
from bench.tasks.base import MetricSpec, Task, summarize_metric


def test_every_hook_is_declared_on_the_base_classes():
    for hook in ("max_align_lag", "length_slack", "variable_frame_count", "unavailable_reason"):
        assert hasattr(Codec, hook), hook
    assert Codec.max_align_lag is None and Codec.variable_frame_count is False
    assert Codec.unavailable_reason({}) is None
    assert hasattr(Task, "corpus_report") and Task().corpus_report([], 0) == {}


def test_a_codec_loads_itself_on_first_use():
    pytest.importorskip("torch")
    codec = build_codec("rvq-2q")  # no load() call
    x = np.zeros(16000, dtype=np.float32)
    x[::160] = 0.5
    tokens = codec.encode(x).tokens
    assert tokens.shape[0] == 2
    assert codec.decode(tokens).shape[0] >= 15000


def test_hf_codec_facts_do_not_load_weights(tmp_path):
    transformers = pytest.importorskip("transformers")
    # a tiny EnCodec config on disk, no weights file at all
    cfg = transformers.EncodecConfig(target_bandwidths=[1.5, 3.0], sampling_rate=24000,
                                     upsampling_ratios=[8, 5, 4, 2], codebook_size=1024)
    cfg.save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"not weights")  # found, never read by facts
    codec = build_codec(f"hf-codec:weights={tmp_path},family=encodec,num_quantizers=2")
    assert codec.sample_rate == 24000 and codec.frame_rate == 75.0
    assert codec.vocab_sizes == (1024, 1024)
    assert codec._model is None  # the weights were never loaded


class _NoLabelsTask(Task):
    name = "needs-text"
    requires = frozenset({"reference", "text"})
    metrics = (MetricSpec("x", "", True),)


def test_a_task_needing_transcripts_on_a_corpus_without_them_is_one_error(tmp_path):
    from bench.tasks import TASKS

    if "needs-text" not in [e.name for e in TASKS.entries()]:
        TASKS.register("needs-text", f"{__name__}:_NoLabelsTask")
    with pytest.raises(RunError, match="needs transcripts"):
        run(RunOptions(codec="identity", dataset="synthetic", tasks=("needs-text",), out=str(tmp_path),
                       progress=False))
    assert not (tmp_path / "bench.sqlite").exists() or not list((tmp_path).glob("results/*.json"))


class _WrongDirection(Task):
    name = "wrong-direction"
    metrics = (MetricSpec("chance", "", None, "a reference level: neither higher nor lower is better"),)

    def measure(self, item):
        from bench.tasks.base import Measurement

        return Measurement({"chance": 0.5})

    def summarize(self, rows, seed):
        spec = MetricSpec("chance", "", True)  # a bug: summarised with a direction
        return {"chance": summarize_metric(spec, rows, seed)}


def test_a_summary_that_contradicts_the_declared_metrics_is_refused(tmp_path):
    from bench.tasks import TASKS

    if "wrong-direction" not in [e.name for e in TASKS.entries()]:
        TASKS.register("wrong-direction", f"{__name__}:_WrongDirection")
    with pytest.raises(RunError, match="declared higher_is_better=None"):
        run(RunOptions(codec="identity", dataset="synthetic", limit=2, tasks=("wrong-direction",),
                       out=str(tmp_path), progress=False))
