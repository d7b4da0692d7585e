"""The CI recipe of docs/ci.md: the workflow's own bench commands, on a planted regression.

The commands are read from the YAML block of docs/ci.md (and the baseline command from its shell
block, which names the codec repository's own codec, so tests/test_docs.py cannot build it), so the page and this test cannot drift apart. The codec is a stand-in for "your codec":
8-bit mu-law whose code has a bug when DEMO_CODEC_BUG is set (same name, config and version, so
the gate compares numbers, as it would for a code change in a pull request).
"""

import os
import re
import shlex

import numpy as np
import pytest
import yaml

from bench.cli import main
from bench.codecs import CODECS
from bench.codecs.base import EncodeResult
from bench.codecs.mulaw import MuLaw

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(REPO, "docs", "ci.md")


class DemoCodec(MuLaw):
    """mu-law; with DEMO_CODEC_BUG=1 its encoder drops the 5 low bits of every token."""

    def encode(self, wave: np.ndarray) -> EncodeResult:
        result = super().encode(wave)
        if os.environ.get("DEMO_CODEC_BUG"):
            return EncodeResult(tokens=(result.tokens >> 5) << 5)
        return result


def _workflow_commands() -> tuple[dict, list[str], str]:
    text = open(DOC, encoding="utf-8").read()
    workflow = yaml.safe_load(re.search(r"```yaml\n(.*?)```", text, re.S).group(1))
    steps = workflow["jobs"]["bench"]["steps"]
    commands = [s["run"].strip() for s in steps if str(s.get("run", "")).startswith("bench ")]
    baseline = next(line for block in re.findall(r"```shell\n(.*?)```", text, re.S)
                    for line in block.splitlines() if line.startswith("bench check") and "--write" in line)
    return workflow["env"], commands, baseline


def _bench(command: str, env: dict[str, str]) -> int:
    for name, value in env.items():
        command = command.replace(f"${name}", value)
    argv = shlex.split(command)
    assert argv[0] == "bench"
    return main(argv[1:])


def test_the_workflow_names_a_run_then_the_gate():
    env, commands, baseline = _workflow_commands()
    assert set(env) >= {"CODEC", "DATASET", "LIMIT"}
    assert [c.split()[1] for c in commands] == ["run", "check"]
    assert "--seed" in commands[0] and "--summary" in commands[1]
    assert baseline.split()[2] == commands[1].split()[2] == "--baseline"


@pytest.mark.slow
def test_the_recipe_catches_a_planted_regression(tmp_path, monkeypatch):
    CODECS.register("demo-ci", f"{__name__}:DemoCodec", overwrite=True)
    monkeypatch.delenv("DEMO_CODEC_BUG", raising=False)
    monkeypatch.chdir(tmp_path)
    os.makedirs("bench")
    env, (run_cmd, check_cmd), baseline_cmd = _workflow_commands()
    env = {"CODEC": "demo-ci", "DATASET": "synthetic", "LIMIT": "3"}  # the test's stand-ins
    summary = "bench-summary.md"

    # the trusted run and its baseline
    assert _bench(run_cmd, env) == 0
    baseline_cmd = baseline_cmd.replace("mycodec", "$CODEC").replace("synth-speech-test", "$DATASET")
    baseline_cmd = baseline_cmd.replace("--limit 20", "--limit $LIMIT")
    assert _bench(baseline_cmd, env) == 0
    assert os.path.isfile("bench/baseline.json")
    # a pull request that changes nothing passes, and says so
    assert _bench(check_cmd, env) == 0
    text = open(summary, encoding="utf-8").read()
    assert "PASS" in text and "Nothing moved beyond its tolerance" in text

    # a pull request with a bug in the encoder, on a fresh CI machine
    os.remove(summary)
    import shutil

    shutil.rmtree("bench-out")
    monkeypatch.setenv("DEMO_CODEC_BUG", "1")
    assert _bench(run_cmd, env) == 0
    assert _bench(check_cmd, env) == 1
    text = open(summary, encoding="utf-8").read()
    assert text.startswith("## bench check against baseline.json: FAIL")
    worse = [line for line in text.splitlines() if line.startswith("| :x: worse")]
    assert any("| pesq\\_wb |" in line or "| pesq_wb |" in line for line in worse), text
    assert all("demo-ci / synthetic / reconstruction" in line for line in worse)
    row = next(line for line in worse if "pesq" in line)
    cells = [c.strip() for c in row.strip("|").split("|")]
    baseline, now = float(cells[3]), float(cells[4])
    assert now < baseline - 0.1  # the change shown is the one planted


def test_summary_lists_what_moved_worse_first():
    from bench.leaderboard import gate, gate_summary, make_baseline
    from bench.results import make_record

    def record(pesq, mcd):
        metrics = {m: {"value": v, "ci_low": None, "ci_high": None, "n": 3, "n_failed": 0,
                       "higher_is_better": hib, "unit": ""} for m, v, hib in (("pesq_wb", pesq, True), ("mcd", mcd, False))}
        return make_record(codec={"name": "c|x", "config_hash": "h"}, task={"name": "reconstruction", "version": "2"},
                           dataset={"name": "d", "content_hash": "x"}, seed=0, limit=None,
                           counts={"requested": 3, "measured": 3, "failed": 0, "failure_reasons": {}},
                           metrics=metrics, run={"key": "k"})

    base = make_baseline([record(3.0, 5.0)])
    same = gate_summary(gate([record(3.0, 5.0)], base))
    assert same.startswith("## bench check: PASS") and "Nothing moved" in same
    text = gate_summary(gate([record(2.0, 4.0)], base))
    rows = [line for line in text.splitlines() if line.startswith("| :")]
    assert text.startswith("## bench check: FAIL") and "1 worse, 1 better" in text
    assert rows[0].startswith("| :x: worse | c\\|x / d / reconstruction | pesq\\_wb | 3.000 | 2.000 | -1 |")
    assert rows[1].startswith("| :white_check_mark: better |") and "| mcd |" in rows[1]
