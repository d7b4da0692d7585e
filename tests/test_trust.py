"""What a user assumes of a number (issue #15): the ceiling, rates, names, records, errors."""

from __future__ import annotations

import glob
import io
import json
import os
import sqlite3
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import soxr

from bench.cli import _print_summary, main
from bench.results import ResultError, find_records
from bench.runner import RunOptions, run

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS_AUDIO = os.path.join(REPO, "bench", "data", "synth_speech", "audio")


def _values(out_dir, task="reconstruction"):
    """item id -> {metric: value} from a run's store."""
    with sqlite3.connect(os.path.join(out_dir, "bench.sqlite")) as conn:
        rows = conn.execute(
            "SELECT t.item_id, m.metric, m.value, m.failure FROM metric_values m JOIN task_rows t "
            "USING (codec_hash, item_hash, task_key) WHERE m.task_key LIKE ?", (task + "@%",)).fetchall()
    out: dict[str, dict] = {}
    for item, metric, value, failure in rows:
        out.setdefault(item, {})[metric] = value if failure is None else failure
    return out


def quiet_8k_manifest(folder, n=4, gain_db=-42.0):
    """Speech from the built-in corpus as quiet 16-bit recordings at 8 kHz."""
    os.makedirs(folder, exist_ok=True)
    lines = []
    for path in sorted(glob.glob(os.path.join(CORPUS_AUDIO, "*.flac")))[:n]:
        x, sr = sf.read(path, dtype="float32")
        y = soxr.resample(x, sr, 8000)
        y = y / np.max(np.abs(y)) * 10 ** (gain_db / 20)
        name = os.path.basename(path).replace(".flac", "_8k.wav")
        sf.write(os.path.join(folder, name), y, 8000, subtype="PCM_16")
        lines.append(json.dumps({"path": name}))
    manifest = os.path.join(folder, "manifest.jsonl")
    with open(manifest, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return manifest


CEILING = {"pesq_wb": 4.644, "pesq_nb": 4.549, "stoi": 1.0, "estoi": 1.0, "si_sdr": 100.0}


def _assert_ceiling(values):
    """Every item reads the ceiling, except where the metric is undefined on it by its own
    definition (PESQ needs 0.25 s, STOI 30 non-silent frames): those fail as too short."""
    assert values, "nothing measured"
    for item, v in values.items():
        for metric, ceiling in CEILING.items():
            if isinstance(v[metric], str):
                assert v[metric].startswith("too short"), (item, metric, v[metric])
                continue
            assert v[metric] == pytest.approx(ceiling, abs=1e-3), (item, metric, v[metric])


# -- 1. identity is the ceiling -----------------------------------------------------------------
def test_identity_is_the_ceiling_on_quiet_8k_clips(tmp_path):
    manifest = quiet_8k_manifest(str(tmp_path / "quiet"))
    records = {}
    for codec in ("identity", "pcm16"):
        rep = run(RunOptions(codec=codec, dataset=f"manifest:path={manifest}", tasks=("reconstruction",),
                             out=str(tmp_path / codec), progress=False))
        records[codec] = rep.records[0]
    assert records["identity"]["counts"]["measured"] == 4
    _assert_ceiling(_values(str(tmp_path / "identity")))  # every item, not only the mean
    # the 16-bit rounding is a codec, and it costs PESQ on such clips
    assert records["pcm16"]["metrics"]["pesq_wb"]["value"] < 4.5


def test_identity_decodes_exactly_what_it_encoded():
    from bench.runner import build_codec

    rng = np.random.default_rng(0)
    x = (rng.standard_normal(16000) * 1e-4).astype(np.float32)
    codec = build_codec("identity")
    enc = codec.encode(x)
    assert enc.tokens.dtype == np.int64 and enc.tokens.min() >= 0 and enc.tokens.max() < codec.vocab_sizes[0]
    assert np.array_equal(codec.decode(enc.tokens), x)
    assert not np.array_equal(build_codec("pcm16").decode(build_codec("pcm16").encode(x).tokens), x)


@pytest.mark.slow
def test_identity_is_the_ceiling_on_realspeech(realspeech, tmp_path):
    out = str(tmp_path / "out")
    run(RunOptions(codec="identity", dataset=f"manifest:path={realspeech}/manifest.jsonl",
                   tasks=("reconstruction", "speaker"), out=out, progress=False))
    values = _values(out)
    assert len(values) == 28
    _assert_ceiling(values)
    for item, v in _values(out, "speaker").items():
        assert v["similarity"] == pytest.approx(1.0, abs=1e-5), item


# -- 4. corpus bitrate is total bits over total seconds -------------------------------------------
def test_corpus_bitrate_weights_by_duration():
    from bench.runner import corpus_bitrate

    # a short clip with a fixed overhead must not pull the corpus rate up by its item count
    rates = [20_000.0, 16_000.0, 16_000.0]
    durs = [0.5, 10.0, 10.0]
    br = corpus_bitrate(rates, durs, seed=0)
    assert br["value"] == pytest.approx((20 * 0.5 + 16 * 20) / 20.5)
    assert br["item_mean"] == pytest.approx(52 / 3)
    assert br["ci_low"] <= br["value"] <= br["ci_high"]


def test_record_bitrate_is_bits_over_seconds(tmp_path):
    out = str(tmp_path / "out")
    rep = run(RunOptions(codec="mp3-16k", dataset="synthetic", tasks=("reconstruction",), out=out, progress=False))
    with sqlite3.connect(os.path.join(out, "bench.sqlite")) as conn:
        pairs = conn.execute("SELECT token_bps, duration FROM codec_outputs WHERE status='ok'").fetchall()
    bits = sum(r * d for r, d in pairs)
    secs = sum(d for _, d in pairs)
    br = rep.records[0]["codec"]["bitrate"]["token_kbps"]
    assert br["value"] == pytest.approx(bits / secs / 1000, rel=1e-9)
    assert br["weighting"] == "total bits / total seconds"


# -- 9. records never collide; tables show what distinguishes rows --------------------------------
def _manifest(folder, names, seed):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    for n in names:
        sf.write(os.path.join(folder, n), (0.1 * rng.standard_normal(8000)).astype(np.float32), 16000)
    path = os.path.join(folder, "manifest.jsonl")
    with open(path, "w") as fh:
        fh.write("\n".join(json.dumps({"path": n}) for n in names) + "\n")
    return path


def test_records_never_collide_and_rows_are_told_apart(tmp_path):
    out = str(tmp_path / "out")
    m1 = _manifest(str(tmp_path / "a"), ["x.wav", "y.wav"], 1)
    m2 = _manifest(str(tmp_path / "b"), ["x.wav", "y.wav"], 2)
    for ds in (m1, m2):
        for codec in ("mulaw:bits=4", "mulaw:bits=6"):
            run(RunOptions(codec=codec, dataset=f"manifest:path={ds}", tasks=("reconstruction",),
                           out=out, progress=False))
    files = glob.glob(os.path.join(out, "results", "*.json"))
    assert len(files) == 4
    from bench.leaderboard import leaderboard

    table = leaderboard(find_records([os.path.join(out, "results")]), fmt="csv")
    rows = [line.split(",")[2:4] for line in table.strip().splitlines()[1:]]
    assert len(rows) == 4 and len({tuple(r) for r in rows}) == 4, rows
    assert {r[0] for r in rows} == {"mulaw:bits=4", "mulaw:bits=6"}


# -- 10. empty or invalid runs are errors ------------------------------------------------------------
@pytest.mark.parametrize("content,name", [
    ("", "empty.jsonl"), ("# only a comment\n\n", "comments.jsonl"), ("path,text\n", "header.csv"),
    ('{"file": "a.wav"}\n{"file": "b.wav"}\n', "nopath.jsonl"),
])
def test_manifests_without_items_are_errors(tmp_path, capsys, content, name):
    path = tmp_path / name
    path.write_text(content)
    rc = main(["run", "-c", "identity", "-d", f"manifest:path={path}", "--out", str(tmp_path / "o"), "--no-progress"])
    assert rc == 2
    assert "bench: error:" in capsys.readouterr().err
    assert not glob.glob(str(tmp_path / "o" / "results" / "*.json"))


@pytest.mark.parametrize("args", [["--limit", "0"], ["--limit", "-3"], ["--workers", "0"], ["--workers", "-1"],
                                  ["--threads", "0"], ["--max-lag", "-1"]])
def test_invalid_run_options_are_errors(tmp_path, capsys, args):
    rc = main(["run", "-c", "identity", "-d", "synthetic", "--out", str(tmp_path / "o"), "--no-progress", *args])
    assert rc == 2
    assert "bench: error:" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "o" / "results")


