"""bench compare: paired differences, intervals, Wilcoxon + Holm, verdicts, refusals."""

import copy
import json
import os

import numpy as np
import pytest

from bench.cli import main
from bench.compare import CompareError, compare, compare_records, holm, render, wilcoxon_p
from bench.results import make_record, item_section, save_record

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _record(codec: str, values: dict[str, list], *, content="c" * 64, version="2", ids=None,
            higher=None) -> dict:
    higher = higher or {"pesq_wb": True, "mcd": False}
    n = len(next(iter(values.values())))
    ids = ids or [f"item{i:03d}" for i in range(n)]
    metrics = {}
    for m, col in values.items():
        vals = [v for v in col if v is not None]
        metrics[m] = {"value": float(np.mean(vals)), "ci_low": None, "ci_high": None, "n": len(vals),
                      "n_failed": n - len(vals), "higher_is_better": higher[m], "unit": "", "failures": {}}
    per_item = [{m: values[m][i] for m in values} for i in range(n)]
    return make_record(
        codec={"name": codec, "spec": codec, "config_hash": codec * 2, "bitrate": {}},
        task={"name": "reconstruction", "version": version, "key": f"reconstruction@{version}#0",
              "metric_order": list(values)},
        dataset={"name": "toy", "content_hash": content}, seed=0, limit=None,
        counts={"requested": n, "measured": n, "failed": 0, "failure_reasons": {}}, metrics=metrics,
        run={"key": codec}, items=item_section(ids, per_item, list(values)))


def test_holm_matches_the_step_down_rule():
    assert holm([0.01, 0.04, 0.03, None]) == pytest.approx([0.03, 0.06, 0.06, None])
    assert holm([0.5, 0.9]) == [1.0, 1.0]


def test_wilcoxon_edge_cases():
    assert wilcoxon_p(np.zeros(10)) == 1.0
    assert wilcoxon_p(np.array([1.0])) is None
    assert wilcoxon_p(np.linspace(0.1, 1, 30)) < 1e-4


def test_paired_difference_verdicts_and_tallies():
    rng = np.random.default_rng(1)
    base = rng.normal(3.0, 0.5, 60)
    # A is better on PESQ by 0.2 on every item (up to noise) and no different on MCD
    a = _record("a", {"pesq_wb": list(base + 0.2 + rng.normal(0, 0.01, 60)), "mcd": list(base)})
    b = _record("b", {"pesq_wb": list(base), "mcd": list(base + rng.normal(0, 0.01, 60))})
    [c] = compare_records("a", [a], "b", [b], seed=0)
    pesq, mcd = c.metrics
    assert pesq.diff == pytest.approx(0.2, abs=0.01) and pesq.ci_low < 0.2 < pesq.ci_high
    assert pesq.verdict == "better" and (pesq.wins, pesq.ties, pesq.losses) == (60, 0, 0)
    assert mcd.verdict == "no detectable difference" and mcd.p_holm >= mcd.p
    # seen from B, the same difference is "worse"
    [back] = compare_records("b", [b], "a", [a], seed=0)
    assert back.metrics[0].verdict == "worse" and back.metrics[0].diff == pytest.approx(-pesq.diff)
    # lower is better for mcd: an A with higher MCD everywhere is worse
    worse = _record("w", {"pesq_wb": list(base), "mcd": list(base + 1.0)})
    [cw] = compare_records("w", [worse], "b", [b], seed=0)
    assert cw.metrics[1].verdict == "worse" and cw.metrics[1].losses == 60
    assert c.tally() == {"better": 1, "worse": 0, "no detectable difference": 1}


def test_only_items_measured_on_both_sides_are_paired():
    a = _record("a", {"pesq_wb": [1.0, 2.0, None, 4.0], "mcd": [1.0, 1.0, 1.0, 1.0]})
    b = _record("b", {"pesq_wb": [1.0, None, 3.0, 3.0], "mcd": [1.0, 1.0, 1.0, 1.0]})
    [c] = compare_records("a", [a], "b", [b], seed=0)
    pesq, mcd = c.metrics
    assert (pesq.n_pairs, pesq.n_unpaired) == (2, 2) and pesq.diff == pytest.approx(0.5)
    assert (mcd.ties, mcd.verdict, mcd.p) == (4, "no detectable difference", 1.0)


