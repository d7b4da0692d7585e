import pytest
"""The CI regression gate: a small run compared with the committed baseline.

The baseline (results/baseline-ci.json) is golden data, rewritten only on purpose:
    BENCH_UPDATE_BASELINE=1 python -m pytest tests/test_regression_gate.py
"""

import json
import os

from bench.leaderboard import check, make_baseline
from bench.runner import RunOptions, run

from conftest import REPO

BASELINE = os.path.join(REPO, "results", "baseline-ci.json")
CODECS = ("identity", "mulaw-8bit", "mulaw-4bit", "mp3-16k", "opus-8k", "codec2-1200", "dct-q4")
TOLERANCES = {"default": {"abs": 0.0, "rel": 0.02}, "si_sdr": {"abs": 0.5, "rel": 0.02},
              "mcd": {"abs": 0.1, "rel": 0.03}, "mel_l1": {"abs": 0.01, "rel": 0.02}}


@pytest.mark.slow
def test_no_regression_against_committed_baseline(tmp_path):
    records = []
    for codec in CODECS:
        report = run(RunOptions(codec=codec, dataset="synth-speech-quick", limit=12, seed=0,
                                out=str(tmp_path), progress=False))
        records.extend(report.records)
    if os.environ.get("BENCH_UPDATE_BASELINE") == "1":
        with open(BASELINE, "w", encoding="utf-8") as fh:
            json.dump(make_baseline(records, TOLERANCES), fh, indent=2, sort_keys=True)
            fh.write("\n")
    with open(BASELINE, encoding="utf-8") as fh:
        baseline = json.load(fh)
    ok, lines = check(records, baseline)
    assert ok, "\n".join(lines)
    assert len(baseline["entries"]) == len(CODECS)
