"""Tables from result records (never edited by hand) and the regression gate.

One function, :func:`leaderboard`, renders Markdown, CSV, LaTeX (booktabs) or HTML with
deterministic row order: dataset, then measured bitrate, then codec name. Records of one task
with different versions are refused: their numbers are not comparable.
"""

from __future__ import annotations

import csv
import dataclasses
import html
import io
import json
import math
from collections import defaultdict
from typing import Any

from bench.results import ResultError

FORMATS = ("md", "csv", "latex", "html")


def _kbps(record: dict) -> float:
    br = (record["codec"].get("bitrate") or {}).get("token_kbps") or {}
    v = br.get("value")
    return v if v is not None else record["codec"].get("nominal_kbps", math.inf)


def _payload_kbps(record: dict) -> float | None:
    """Measured compressed size, for codecs that have one (MP3 bytes, an entropy coder)."""
    br = (record["codec"].get("bitrate") or {}).get("payload_kbps") or {}
    return br.get("value")


def _run_key(record: dict) -> str:
    """The codec config plus the run options that move numbers (older records: the config)."""
    return (record.get("run") or {}).get("key") or record["codec"]["config_hash"]


def _sort_key(record: dict) -> tuple:
    return (record["dataset"]["name"], _kbps(record), record["codec"]["name"], _run_key(record))


def codec_label(record: dict) -> str:
    """What the user asked for (``mulaw:bits=4``, ``mp3-16k``), not just the family name."""
    return str(record["codec"].get("spec") or record["codec"]["name"])


def dataset_label(record: dict) -> str:
    """The dataset as the user named it (its spec); older records: its name."""
    ds = record["dataset"]
    return str(ds.get("spec") or ds["name"])


def row_labels(recs: list[dict]) -> list[tuple[str, str]]:
    """(codec, dataset) labels of a table's rows; where two rows would read the same, the
    differing hash (dataset content, codec run key) is appended so that rows never look alike."""
    labels = [[codec_label(r), dataset_label(r)] for r in recs]
    task_hash = lambda r: str(r["task"].get("key") or "").split("#")[-1]  # noqa: E731
    for col, hash_of in ((1, lambda r: r["dataset"]["content_hash"]), (0, _run_key), (0, task_hash)):
        seen: dict[str, set[str]] = defaultdict(set)
        for r, lab in zip(recs, labels):
            seen[lab[col]].add(hash_of(r))
        for r, lab in zip(recs, labels):
            if len(seen[lab[col]]) > 1:
                lab[col] += f"@{hash_of(r)[:6]}"
    return [(c, d) for c, d in labels]


_DEFAULT_TASK_KEYS: dict[str, str | None] = {}


def default_task_key(name: str) -> str | None:
    """The task key of task ``name`` with no options as installed here, or None when it cannot be
    built (not registered, or its extra missing)."""
    if name not in _DEFAULT_TASK_KEYS:
        from bench.run.options import build_task, task_key

        try:
            _DEFAULT_TASK_KEYS[name] = task_key(build_task(name))
        except Exception:  # noqa: BLE001 - a record of a task this install cannot build: no preference
            _DEFAULT_TASK_KEYS[name] = None
    return _DEFAULT_TASK_KEYS[name]


def default_first(record: dict) -> tuple[bool, str]:
    """Sort key among records of one task (codec, dataset): those with the task's default options
    last, newest last, so that "the last one" is the default run when there is one
    (``reconstruction`` over ``reconstruction:metrics=stoi``), else the newest."""
    task = record.get("task") or {}
    return task.get("key") == default_task_key(task.get("name", "")), record.get("created", "")


def select_latest(records: list[dict]) -> list[dict]:
    """One record per (task, codec run key, dataset content): the most recent."""
    best: dict[tuple, dict] = {}
    for r in records:
        key = (r["task"]["name"], r["task"].get("key"), _run_key(r), r["dataset"]["content_hash"])
        if key not in best or r["created"] >= best[key]["created"]:
            best[key] = r
    return list(best.values())


