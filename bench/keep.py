""""What do the tokens keep?": pitch and accent per codec, three ways, with one verdict each.

For every codec with a learned-probe record (task ``probe``) the table puts side by side:

* the **audio ceiling**: the same probe model on features of the original audio (task
  ``probe-audio``, any codec's record: the original does not depend on the codec). Each
  attribute reads whichever front end reads it best, and its cells name it: pitch, the highest
  frame-F0 R2 (log-mel frames, ``features=mel``, the default, or the waveform's samples,
  ``features=wave``); accent, the highest en-us vs en-gb score (those two or
  ``features=whisper``, Whisper tiny.en encoder states). Ties go to log-mel;
* the **token probe**: the learned probe on the codec's tokens (``probe``), read the same way:
  pitch from the probe that learns from the tokens alone (``reader=scratch``, the default: the
  twin of the waveform front end), accent from whichever reader reads en-us vs en-gb best, that
  one or ``reader=whisper`` (a learned adapter makes audio of the tokens for the Whisper
  tiny.en encoder: the twin of the Whisper front end), named in its cells;
* **ABX** on the minimal pairs (task ``abx``): on the tokens and on the decoded audio.

Verdict per attribute (pitch, accent), the rule of docs/probes.md:

* **kept and readable**: the token probe's interval lies above chance and its score is within
  ``MARGIN`` of the ceiling (pitch: frame-F0 R2 and pitch pairs; accent: en-us vs en-gb);
* **kept in audio, hard to read from tokens**: not readable, but the ABX on the decoded audio
  (or on the tokens) lies above chance;
* **lost**: neither;
* where the ceiling itself is not above chance the probe cannot judge: the verdict says
  ``(ABX only)`` and follows the ABX alone (kept when the audio ABX's interval is above 0.5).
"""

from __future__ import annotations

from typing import Any

from bench.leaderboard import codec_label, select_latest

MARGIN = {"f0_r2": 0.10, "pitch_pairs_acc": 0.05, "accent2_acc": 0.05}
CODEC_ORDER = ("identity", "mulaw-8bit", "mulaw-4bit", "mulaw-2bit", "mp3-16k", "opus-8k", "dct-q4",
               "codec2-1200", "rvq-1q", "rvq-4q", "rvq-8q")


def _mv(rec: dict | None, metric: str) -> dict | None:
    if rec is None:
        return None
    mv = (rec.get("metrics") or {}).get(metric)
    return mv if mv and mv.get("value") is not None else None


def _above(mv: dict | None, chance: float) -> bool:
    return mv is not None and mv.get("ci_low") is not None and mv["ci_low"] > chance


def _fmt(mv: dict | None, digits: int = 2) -> str:
    if mv is None:
        return "-"
    v, lo, hi = mv["value"], mv.get("ci_low"), mv.get("ci_high")
    if lo is None or hi is None:
        return f"{v:.{digits}f}"
    return f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def verdict(ceiling: list[dict | None], probe: list[dict | None], chance: list[float],
            abx_audio: dict | None, abx_tokens: dict | None) -> str:
    """See the module docstring. ``ceiling``/``probe``/``chance``: parallel lists of metrics
    that must all be readable (chance None: no chance test, only the margin)."""
    ceiling_ok = all(c is not None and (ch is None or _above(c, ch)) for c, ch in zip(ceiling, chance))
    abx_kept = _above(abx_audio, 0.5) or _above(abx_tokens, 0.5)
    if not ceiling_ok:
        return "kept in audio (ABX only)" if abx_kept else ("lost (ABX only)" if abx_audio else "no verdict: no ABX record")
    readable = all(p is not None and (ch is None or _above(p, ch)) and p["value"] >= c["value"] - m
                   for p, c, ch, m in zip(probe, ceiling, chance, [x.get("_margin", 0.05) for x in ceiling]))
    if readable:
        return "kept and readable"
    return "kept in audio, hard to read from tokens" if abx_kept else "lost"