def test_refuses_other_items_and_other_task_versions():
    a = _record("a", {"pesq_wb": [1.0, 2.0], "mcd": [1.0, 2.0]})
    with pytest.raises(CompareError, match="different items"):
        compare_records("a", [a], "b", [_record("b", {"pesq_wb": [1.0, 2.0], "mcd": [1.0, 2.0]}, content="d" * 64)])
    with pytest.raises(CompareError, match="across versions"):
        compare_records("a", [a], "b", [_record("b", {"pesq_wb": [1.0, 2.0], "mcd": [1.0, 2.0]}, version="3")])


def test_records_without_item_values_are_named(tmp_path):
    a = _record("a", {"pesq_wb": [1.0, 2.0], "mcd": [1.0, 2.0]})
    old = copy.deepcopy(a)
    old["codec"]["name"] = old["codec"]["spec"] = "old"
    del old["items"]
    [c] = compare_records("a", [a], "old", [old])
    assert c.metrics == [] and "no per-item values" in c.notes[0]


def test_cli_formats_and_one_line_refusal(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(2, 0.3, 20)
    save_record(_record("a", {"pesq_wb": list(x + 0.5), "mcd": list(x)}), str(tmp_path / "r"))
    save_record(_record("b", {"pesq_wb": list(x), "mcd": list(x)}), str(tmp_path / "r"))
    assert main(["compare", "a", "b", "--results", str(tmp_path / "r")]) == 0
    md = capsys.readouterr().out
    assert "| reconstruction.pesq\\_wb ↑ |" in md and "+0.500" in md and "better" in md
    assert main(["compare", "a", "b", "--results", str(tmp_path / "r"), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["comparisons"][0]["metrics"][0]["verdict"] == "better"
    assert main(["compare", "a", "b", "--results", str(tmp_path / "r"), "-f", "latex"]) == 0
    assert "\\toprule" in capsys.readouterr().out
    save_record(_record("c", {"pesq_wb": list(x), "mcd": list(x)}, content="e" * 64), str(tmp_path / "r"))
    assert main(["compare", "a", "c", "--results", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "different items" in err[0]
    assert main(["compare", "a", "nosuch", "--results", str(tmp_path / "r")]) == 2
    assert "no records of codec 'nosuch'" in capsys.readouterr().err


def test_committed_records_rvq8_against_mp3_16k():
    """The done-when figure: on the committed records, rvq-8q's PESQ-WB is 0.073 above mp3-16k's."""
    comps = compare(["rvq-8q", "mp3-16k"], os.path.join(REPO, "results", "records"), seed=0)
    [c] = [c for c in comps if c.dataset == "synth-speech-test"]
    pesq = next(m for m in c.metrics if m.metric == "pesq_wb")
    assert pesq.n_pairs == 120
    assert pesq.diff == pytest.approx(0.0735, abs=0.002)
    assert 0.0 < pesq.ci_low < pesq.diff < pesq.ci_high < 0.2
    stoi = next(m for m in c.metrics if m.metric == "stoi")
    assert stoi.verdict == "worse"
    assert "rvq-8q against mp3-16k" in render(comps)


def test_two_configurations_under_one_name_are_refused():
    a4 = _record("m", {"pesq_wb": [1.0, 2.0], "mcd": [1.0, 2.0]})
    a6 = copy.deepcopy(a4)
    a4["codec"]["spec"], a6["codec"]["spec"], a6["run"]["key"] = "m:bits=4", "m:bits=6", "other"
    b = _record("b", {"pesq_wb": [1.0, 2.0], "mcd": [1.0, 2.0]})
    with pytest.raises(CompareError, match="several runs of reconstruction"):
        compare_records("m", [a4, a6], "b", [b])
    [c] = compare_records("m:bits=4", [a4], "b", [b])
    assert c.metrics[0].ties == 2
