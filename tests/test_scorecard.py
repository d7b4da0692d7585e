"""bench run without --task: the task plan (each task on its dataset) and the scorecard."""

import pytest

import bench.suite as suite
from bench.cli import main
from bench.registry import TASKS
from bench.scorecard import ROWS, render, scorecard_rows
from bench.tasks.base import Task


class _NeedsNothingHere(Task):
    name = "needs-missing"
    needs_modules = ("no_such_module_for_bench_tests",)
    extra = "nothing"


def test_tasks_are_grouped_by_their_declared_dataset():
    groups = suite.plan(["reconstruction", "asr:beam_size=1", "pitch", "speaker", "probe", "abx", "tokens"], None)
    assert [(g.dataset, g.tasks) for g in groups] == [
        ("synth-speech-test", ("reconstruction", "asr:beam_size=1", "speaker")),
        ("synth-speech", ("pitch", "tokens")),
        ("synth-speech-probe", ("probe",)),
        ("minimal-pairs", ("abx",)),
    ]
    [one] = suite.plan(["reconstruction", "pitch"], "synthetic")
    assert one.dataset == "synthetic" and one.tasks == ("reconstruction", "pitch")


def test_a_task_whose_modules_are_missing_is_left_out_with_the_reason():
    TASKS.register("needs-missing", f"{__name__}:_NeedsNothingHere", overwrite=True)
    try:
        ok, skipped = suite.installed_tasks()
    finally:
        TASKS._entries.pop("needs-missing")
    assert ok[0] == "reconstruction" and "needs-missing" not in ok
    assert skipped["needs-missing"] == "needs no_such_module_for_bench_tests (pip install 'bench[nothing]')"


def test_rows_are_declared_once_and_unique():
    keys = [(r.task, r.metric) for r in ROWS]
    assert len(keys) == len(set(keys))
    labels = [r.label for r in ROWS]
    assert len(labels) == len(set(labels)) and all(len(lab) <= 38 for lab in labels)


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("sc"))
    common = ["-d", "synthetic", "--limit", "3", "--out", out, "--no-progress", "--in-process"]
    mp = pytest.MonkeyPatch()
    mp.setattr(suite, "installed_tasks", lambda: (["reconstruction", "asr"], {"probe": "needs sklearn"}))
    try:
        assert main(["run", "-c", "identity", "-t", "reconstruction", *common]) == 0  # the ceiling, same folder
        yield out, common, mp
    finally:
        mp.undo()


@pytest.mark.slow
def test_run_without_task_ends_with_the_scorecard(scored, capsys):
    out, common, mp = scored
    mp.setattr(suite, "installed_tasks", lambda: (["reconstruction", "asr"], {"probe": "needs sklearn"}))
    capsys.readouterr()
    assert main(["run", "-c", "mulaw-4bit", *common]) == 0
    text = capsys.readouterr().out
    card = text[text.index("scorecard: mulaw-4bit"):]
    lines = {line.split("  ")[1].strip(): line for line in card.splitlines()[4:] if line.startswith("  ") and "  " in line[2:]}
    assert "64.00" in lines["bitrate, from the tokens (kbps)"] and "512.00" in lines["bitrate, from the tokens (kbps)"]
    pesq = lines["PESQ wide-band (MOS)"].split()
    assert pesq[-1] == "4.644"  # the identity ceiling beside the value, from the identity run in the folder
    assert "[" in lines["PESQ wide-band (MOS)"]  # the interval
    assert "not run: task asr needs transcripts" in lines["WER change vs original (pp)"]
    assert "not run: needs sklearn" in lines["token probe: pitch pairs"]
    assert "not run" in lines["accent ABX on tokens"]


def test_a_failed_metric_says_why():
    rec = {"codec": {"name": "x", "spec": "x", "frame_rate": 50.0, "vocab_sizes": [8, 8], "bitrate": {}},
           "task": {"name": "reconstruction", "version": "2", "key": "k"}, "created": "1",
           "dataset": {"name": "d", "content_hash": "h"}, "counts": {"measured": 1, "requested": 1},
           "run": {"key": "r"},
           "metrics": {"pesq_wb": {"value": None, "ci_low": None, "ci_high": None, "failures": {"too short": 3}}}}
    rows = {row.metric: (cell, ceil) for row, cell, ceil in scorecard_rows([rec], {})}
    assert rows["pesq_wb"][0].why == "failed: too short"
    assert rows["tokens_per_s"][0].value == 100.0
    assert rows["stoi"][0].why == "not in the reconstruction v2 record"
    assert "failed: too short" in render([rec], {})