_FRONT_NAMES = {"whisper": "whisper", "wave": "waveform"}


def front_end(record: dict) -> str:
    """``log-mel``, ``waveform`` or ``whisper``: the input of a ``probe-audio`` record."""
    return _FRONT_NAMES.get(((record.get("task") or {}).get("config") or {}).get("features"), "log-mel")


def ceilings(latest: list[dict], content_hash: str | None = None) -> dict[str, dict]:
    """The newest ``probe-audio`` ceiling record per front end: on the original audio, with
    true labels (``input=decoded`` and ``shuffle_labels`` runs are not ceilings); with
    ``content_hash``, only records of that corpus content (a token probe is read against the
    ceiling of the same items)."""
    out: dict[str, dict] = {}
    for r in latest:
        cfg = (r.get("task") or {}).get("config") or {}
        if r["task"]["name"] != "probe-audio" or cfg.get("input", "reference") != "reference" or cfg.get("shuffle_labels"):
            continue
        if content_hash is not None and r["dataset"].get("content_hash") != content_hash:
            continue
        fe = front_end(r)
        if fe not in out or r["created"] >= out[fe]["created"]:
            out[fe] = r
    return out


def reader(record: dict) -> str:
    """``scratch`` or ``whisper``: who hears the tokens in a ``probe`` record."""
    return ((record.get("task") or {}).get("config") or {}).get("reader", "scratch")


def keep_rows(records: list[dict]) -> list[dict[str, Any]]:
    latest = select_latest(records)
    by: dict[str, dict[str, dict]] = {}
    readers: dict[str, dict[str, dict]] = {}  # codec -> reader -> newest true-label probe record
    for r in sorted(latest, key=lambda r: r["created"]):  # several per codec: the newest
        if r["task"]["name"] == "probe":
            if not ((r["task"].get("config") or {}).get("shuffle_labels")):
                readers.setdefault(r["codec"]["name"], {})[reader(r)] = r
        elif r["task"]["name"] != "probe-audio":
            by.setdefault(r["task"]["name"], {})[r["codec"]["name"]] = r
    rows = []
    codecs = sorted(readers, key=lambda c: (CODEC_ORDER.index(c) if c in CODEC_ORDER else 99, c))
    for name in codecs:
        p = readers[name].get("scratch") or readers[name]["whisper"]  # pitch: the scratch reader
        # accent: the reader that reads en-us vs en-gb best (ties: scratch)
        pa = max(readers[name].values(), key=lambda r: ((_mv(r, "accent2_acc") or {}).get("value", -1.0),
                                                        reader(r) == "scratch"))
        a = (by.get("abx") or {}).get(name)
        ceil_by = ceilings(latest, p["dataset"].get("content_hash"))

        def best(metric, fronts):  # the front end that reads ``metric`` best (ties: log-mel)
            return max((r for f, r in ceil_by.items() if f in fronts), default=None,
                       key=lambda r: ((_mv(r, metric) or {}).get("value", -1.0), front_end(r) == "log-mel"))

        audio = best("f0_r2", ("log-mel", "waveform"))  # pitch (Whisper's states are not a pitch front end)
        accent_audio = best("accent2_acc", ("log-mel", "waveform", "whisper"))

        def ceil(metric, rec=audio):
            mv = _mv(rec, metric)
            return None if mv is None else {**mv, "_margin": MARGIN.get(metric, 0.05), "_front": front_end(rec)}

        def tok(metric, rec):  # a token cell; a reader other than scratch is named
            mv = _mv(rec, metric)
            return mv if mv is None or reader(rec) == "scratch" else {**mv, "_front": reader(rec)}

        row = {"codec": codec_label(p),
               "ceiling_f0_r2": ceil("f0_r2"), "probe_f0_r2": tok("f0_r2", p),
               "ceiling_pairs": ceil("pitch_pairs_acc"), "probe_pairs": tok("pitch_pairs_acc", p),
               "abx_pitch_tokens": _mv(a, "pitch_abx_tokens"), "abx_pitch_audio": _mv(a, "pitch_abx_audio"),
               "ceiling_accent2": ceil("accent2_acc", accent_audio), "probe_accent2": tok("accent2_acc", pa),
               "ceiling_accent": ceil("accent_acc", accent_audio), "probe_accent": tok("accent_acc", pa),
               "accent_chance": (_mv(pa, "accent_chance") or {}).get("value"),
               "abx_accent_tokens": _mv(a, "accent_abx_tokens"), "abx_accent_audio": _mv(a, "accent_abx_audio")}
        row["pitch_verdict"] = verdict([ceil("f0_r2"), ceil("pitch_pairs_acc")],
                                       [row["probe_f0_r2"], row["probe_pairs"]], [0.0, 0.5],
                                       row["abx_pitch_audio"], row["abx_pitch_tokens"])
        row["accent_verdict"] = verdict([row["ceiling_accent2"]], [row["probe_accent2"]], [0.5],
                                        row["abx_accent_audio"], row["abx_accent_tokens"])
        rows.append(row)
    return rows


