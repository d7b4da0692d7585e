import copy
import csv
import io
import json
import subprocess
import sys

import pytest

from bench.leaderboard import check, leaderboard, make_baseline
from bench.results import ResultError, find_records, load_record, migrate
from bench.runner import RunOptions, run


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    out = tmp_path_factory.mktemp("lb")
    for codec in ("mulaw-8bit", "mulaw-2bit", "identity"):
        run(RunOptions(codec=codec, dataset="synthetic", limit=3, out=str(out), progress=False))
    return out, find_records([str(out / "results")])


def test_markdown_is_sorted_by_bitrate_with_arrows(records):
    _, recs = records
    md = leaderboard(recs, "md")
    lines = [l for l in md.splitlines() if l.startswith("| mulaw") or l.startswith("| identity")]
    assert [l.split("|")[1].strip() for l in lines] == ["mulaw-2bit", "mulaw-8bit", "identity"]
    assert "pesq_wb ↑" in md and "mel_l1 ↓" in md
    assert md == leaderboard(list(reversed(recs)), "md"), "order must not depend on input order"


def test_csv_and_latex(records):
    _, recs = records
    rows = list(csv.DictReader(io.StringIO(leaderboard(recs, "csv"))))
    assert len(rows) == 3 and float(rows[0]["kbps"]) == pytest.approx(32.0)
    assert float(rows[2]["pesq_wb"]) > float(rows[0]["pesq_wb"])
    tex = leaderboard(recs, "latex", metrics=["pesq_wb", "stoi"])
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
    assert "pesq\\_wb $\\uparrow$" in tex and "mcd" not in tex


def test_refuses_to_mix_task_versions(records):
    _, recs = records
    other = copy.deepcopy(recs[0])
    current = int(recs[0]["task"]["version"])
    other["task"]["version"] = str(current + 1)
    other["codec"]["config_hash"] = "x" * 16
    with pytest.raises(ResultError, match=f"refusing to mix versions {current}, {current + 1}"):
        leaderboard(recs + [other])


def test_check_passes_then_catches_regression(records):
    _, recs = records
    base = make_baseline(recs)
    ok, lines = check(recs, base)
    assert ok, lines
    worse = copy.deepcopy(recs)
    for r in worse:
        if r["codec"]["name"] == "mulaw-8bit":
            r["metrics"]["pesq_wb"]["value"] -= 0.5
    ok, lines = check(worse, base)
    assert not ok
    assert any(l.startswith("WORSE") and "mulaw-8bit" in l and "pesq_wb" in l for l in lines)
    ok, lines = check([r for r in recs if r["codec"]["name"] != "identity"], base)
    assert not ok and any(l.startswith("MISSING") and "identity" in l for l in lines)


def test_cli_check_exit_codes(records, tmp_path):
    out, _ = records
    baseline = tmp_path / "baseline.json"
    cmd = [sys.executable, "-m", "bench", "check", str(out / "results"), "--baseline", str(baseline)]
    assert subprocess.run(cmd + ["--write"], capture_output=True).returncode == 0
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    data = json.loads(baseline.read_text())
    data["entries"][0]["metrics"]["stoi"] = 2.0  # impossible to reach: a regression
    baseline.write_text(json.dumps(data))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 1 and "WORSE" in proc.stdout


def test_schema_migration_refuses_newer(records):
    _, recs = records
    newer = dict(recs[0], schema_version=99)
    with pytest.raises(ResultError, match="newer"):
        migrate(newer)
    with pytest.raises(ResultError):
        migrate({"kind": "bench.result"})


def test_record_roundtrip(records):
    out, recs = records
    path = sorted((out / "results").glob("*.json"))[0]
    assert load_record(str(path))["kind"] == "bench.result"


def test_check_refuses_other_items_or_config(records):
    _, recs = records
    base = make_baseline(recs)
    changed = copy.deepcopy(recs)
    changed[0]["dataset"]["content_hash"] = "0" * 64
    changed[1]["codec"]["config_hash"] = "f" * 16
    ok, lines = check(changed, base)
    assert not ok
    assert any(l.startswith("DATA") for l in lines) and any(l.startswith("CONFIG") for l in lines)


# -- outputs that could be abused (issue #16, point 7) and the gate's blind spots (point 8) ----------
def _renamed(recs, codec_spec, item=None):
    out = copy.deepcopy(recs)
    out[0]["codec"]["spec"] = codec_spec
    return out


def test_markdown_cells_are_escaped(records):
    _, recs = records
    md = leaderboard(_renamed(recs, "evil|codec"), "md")
    row = next(line for line in md.splitlines() if "evil" in line)
    assert "evil\\|codec" in row
    header = next(line for line in md.splitlines() if line.startswith("| codec"))
    assert row.count(" | ") == header.count(" | ")  # the pipe did not add a column