def test_latin1_manifest_is_one_line_naming_the_line(tmp_path, capsys):
    path = tmp_path / "m.jsonl"
    path.write_bytes(b'{"path": "a.wav"}\n{"path": "caf\xe9.wav"}\n')
    rc = main(["run", "-c", "identity", "-d", f"manifest:path={path}", "--out", str(tmp_path / "o"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "m.jsonl:2" in err and "Traceback" not in err


def test_read_only_output_is_one_line(tmp_path, capsys):
    if os.geteuid() == 0:
        target = "/proc/bench-out"  # root ignores permission bits; /proc refuses new entries to all
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        target = str(ro / "out")
    rc = main(["run", "-c", "identity", "-d", "synthetic", "--limit", "1", "--out", target, "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot write" in err and "Traceback" not in err


def test_an_empty_result_never_replaces_a_measured_one(tmp_path):
    out = str(tmp_path / "out")
    first = run(RunOptions(codec="identity", dataset="synthetic", limit=2, tasks=("reconstruction",), out=out,
                           progress=False))
    path = first.paths[0]
    with sqlite3.connect(os.path.join(out, "bench.sqlite")) as conn:
        conn.execute("UPDATE task_rows SET status='failed', reason='broken'")
        conn.execute("UPDATE metric_values SET value=NULL, failure='broken'")
    again = run(RunOptions(codec="identity", dataset="synthetic", limit=2, tasks=("reconstruction",), out=out,
                           progress=False))
    assert again.records[0]["counts"]["measured"] == 0
    with open(path) as fh:
        assert json.load(fh)["counts"]["measured"] == 2


# -- 11. failed rows retried, max-lag keyed, corrupt records loud -------------------------------------
def test_failed_rows_are_retried_with_retry_failed(tmp_path):
    out = str(tmp_path / "out")
    opts = dict(codec="identity", dataset="synthetic", limit=3, tasks=("reconstruction",), out=out, progress=False)
    run(RunOptions(**opts))
    with sqlite3.connect(os.path.join(out, "bench.sqlite")) as conn:
        conn.execute("UPDATE task_rows SET status='failed', reason='transient'")
    assert run(RunOptions(**opts)).n_computed == 0  # kept, and said so
    again = run(RunOptions(**opts, retry_failed=True))
    assert again.n_computed == 3
    assert again.records[0]["counts"]["measured"] == 3


def test_max_lag_is_in_the_key_and_the_record(tmp_path):
    out = str(tmp_path / "out")
    opts = dict(codec="mp3-16k", dataset="synthetic", limit=2, tasks=("reconstruction",), out=out, progress=False)
    a = run(RunOptions(**opts))
    b = run(RunOptions(**opts, max_lag=0.01))
    assert b.n_computed == 2  # a different bound is different work, not a cache hit
    assert a.records[0]["run"]["max_lag_s"] == 0.25 and b.records[0]["run"]["max_lag_s"] == 0.01
    assert a.paths[0] != b.paths[0]
    assert a.records[0]["run"]["threads"] == 1


def test_a_corrupt_record_is_a_loud_error(tmp_path, capsys):
    out = str(tmp_path / "out")
    run(RunOptions(codec="identity", dataset="synthetic", limit=1, tasks=("reconstruction",), out=out, progress=False))
    bad = os.path.join(out, "results", "synthetic__broken.json")
    with open(bad, "w") as fh:
        fh.write('{"kind": "bench.result", "schema_version": 1, "codec": {')
    with pytest.raises(ResultError, match="synthetic__broken.json"):
        find_records([os.path.join(out, "results")])
    assert main(["leaderboard", os.path.join(out, "results")]) == 2
    assert "synthetic__broken.json" in capsys.readouterr().err
    with open(bad, "w") as fh:
        json.dump({"kind": "bench.result", "schema_version": 1}, fh)
    with pytest.raises(ResultError, match="synthetic__broken.json"):
        find_records([os.path.join(out, "results")])


# -- 12. progress off a terminal, per item ------------------------------------------------------------
def test_progress_prints_plain_lines_at_an_interval():
    import time

    from bench.runner import ProgressReport

    buf = io.StringIO()
    with ProgressReport("x / y", 3, "lines", interval=0.05, stream=buf) as p:
        p.advance()
        time.sleep(0.2)
        p.advance(failed=True)
    lines = buf.getvalue().splitlines()
    assert len(lines) >= 3  # ticks while nothing happens, and a last line
    assert lines[-1].startswith("x / y: 2/3 items (67%)") and "1 with failures" in lines[-1]
    assert any("1/3 items" in line for line in lines)


def test_cli_progress_reaches_a_log(tmp_path):
    env = {**os.environ, "BENCH_PROGRESS_INTERVAL": "0.2"}
    proc = subprocess.run([sys.executable, "-m", "bench", "run", "-c", "mulaw-4bit", "-d", "synthetic", "--limit", "4",
                           "-t", "reconstruction", "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert "4/4 items (100%)" in proc.stderr


# -- 13. failure reasons in the console --------------------------------------------------------------
def test_console_summary_prints_metric_failure_reasons(capsys):
    record = {"codec": {"name": "c", "bitrate": {}}, "dataset": {"name": "d"},
              "task": {"name": "asr", "version": "2"},
              "counts": {"measured": 3, "requested": 3, "failed": 0, "failure_reasons": {}},
              "metrics": {"wer": {"value": None, "n_failed": 3, "n": 0, "unit": "%",
                                  "failures": {"no reference transcript": 3}}}}
    _print_summary(record, "x.json")
    out = capsys.readouterr().out
    assert "not measured (3 failed)" in out and "failed x3: no reference transcript" in out


# -- 14. install.sh says what it installs; a closed pipe is not a traceback --------------------------
def test_install_script_says_what_it_installs():
    with open(os.path.join(REPO, "install.sh")) as fh:
        text = fh.read()
    before_apt = text.split("apt-get install")[0]
    assert "installing Debian packages" in before_apt


def test_list_into_a_closed_pipe_is_quiet():
    proc = subprocess.Popen([sys.executable, "-m", "bench", "list", "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=REPO)
    proc.stdout.close()  # the reader is gone before the first line is written
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert proc.returncode == 141


# -- 7. numbers do not depend on the number of workers ----------------------------------------------
@pytest.mark.slow
def test_workers_give_bit_identical_numbers(tmp_path):
    common = dict(codec="mulaw-4bit", dataset="synthetic", limit=6, tasks=("reconstruction",), progress=False)
    one = run(RunOptions(**common, out=str(tmp_path / "a")))
    two = run(RunOptions(**common, out=str(tmp_path / "b"), workers=2))
    assert _values(str(tmp_path / "a")) == _values(str(tmp_path / "b"))
    assert one.records[0]["metrics"] == two.records[0]["metrics"]


def test_record_names_differ_by_task_version():
    from bench.results import record_filename

    rec = {"dataset": {"name": "d", "content_hash": "a" * 64}, "codec": {"name": "c", "config_hash": "b" * 16},
           "run": {"key": "c" * 16}, "task": {"name": "t", "version": "1", "key": "t@1#0123abcd"}}
    newer = {**rec, "task": {"name": "t", "version": "2", "key": "t@2#0123abcd"}}
    assert record_filename(rec) != record_filename(newer)