COLUMNS = (
    ("codec", "codec"),
    ("ceiling_f0_r2", "F0 R2: ceiling"), ("probe_f0_r2", "F0 R2: tokens"),
    ("ceiling_pairs", "pitch pairs: ceiling"), ("probe_pairs", "pitch pairs: tokens"),
    ("abx_pitch_tokens", "pitch ABX: tokens"), ("abx_pitch_audio", "pitch ABX: audio"),
    ("pitch_verdict", "pitch"),
    ("ceiling_accent2", "us/gb: ceiling"), ("probe_accent2", "us/gb: tokens"),
    ("ceiling_accent", "6 accents: ceiling"), ("probe_accent", "6 accents: tokens"),
    ("abx_accent_tokens", "accent ABX: tokens"), ("abx_accent_audio", "accent ABX: audio"),
    ("accent_verdict", "accent"),
)


def keep_table(records: list[dict], fmt: str = "md") -> str:
    rows = keep_rows(records)
    if not rows:
        return "no probe records: run bench run -t probe -d synth-speech-probe\n"

    def cell(row, key):
        v = row[key]
        if isinstance(v, str):
            return v
        front = (v or {}).get("_front")  # the ceiling's front end; a token reader other than scratch
        return _fmt(v) + (f" ({front})" if front else "")

    if fmt == "csv":
        import csv
        import io

        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow([k for k, _ in COLUMNS])
        for row in rows:
            w.writerow([cell(row, k) for k, _ in COLUMNS])
        return buf.getvalue()
    chance = rows[0]["accent_chance"]
    lines = ["## What do the tokens keep?", "",
             "Pitch and accent, read three ways: the learned probe on the original audio "
             "(ceiling, task probe-audio: for each attribute the front end that reads it best, named in each "
             "cell: log-mel frames or waveform samples for pitch, and also Whisper tiny.en encoder states "
             "for accent) and on the tokens (task probe: pitch from the probe that learns from the tokens "
             "alone; accent from it or, where that reads better and is named 'whisper', from reader=whisper, "
             "a learned adapter that makes audio of the tokens for the same Whisper encoder), both on synth-speech-probe's "
             "unseen test voices, and model-free ABX on the minimal pairs (task abx). Values with 95% "
             "intervals (bootstrap over test items and 3 training seeds; ABX: over trials). Chance: F0 R2 0, "
             f"pitch pairs 0.5, ABX 0.5, us/gb 0.5, 6 accents {chance:.3g}" if chance else "", "",
             "| " + " | ".join(h for _, h in COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join(cell(row, k) for k, _ in COLUMNS) + " |")
    lines += ["", "Verdict rule: docs/probes.md.", ""]
    return "\n".join(lines)
