"""`bench cost`: table structure, and the impulse latency of codecs whose answer is known.

No timing thresholds: real-time factors depend on the machine and its load, so only their
presence and sign are checked.
"""

from __future__ import annotations

import json

from bench.cli import main
from bench.cost import impulse_latency, render_markdown, run_cost
from bench.run.options import build_codec


def test_identity_and_mulaw_have_zero_latency_and_full_rows():
    result = run_cost(["identity", "mulaw-8bit"], seconds=0.5, repeats=1, thread_counts=(1, 2))
    assert [r["codec"] for r in result["rows"]] == ["identity", "mulaw-8bit"]
    for row in result["rows"]:
        assert row["errors"] == {}
        assert set(row["rtf"]) == {"1", "2"}
        assert all(v > 0 for t in row["rtf"].values() for v in (t["encode_rtf"], t["decode_rtf"]))
        lat = row["latency"]
        assert lat["latency_ms"] == 0 and lat["offset_min_ms"] == 0 and lat["offset_max_ms"] == 0
        assert lat["unanswered"] == 0 and not lat["reaches_start"]
        assert row["memory"]["peak_rss_mb"] > 0 and row["memory"]["rss_delta_mb"] >= 0
    text = render_markdown(result["rows"], result["meta"])
    assert "| identity | 512 |" in text and "enc RTF (2t)" in text and "Machine:" in text


def test_frame_codec_shows_look_ahead():
    # dct-q4: 40 ms MDCT windows at a 20 ms hop; an impulse changes output up to a window before it
    lat = impulse_latency(build_codec("dct-q4"))
    assert lat["offset_max_ms"] < 0 < lat["latency_ms"] <= 40.0
    assert lat["latency_ms"] > 20.0  # more than one hop: the windows overlap


def test_cli_json(tmp_path):
    out = tmp_path / "cost.json"
    rc = main(["cost", "-c", "mulaw-4bit", "--seconds", "0.3", "--repeats", "1", "--threads", "1",
               "--no-memory", "--format", "json", "--output", str(out)])
    assert rc == 0
    data = json.loads(out.read_text())
    assert data["meta"]["threads"] == [1] and data["rows"][0]["codec"] == "mulaw-4bit"
    assert "memory" not in data["rows"][0] and data["rows"][0]["latency"]["latency_ms"] == 0