def test_html_is_one_styled_page_with_cells_escaped(records):
    _, recs = records
    page = leaderboard(_renamed(recs, '<img src=x onerror="alert(1)">'), "html")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>") and "<style>" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert 'th class="sortable' in page and "higher is better" in page  # sortable, with a legend
    assert "http" not in page  # nothing fetched


def test_latex_escapes_every_special_character(records):
    _, recs = records
    tex = leaderboard(_renamed(recs, "a$b^c~d{e}f_g%h&i#j\\k"), "latex")
    line = next(line for line in tex.splitlines() if "textasciicircum" in line)
    cell = line.split(" & ")[0]
    assert cell == r"a\$b\textasciicircum{}c\textasciitilde{}d\{e\}f\_g\%h\&i\#j\textbackslash{}k"


@pytest.mark.parametrize("name", ["=HYPERLINK(\"x\")", "+1+1", "-2+3", "@SUM(A1)"])
def test_csv_cells_cannot_be_formulas(records, name):
    _, recs = records
    rows = list(csv.reader(io.StringIO(leaderboard(_renamed(recs, name), "csv"))))
    cells = [r[2] for r in rows[1:]]
    assert "'" + name in cells and name not in cells


def test_records_keep_no_local_folders(tmp_path):
    import os

    import numpy as np
    import soundfile as sf

    folder = tmp_path / "corpus"
    folder.mkdir()
    sf.write(folder / "a.wav", (0.1 * np.random.default_rng(0).standard_normal(8000)).astype("float32"), 16000)
    sf.write(folder / "b.wav", (0.1 * np.random.default_rng(1).standard_normal(8000)).astype("float32"), 16000)
    (folder / "m.jsonl").write_text('{"path": "a.wav"}\n{"path": "b.wav"}\n{"path": "gone.wav"}\n')
    rep = run(RunOptions(codec="mulaw-8bit", dataset=f"manifest:path={folder / 'm.jsonl'}", tasks=("reconstruction",),
                         out=str(tmp_path / "o"), progress=False))
    text = json.dumps(rep.records[0])
    assert str(tmp_path) not in text and os.path.expanduser("~") + "/" not in text
    assert "file not found: gone.wav" in text


def test_gate_fails_an_empty_baseline(records):
    _, recs = records
    ok, lines = check(recs, {"kind": "bench.baseline", "entries": []})
    assert not ok and "no entries" in lines[-1]


def test_gate_catches_a_rise_in_one_metrics_failures(records):
    _, recs = records
    base = make_baseline(recs)
    edited = copy.deepcopy(recs)
    r = next(r for r in edited if r["codec"]["name"] == "mulaw-8bit")
    r["metrics"]["pesq_wb"]["n_failed"] += 2  # measured on fewer items, same mean
    ok, lines = check(edited, base)
    assert not ok and any(line.startswith("FAILURES") and "pesq_wb" in line for line in lines)


def test_gate_tells_apart_two_option_sets_of_one_task(tmp_path):
    """A full reconstruction record and a ``reconstruction:metrics=...`` one of the same codec and
    items: the baseline keeps both, and each is checked against its own entry."""
    out = str(tmp_path)
    for task in ("reconstruction", "reconstruction:metrics=stoi+si_sdr"):
        run(RunOptions(codec="mulaw-8bit", dataset="synthetic", tasks=(task,), limit=3, out=out, progress=False))
    recs = find_records([str(tmp_path / "results")])
    assert len(recs) == 2
    base = make_baseline(recs)
    assert len({e["task_key"] for e in base["entries"]}) == 2
    ok, lines = check(recs, base)
    assert ok, "\n".join(lines)
    worse = copy.deepcopy(recs)
    full = next(r for r in worse if "pesq_nb" in r["metrics"])
    full["metrics"]["pesq_nb"]["value"] -= 1.0
    ok, lines = check(worse, base)
    assert not ok and any("pesq_nb" in line for line in lines)


def test_scorecard_and_compare_prefer_the_default_options_of_a_task(tmp_path):
    """A folder with ``reconstruction`` and a newer ``reconstruction:metrics=stoi`` of each codec:
    the scorecard and the paired comparison read the full (default) records, not the subset."""
    from bench.compare import compare_records
    from bench.scorecard import _by_task

    out = str(tmp_path)
    for codec in ("mulaw-8bit", "mulaw-4bit"):
        for task in ("reconstruction", "reconstruction:metrics=stoi"):  # the subset is the newer
            run(RunOptions(codec=codec, dataset="synthetic", tasks=(task,), limit=3, out=out, progress=False))
    recs = find_records([str(tmp_path / "results")])
    assert len(recs) == 4
    mine = [r for r in recs if r["codec"]["name"] == "mulaw-8bit"]
    assert "pesq_wb" in _by_task(mine)["reconstruction"]["metrics"]
    other = [r for r in recs if r["codec"]["name"] == "mulaw-4bit"]
    (comparison,) = compare_records("mulaw-8bit", mine, "mulaw-4bit", other, n_boot=200)
    assert "pesq_wb" in {m.metric for m in comparison.metrics}
