"""The one-screen scorecard that ends ``bench run --codec X``: what the codec keeps, with
intervals, beside the identity ceiling.

Its rows are the table :data:`ROWS`, declared here and nowhere else. A row reads one metric of
one task's record (or a fact of the codec: measured bitrate, tokens per second). A row whose
task was not run says why ("not run: needs faster_whisper ..."), one whose task ran but has no
such metric says so, one whose value failed gives the reason.

The identity ceiling beside each value comes from an identity record of the same task
(name, version and options) on the same items (dataset content hash), looked up first among
the records of the run's own output folder, then in the ceiling folder (``--ceiling``; by
default ``results/records``, the committed records, when the command runs from the repository
root). Nothing is re-measured for it; where no such record exists the cell says ``-`` and the
scorecard says how to make one (``bench run --codec identity`` into the same folder).
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

from bench.leaderboard import codec_label, default_first, select_latest

#: Default folder of ceiling records (relative to the working folder).
CEILING_DIR = os.path.join("results", "records")


@dataclasses.dataclass(frozen=True)
class ScoreRow:
    label: str
    task: str  # a task name, or "codec" for facts of the codec record
    metric: str  # a metric name, or token_kbps / payload_kbps / tokens_per_s for "codec"
    chance: str | None = None  # the task's metric holding the chance level, shown beside the value
    digits: int = 3
    #: True: the task is being written while this table is (issues 18, 19): its metric name is a
    #: guess, and a missing metric reads "not run" rather than "not in the record".
    provisional: bool = False


#: The scorecard, top to bottom.
ROWS: tuple[ScoreRow, ...] = (
    ScoreRow("bitrate, from the tokens (kbps)", "codec", "token_kbps", digits=2),
    ScoreRow("bitrate, compressed payload (kbps)", "codec", "payload_kbps", digits=2),
    ScoreRow("tokens per second (frames x streams)", "codec", "tokens_per_s", digits=0),
    ScoreRow("PESQ wide-band (MOS)", "reconstruction", "pesq_wb"),
    ScoreRow("STOI", "reconstruction", "stoi"),
    ScoreRow("WER change vs original (pp)", "asr", "wer_delta", digits=1),
    ScoreRow("speaker similarity (cosine)", "speaker", "similarity"),
    ScoreRow("F0 RMSE (cents)", "pitch", "f0_rmse_cents", digits=1),
    ScoreRow("pitch class kept (audio classifier)", "pitch", "pitch_kept"),
    ScoreRow("accent kept (audio classifier)", "pitch", "accent_kept"),
    ScoreRow("token probe: frame F0 (R2)", "probe", "f0_r2"),
    ScoreRow("token probe: pitch pairs", "probe", "pitch_pairs_acc", chance="pitch_pairs_chance"),
    ScoreRow("token probe: accent (all)", "probe", "accent_acc", chance="accent_chance"),
    ScoreRow("token probe: accent, en-us vs en-gb", "probe", "accent2_acc", chance="accent2_chance"),
    ScoreRow("token probe: speaker (unseen voices)", "probe", "speaker_acc", chance="speaker_chance"),
    ScoreRow("linear probe: pitch class", "probe-linear", "pitch_acc", chance="pitch_chance"),
    ScoreRow("linear probe: accent (all)", "probe-linear", "accent_acc", chance="accent_chance"),
    # tasks written at the same time as this table: names to be checked when they land
    ScoreRow("accent ABX on tokens", "abx", "accent_abx_tokens", chance="abx_chance"),
    ScoreRow("accent ABX on decoded audio", "abx", "accent_abx_audio", chance="abx_chance"),
    ScoreRow("pitch ABX on tokens", "abx", "pitch_abx_tokens", chance="abx_chance"),
    ScoreRow("tokens: unigram entropy (bits/token)", "tokens", "unigram_entropy", digits=2),
    ScoreRow("tokens: 4-gram Kneser-Ney LM (kbps)", "tokens", "ngram_kbps", digits=2),
)


@dataclasses.dataclass
class Cell:
    value: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    chance: float | None = None
    why: str = ""  # instead of a value: not run, failed, not in the record


def _fmt(v: float | None, digits: int) -> str:
    if v is None or not math.isfinite(v):
        return "-"
    return f"{v:,.{digits}f}" if digits == 0 else f"{v:.{digits}f}"


def _codec_fact(record: dict, metric: str) -> Cell:
    codec = record["codec"]
    if metric == "tokens_per_s":
        streams = len(codec.get("vocab_sizes") or [])
        rate = codec.get("frame_rate")
        if not streams or rate is None:
            return Cell(why="not declared by the codec")
        v = float(rate) * streams
        return Cell(v, v, v)
    mv = (codec.get("bitrate") or {}).get(metric)
    if not mv or mv.get("value") is None:
        return Cell(why="none (no compressed payload)" if metric == "payload_kbps" else "not measured")
    return Cell(mv["value"], mv.get("ci_low"), mv.get("ci_high"))


def _metric(record: dict, row: ScoreRow) -> Cell:
    mv = record["metrics"].get(row.metric)
    if mv is None:
        return Cell(why=f"not in the {row.task} v{record['task']['version']} record")
    chance = (record["metrics"].get(row.chance) or {}).get("value") if row.chance else None
    if mv.get("value") is None:
        reasons = mv.get("failures") or {}
        top = max(reasons, key=reasons.get) if reasons else "no value"
        return Cell(why=f"failed: {top}", chance=chance)
    return Cell(mv["value"], mv.get("ci_low"), mv.get("ci_high"), chance)


def _by_task(records: list[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for r in sorted(select_latest(records), key=default_first):
        out[r["task"]["name"]] = r  # of each task, the latest with default options, else the latest
    return out


def find_ceilings(records: list[dict], pools: list[list[dict]]) -> dict[str, dict]:
    """task name -> the identity record on the same items with the same task version and
    options, from the first pool that has one."""
    out: dict[str, dict] = {}
    for task, r in _by_task(records).items():
        for pool in pools:
            match = [c for c in pool if c["codec"]["name"] == "identity" and c["task"]["name"] == task
                     and c["task"]["version"] == r["task"]["version"]
                     and c["task"].get("key") == r["task"].get("key")
                     and c["dataset"]["content_hash"] == r["dataset"]["content_hash"]]
            if match:
                out[task] = max(match, key=lambda c: c["created"])
                break
    return out


def ceiling_pools(out_dir: str | None, ceiling_dir: str | None = CEILING_DIR) -> list[list[dict]]:
    """Records to look identity ceilings up in: the run's output folder, then the ceiling folder."""
    from bench.results import ResultError, find_records

    pools = []
    for folder in (out_dir, ceiling_dir):
        if folder and os.path.isdir(folder):
            try:
                pools.append(find_records([folder]))
            except ResultError:
                continue  # a corrupt file elsewhere must not hide the scorecard
    return pools