def group_by_task(records: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in select_latest(records):
        groups[r["task"]["name"]].append(r)
    for name, recs in groups.items():
        versions = sorted({r["task"]["version"] for r in recs})
        if len(versions) > 1:
            raise ResultError(
                f"refusing to mix versions {', '.join(versions)} of task {name!r} in one table; "
                f"re-run the older results or pass only one version's files"
            )
        recs.sort(key=_sort_key)
    return dict(sorted(groups.items()))


def _fmt(v: float | None, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if abs(v) >= 100:
        return f"{v:.1f}"
    if abs(v) >= 10:
        return f"{v:.2f}"
    return f"{v:.{digits}f}"


def _metric_names(recs: list[dict], metrics: list[str] | None) -> list[str]:
    names: list[str] = []
    for r in recs:
        for m in list(r["task"].get("metric_order", [])) + sorted(r["metrics"]):
            if m not in names:
                names.append(m)
    if metrics:
        unknown = [m for m in metrics if m not in names]
        if unknown:
            raise ResultError(f"unknown metric(s) {', '.join(unknown)}; available: {', '.join(names)}")
        return list(metrics)
    return names


def table_rows(recs: list[dict], names: list[str]) -> list[dict[str, Any]]:
    """One row per record: labels, rates and counts, and each metric's summary, read from the
    records' DataFrame (:func:`bench.results.to_frame`)."""
    from bench.results import frame_cells, to_frame

    cells = frame_cells(to_frame(recs))
    rows = []
    for i, (r, (codec, dataset)) in enumerate(zip(recs, row_labels(recs))):
        row: dict[str, Any] = {
            "codec": codec, "dataset": dataset, "kbps": _kbps(r),
            "payload_kbps": _payload_kbps(r), "n": r["counts"]["measured"], "failed": r["counts"]["failed"],
        }
        for m in names:
            row[m] = cells.get((i, m)) or {}
        rows.append(row)
    return rows


def _arrow(recs: list[dict], m: str) -> str:
    """↑ or ↓ for a score; nothing for a reference level (a chance rate) that has no direction."""
    for r in recs:
        if m in r["metrics"]:
            better = r["metrics"][m]["higher_is_better"]
            return "" if better is None else ("↑" if better else "↓")
    return ""


def _cell(mv: dict) -> str:
    if not mv or mv.get("value") is None:
        return "-"
    text = f"{_fmt(mv['value'])} [{_fmt(mv['ci_low'])}, {_fmt(mv['ci_high'])}]"
    if mv.get("n_failed"):
        text += f" ({mv['n_failed']} failed)"
    return text


def leaderboard(records: list[dict], fmt: str = "md", task: str | None = None,
                metrics: list[str] | None = None) -> str:
    if fmt not in FORMATS:
        raise ResultError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    groups = group_by_task(records)
    if task is not None:
        if task not in groups:
            raise ResultError(f"no results for task {task!r}; have: {', '.join(groups) or 'none'}")
        groups = {task: groups[task]}
    if not groups:
        raise ResultError("no result records found")
    render = {"md": _markdown, "csv": _csv, "latex": _latex, "html": _html}[fmt]
    parts = []
    for name, recs in groups.items():
        names = _metric_names(recs, metrics)
        sections = recs[0]["task"].get("metric_sections") if metrics is None and fmt != "csv" else None
        if sections:  # a wide task (tokens) declares its tables: [[title, metric names], ...]
            for title, members in sections:
                shown = [m for m in members if m in names]
                if shown:
                    parts.append(render(f"{name} / {title}", recs[0]["task"]["version"], recs, shown))
            continue
        parts.append(render(name, recs[0]["task"]["version"], recs, names))
    if fmt == "html":
        return html_page(parts)
    return ("\n" if fmt != "csv" else "").join(parts)


def _markdown(task: str, version: str, recs: list[dict], names: list[str]) -> str:
    header = ["codec", "dataset", "kbps", "payload kbps", "n", "failed"] + [f"{m} {_arrow(recs, m)}" for m in names]
    lines = [f"### {task} (v{version})", "", "| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i < 2 else "---:" for i in range(len(header))) + "|"]
    for row in table_rows(recs, names):
        cells = [_md(row["codec"]), _md(row["dataset"]), _fmt(row["kbps"], 2), _fmt(row["payload_kbps"], 2),
                 str(row["n"]), str(row["failed"])]
        cells += [_cell(row[m]) for m in names]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(NOTE)
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    """A Markdown table cell: pipes, backslashes and markup characters escaped, one line."""
    text = " ".join(str(text).split())
    for ch in "\\|`*_[]<>":
        text = text.replace(ch, "\\" + ch)
    return text


def _csv_cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas: a text cell starting with = + - @ (or a tab/CR) gets a
    leading apostrophe, as OWASP recommends for CSV injection. Numbers stay numbers."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _csv(task: str, version: str, recs: list[dict], names: list[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    header = ["task", "task_version", "codec", "dataset", "kbps", "payload_kbps", "n", "failed"]
    for m in names:
        header += [m, f"{m}_ci_low", f"{m}_ci_high", f"{m}_n_failed"]
    w.writerow(header)
    for row in table_rows(recs, names):
        out = [task, version, row["codec"], row["dataset"], row["kbps"], row["payload_kbps"], row["n"], row["failed"]]
        for m in names:
            mv = row[m]
            out += [mv.get("value"), mv.get("ci_low"), mv.get("ci_high"), mv.get("n_failed")]
        w.writerow(["" if v is None else _csv_cell(v) for v in out])
    return buf.getvalue()


_TEX = {"\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#", "$": r"\$",
        "{": r"\{", "}": r"\}", "^": r"\textasciicircum{}", "~": r"\textasciitilde{}"}


def _tex(text: str) -> str:
    """Every LaTeX special character escaped, in one pass (so escapes are not escaped again)."""
    return "".join(_TEX.get(ch, ch) for ch in str(text))


def _latex(task: str, version: str, recs: list[dict], names: list[str]) -> str:
    arrows = {m: {"↑": "$\\uparrow$", "↓": "$\\downarrow$"}.get(_arrow(recs, m), "") for m in names}
    cols = "ll" + "r" * (4 + len(names))
    lines = [
        f"% {task} (v{version}); generated by bench leaderboard, do not edit",
        "\\begin{tabular}{" + cols + "}", "\\toprule",
        " & ".join(["Codec", "Dataset", "kbps", "Payload kbps", "$n$", "Failed"]
                   + [f"{_tex(m)} {arrows[m]}" for m in names]) + " \\\\",
        "\\midrule",
    ]
    for row in table_rows(recs, names):
        cells = [_tex(row["codec"]), _tex(row["dataset"]), _fmt(row["kbps"], 2), _fmt(row["payload_kbps"], 2),
                 str(row["n"]), str(row["failed"])]
        for m in names:
            mv = row[m]
            cells.append("--" if mv.get("value") is None else
                         f"{_fmt(mv['value'])} {{\\scriptsize [{_fmt(mv['ci_low'])}, {_fmt(mv['ci_high'])}]}}")
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


NOTE = ("Values are the task's summaries (means; corpus error rates for ASR; mean accuracy over "
        "cross-validation splits for probes) with 95% intervals (bootstrap over items; for probes "
        "the spread over splits). kbps is measured from the tokens (frames x log2 vocabulary), "
        "payload kbps from the compressed bytes where a codec has them.")


def _descriptions(recs: list[dict]) -> dict[str, str]:
    out: dict[str, str] = {}
    for r in recs:
        for m, info in (r["task"].get("metrics") or {}).items():
            if isinstance(info, dict) and info.get("description") and m not in out:
                out[m] = str(info["description"])
    return out


def html_table(recs: list[dict], names: list[str], link: Any = None, box: bool = False) -> str:
    """One task's records as a sortable table in the house look (:mod:`bench.report.page`);
    ``link(record)`` may give each codec cell a link (the report's codec pages)."""
    from bench.report.page import Cell, Column, table

    desc = _descriptions(recs)
    cols = [Column("codec", text=True), Column("dataset", text=True),
            Column("kbps", "measured from the tokens"), Column("payload kbps", "measured compressed size"),
            Column("n", "items measured"), Column("failed", "items that failed")]
    cols += [Column(f"{m} {_arrow(recs, m)}".strip(), desc.get(m)) for m in names]
    rows = []
    for r, row in zip(recs, table_rows(recs, names)):
        cells = [Cell(row["codec"], row["codec"], href=link(r) if link else None),
                 Cell(row["dataset"], row["dataset"]),
                 Cell(_fmt(row["kbps"], 2), row["kbps"]), Cell(_fmt(row["payload_kbps"], 2), row["payload_kbps"]),
                 Cell(row["n"], row["n"]), Cell(row["failed"], row["failed"])]
        for m in names:
            mv = row[m]
            if not mv or mv.get("value") is None:
                cells.append(Cell("-", None, fail=f"{mv['n_failed']} failed" if mv and mv.get("n_failed") else None))
                continue
            cells.append(Cell(_fmt(mv["value"]), mv["value"],
                              sub=f"[{_fmt(mv.get('ci_low'))}, {_fmt(mv.get('ci_high'))}]",
                              fail=f"{mv['n_failed']} failed" if mv.get("n_failed") else None))
        rows.append(cells)
    return table(cols, rows, box=box)


def _html(task: str, version: str, recs: list[dict], names: list[str]) -> str:
    from bench.report.page import esc

    import re

    anchor = re.sub(r"[^A-Za-z0-9_.-]+", "-", task)
    return (f'<section class="task"><h2 id="task-{esc(anchor)}">{esc(task)} <span class="note">v{esc(version)}</span></h2>\n'
            + html_table(recs, names) + "</section>\n")


def html_page(sections: list[str]) -> str:
    """The leaderboard as one page (same look as ``bench report``)."""
    from bench.report.page import esc, page

    legend = (f'<p class="note">{esc(NOTE)} ↑ higher is better, ↓ lower is better; no arrow: a reference '
              "level (a chance rate). Small grey numbers are the 95% interval. Click a column header to sort.</p>")
    return page("bench leaderboard", legend + "\n".join(sections), subtitle="generated from result records")


# -- regression gate --------------------------------------------------------------------------
DEFAULT_TOLERANCE = {"abs": 0.0, "rel": 0.02}


def make_baseline(records: list[dict], tolerances: dict | None = None) -> dict:
    entries = []
    for name, recs in group_by_task(records).items():
        for r in recs:
            entries.append({
                "task": name, "task_version": r["task"]["version"], "task_key": r["task"].get("key"),
                "codec": r["codec"]["name"],
                "config_hash": r["codec"]["config_hash"], "dataset": r["dataset"]["name"],
                "dataset_hash": r["dataset"]["content_hash"], "failed": r["counts"]["failed"],
                "metrics": {m: mv["value"] for m, mv in sorted(r["metrics"].items())},
                "n_failed": {m: mv.get("n_failed", 0) for m, mv in sorted(r["metrics"].items())},
                "higher_is_better": {m: mv["higher_is_better"] for m, mv in sorted(r["metrics"].items())},
            })
    return {"kind": "bench.baseline", "schema_version": 1,
            "tolerances": tolerances or {"default": DEFAULT_TOLERANCE}, "entries": entries}


@dataclasses.dataclass(frozen=True)
class Finding:
    """One thing the gate found: ``kind`` is WORSE, FAILURES, MISSING, VERSION, DATA, CONFIG
    (each fails the gate) or better (reported, passes)."""

    kind: str
    label: str  # codec / dataset / task
    metric: str | None = None
    baseline: float | None = None
    current: float | None = None
    allowed: float | None = None
    text: str = ""  # the console line

    @property
    def fails(self) -> bool:
        return self.kind != "better"


@dataclasses.dataclass(frozen=True)
class GateResult:
    ok: bool
    findings: list[Finding]
    n_entries: int
    n_checked: int  # metric values compared with their baseline

    def lines(self) -> list[str]:
        return [f.text for f in self.findings] + [
            ("PASS" if self.ok else "FAIL") + f": {self.n_entries} baseline entries checked"]


def gate(records: list[dict], baseline: dict) -> GateResult:
    """Compare records with a baseline: what got worse, failed more, went missing or changed."""
    if baseline.get("kind") != "bench.baseline":
        raise ResultError("not a bench baseline file (kind != 'bench.baseline')")
    tol = baseline.get("tolerances", {})
    if not baseline.get("entries"):
        return GateResult(False, [Finding("MISSING", "-", text="FAIL: the baseline has no entries: nothing would be checked")],
                          0, 0)
    current, exact, keyed = {}, {}, {}
    for name, recs in group_by_task(records).items():
        for r in recs:
            current[(name, r["codec"]["name"], r["dataset"]["name"])] = r
            exact[(name, r["codec"]["config_hash"], r["dataset"]["content_hash"])] = r
            keyed[(r["task"].get("key"), r["codec"]["config_hash"], r["dataset"]["content_hash"])] = r
    found: list[Finding] = []
    n_checked = 0
    for entry in baseline["entries"]:
        key = (entry["task"], entry["codec"], entry["dataset"])
        label = f"{entry['codec']} / {entry['dataset']} / {entry['task']}"
        # the same codec config on the same items first (two mulaw:bits=N runs share a name);
        # by name only to report what changed
        # and the same task options where the baseline names them (reconstruction and
        # reconstruction:metrics=stoi are two entries; baselines made before task_key: by name)
        r = (keyed.get((entry["task_key"], entry.get("config_hash"), entry.get("dataset_hash")))
             if entry.get("task_key") else None) \
            or exact.get((entry["task"], entry.get("config_hash"), entry.get("dataset_hash"))) or current.get(key)
        if r is None:
            found.append(Finding("MISSING", label, text=f"MISSING  {label}: no current result"))
            continue
        if r["task"]["version"] != entry["task_version"]:
            found.append(Finding("VERSION", label, text=f"VERSION  {label}: task v{r['task']['version']} vs "
                                                        f"baseline v{entry['task_version']}"))
            continue
        if entry.get("dataset_hash") and r["dataset"]["content_hash"] != entry["dataset_hash"]:
            found.append(Finding("DATA", label, text=f"DATA     {label}: the items differ from the baseline's "
                                                     "(dataset content hash)"))
            continue
        if entry.get("config_hash") and r["codec"]["config_hash"] != entry["config_hash"]:
            found.append(Finding("CONFIG", label, text=(
                f"CONFIG   {label}: codec config or version changed ({entry['config_hash']} -> "
                f"{r['codec']['config_hash']}); write a new baseline on purpose if intended")))
            continue
        if r["counts"]["failed"] > entry.get("failed", 0):
            found.append(Finding("FAILURES", label, None, entry.get("failed", 0), r["counts"]["failed"], text=(
                f"FAILURES {label}: {r['counts']['failed']} failed items, baseline {entry.get('failed', 0)}")))
        for m, base in entry["metrics"].items():
            if base is None:
                continue
            cur = (r["metrics"].get(m) or {}).get("value")
            t = {**DEFAULT_TOLERANCE, **tol.get("default", {}), **tol.get(m, {})}
            allowed = max(t["abs"], t["rel"] * abs(base))
            if cur is None:
                found.append(Finding("MISSING", label, m, base, None, allowed,
                                     f"MISSING  {label} {m}: not measured (baseline {_fmt(base)})"))
                continue
            n_checked += 1
            base_failed = (entry.get("n_failed") or {}).get(m)
            cur_failed = (r["metrics"].get(m) or {}).get("n_failed", 0)
            if base_failed is not None and cur_failed > base_failed:
                found.append(Finding("FAILURES", label, m, base_failed, cur_failed, text=(
                    f"FAILURES {label} {m}: failed on {cur_failed} items, baseline {base_failed}")))
            higher = entry["higher_is_better"].get(m, True)
            if higher is None:  # a reference level (chance), not a score: nothing to gate
                continue
            worse_by = (base - cur) if higher else (cur - base)
            if worse_by > allowed:
                found.append(Finding("WORSE", label, m, base, cur, allowed,
                                     f"WORSE    {label} {m}: {_fmt(base)} -> {_fmt(cur)} (allowed {_fmt(allowed)})"))
            elif abs(cur - base) > allowed:
                found.append(Finding("better", label, m, base, cur, allowed,
                                     f"better   {label} {m}: {_fmt(base)} -> {_fmt(cur)}"))
    ok = not any(f.fails for f in found)
    return GateResult(ok, found, len(baseline["entries"]), n_checked)


def check(records: list[dict], baseline: dict) -> tuple[bool, list[str]]:
    """Compare records with a baseline; returns (passed, report lines)."""
    result = gate(records, baseline)
    if not result.n_entries:
        return False, [f.text for f in result.findings]
    return result.ok, result.lines()


def gate_summary(result: GateResult, title: str = "bench check") -> str:
    """The gate's result as Markdown, for a CI job summary or a pull-request comment: the verdict,
    a table of what moved (worse first, then other failures, then improvements), and how many
    values stayed within their tolerance."""
    worse = [f for f in result.findings if f.fails]
    better = [f for f in result.findings if not f.fails]
    verdict = "PASS" if result.ok else "FAIL"
    head = (f"## {_md(title)}: {verdict}\n\n"
            f"{result.n_entries} baseline entries, {result.n_checked} metric values compared: "
            f"{sum(f.kind == 'WORSE' for f in worse)} worse, {len(better)} better, "
            f"{len(worse) - sum(f.kind == 'WORSE' for f in worse)} other problems.\n")
    if not result.findings:
        return head + "\nNothing moved beyond its tolerance.\n"
    rows = ["", "| | result | metric | baseline | now | change | allowed |", "|---|---|---|---:|---:|---:|---:|"]
    for f in worse + better:
        mark = {"WORSE": ":x: worse", "better": ":white_check_mark: better"}.get(f.kind, f":warning: {f.kind.lower()}")
        change = (f"{f.current - f.baseline:+.4g}" if f.baseline is not None and f.current is not None else "-")
        detail = f.metric or _md(f.text.split(": ", 1)[-1])
        rows.append(f"| {mark} | {_md(f.label)} | {_md(detail) if f.metric else detail} | {_fmt(f.baseline)} | "
                    f"{_fmt(f.current)} | {change} | {_fmt(f.allowed)} |")
    n_moved = sum(1 for f in result.findings if f.metric and f.kind in ("WORSE", "better"))
    rows += ["", f"{result.n_checked - n_moved} other metric values within tolerance. "
                 "Generated by `bench check --summary`."]
    return head + "\n".join(rows) + "\n"


def load_baseline(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        try:
            return json.load(fh)
        except json.JSONDecodeError as exc:
            raise ResultError(f"{path}: not valid JSON ({exc.msg})") from None