def scorecard_rows(records: list[dict], ceilings: dict[str, dict],
                   not_run: dict[str, str] | None = None) -> list[tuple[ScoreRow, Cell, Cell]]:
    """(row, the codec's cell, the identity ceiling's cell) for every row of :data:`ROWS`."""
    not_run = not_run or {}
    by_task = _by_task(records)
    facts = by_task.get("reconstruction") or (next(iter(by_task.values())) if by_task else None)
    out = []
    for row in ROWS:
        if row.task == "codec":
            cell = _codec_fact(facts, row.metric) if facts else Cell(why="not run")
            ceil_rec = ceilings.get("reconstruction") if facts is by_task.get("reconstruction") else None
            ceil = _codec_fact(ceil_rec, row.metric) if ceil_rec else Cell()
        elif row.task in by_task:
            rec = by_task[row.task]
            cell = _metric(rec, row)
            if row.provisional and row.metric not in rec["metrics"]:
                cell = Cell(why=f"not run (no {row.metric} in the {row.task} record)")
            ceil = _metric(ceilings[row.task], row) if row.task in ceilings else Cell()
        else:
            reason = not_run.get(row.task)
            cell = Cell(why=f"not run: {reason}" if reason else "not run")
            ceil = Cell()
        out.append((row, cell, ceil))
    return out


def render(records: list[dict], ceilings: dict[str, dict], not_run: dict[str, str] | None = None,
           width: int = 100) -> str:
    """The scorecard as plain text for the console."""
    rows = scorecard_rows(records, ceilings, not_run)
    by_task = _by_task(records)
    name = codec_label(next(iter(by_task.values()))) if by_task else "?"
    on: dict[str, list[str]] = {}
    for t, r in by_task.items():
        ds = f"{r['dataset'].get('spec') or r['dataset']['name']} ({r['counts']['requested']} items)"
        on.setdefault(ds, []).append(f"{t} {r['counts']['measured']}/{r['counts']['requested']}")
    lines = [f"scorecard: {name}", *(f"  on {d}: {', '.join(ts)} measured" for d, ts in on.items()), ""]
    head = f"  {'':<38} {'value [95% interval]':<40} {'identity':>9}"
    lines += [head, "  " + "-" * (len(head) - 2)]
    missing_ceiling = False
    for row, cell, ceil in rows:
        if cell.why:
            text = cell.why
        else:
            d = row.digits
            text = _fmt(cell.value, d)
            lo, hi = _fmt(cell.ci_low, d), _fmt(cell.ci_high, d)
            if cell.ci_low is not None and cell.ci_high is not None and lo != hi:
                text += f" [{lo}, {hi}]"
            if cell.chance is not None:
                text += f" (chance {_fmt(cell.chance, d)})"
        c = "" if cell.why else (_fmt(ceil.value, row.digits) if not ceil.why else "-")
        if not cell.why and ceil.value is None and not ceil.why and row.task != "codec":
            missing_ceiling = True
        line = f"  {row.label:<38} {text:<40} {c:>9}"
        if len(line) > width:
            line = line[: width - 3] + "..."
        lines.append(line.rstrip())
    if missing_ceiling:
        lines.append("")
        lines.append("  '-' under identity: no identity record of that task on the same items; run")
        lines.append("  bench run --codec identity with the same --out (or pass --ceiling DIR)")
    return "\n".join(lines) + "\n"
