"""Paired comparison of codecs on the items both measured: ``bench compare A B [C ...]``.

A is compared with each of B, C, ... in turn (A against B, A against C; never B against C), on
every task and dataset both have records for. For each metric with per-item values (a record's
``items`` section, see :func:`bench.results.item_section`):

* the per-item differences ``A - X`` on the items both measured (an item failed on either side
  drops out of that metric's pairs, and is counted);
* their mean with a paired 95% percentile-bootstrap interval (the pairs resampled together, with
  the seeded estimator of :mod:`bench.metrics.stats`, 2,000 resamples);
* a two-sided Wilcoxon signed-rank p-value (``scipy.stats.wilcoxon``, zero differences dropped
  as in Wilcoxon's original test), Holm-corrected across all metrics of one A-against-X
  comparison on one dataset (every task's metrics together; not across datasets, nor across the
  comparisons of A with several codecs);
* a verdict for A: ``better`` / ``worse`` when the Holm-adjusted p is under ``alpha`` (0.05), in
  the direction of the mean difference and the metric's ``higher_is_better``; else ``no
  detectable difference``; metrics that are reference levels (chance rates) get none;
* wins / ties / losses of A over the paired items (a tie: the same stored value).

Per-item values of corpus-rate metrics are per-item rates: the mean difference of per-item WER
is not the difference of the corpus WERs the record reports. Metrics that exist only at corpus
level (EER, probe accuracies) have no per-item values and are listed as such.

Records of different datasets (content hash) or task versions (or task configurations) are
refused with one line: their items are not the same measurement.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any

import numpy as np

from bench.leaderboard import codec_label, dataset_label, default_first, select_latest
from bench.metrics.stats import bootstrap_ci
from bench.results import ResultError, find_records

FORMATS = ("md", "latex", "json")
ALPHA = 0.05


class CompareError(ResultError):
    """The records cannot be compared (different items, task versions, nothing in common)."""


# -- finding the records ------------------------------------------------------------------------
def resolve(spec: str, results: str) -> tuple[str, list[dict]]:
    """(label, records) of one side: a record file or folder, or a codec label (its spec as run,
    e.g. ``mp3-16k`` or ``mulaw:bits=4``, or its name) looked up in the ``results`` folder."""
    if os.path.exists(spec):
        records = find_records([spec])
        if not records:
            raise CompareError(f"{spec}: no result records there")
        labels = sorted({codec_label(r) for r in records})
        if len(labels) > 1:
            raise CompareError(f"{spec}: records of several codecs ({', '.join(labels)}); pass one codec's records")
        return labels[0], records
    if not os.path.isdir(results):
        raise CompareError(f"{spec} is not a file or folder, and the results folder {results} does not exist")
    every = find_records([results])
    records = [r for r in every if codec_label(r) == spec] or [r for r in every if r["codec"]["name"] == spec]
    if not records:
        known = sorted({codec_label(r) for r in every})
        from difflib import get_close_matches

        near = get_close_matches(spec, known, n=3)
        hint = f"; did you mean {', '.join(near)}?" if near else f"; there: {', '.join(known[:12])}"
        raise CompareError(f"no records of codec {spec!r} in {results}{hint}")
    return spec, records


# -- statistics ---------------------------------------------------------------------------------
def holm(pvalues: list[float | None]) -> list[float | None]:
    """Holm's step-down adjustment (Holm 1979); None entries are left out and stay None."""
    order = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    m = len(order)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def wilcoxon_p(diffs: np.ndarray) -> float | None:
    """Two-sided Wilcoxon signed-rank p of paired differences; 1.0 when every difference is
    zero (nothing to rank), None with fewer than 2 pairs."""
    nonzero = diffs[diffs != 0]
    if len(diffs) < 2:
        return None
    if len(nonzero) == 0:
        return 1.0
    from scipy.stats import wilcoxon

    return float(wilcoxon(nonzero, zero_method="wilcox", alternative="two-sided").pvalue)


@dataclasses.dataclass
class MetricComparison:
    task: str
    metric: str
    unit: str
    higher_is_better: bool | None
    n_pairs: int
    n_unpaired: int  # items measured on one side only (or on neither)
    mean_a: float | None = None
    mean_b: float | None = None
    diff: float | None = None  # mean of A - B over the pairs
    ci_low: float | None = None
    ci_high: float | None = None
    p: float | None = None
    p_holm: float | None = None
    wins: int = 0
    ties: int = 0
    losses: int = 0
    verdict: str = ""
    note: str = ""


@dataclasses.dataclass
class Comparison:
    a: str
    b: str
    dataset: str
    content_hash: str
    tasks: list[str]
    metrics: list[MetricComparison]
    alpha: float
    seed: int
    notes: list[str]

    def tally(self) -> dict[str, int]:
        out = {"better": 0, "worse": 0, "no detectable difference": 0}
        for m in self.metrics:
            if m.verdict in out:
                out[m.verdict] += 1
        return out


def _pair_key(r: dict) -> tuple[str, str]:
    return (r["task"]["name"], r["dataset"]["name"])


def _index(records: list[dict], label: str) -> dict[tuple[str, str], dict]:
    """(task, dataset) -> the record; two configurations of one codec (``mulaw`` run with
    bits=4 and bits=6, or with other run options) on the same task and dataset are refused."""
    out: dict[tuple[str, str], dict] = {}
    for r in select_latest(records):
        key = _pair_key(r)
        if key in out:
            other = out[key]
            if (other.get("run") or {}).get("key") != (r.get("run") or {}).get("key"):
                raise CompareError(f"{label}: several runs of {key[0]} on {key[1]} with different codec options "
                                   f"({codec_label(other)}, {codec_label(r)}); name one by its spec or pass its record file")
            if default_first(other) > default_first(r):  # the default task options, else the newest
                continue
        out[key] = r
    return out


def compare_records(a_label: str, a_records: list[dict], b_label: str, b_records: list[dict], *,
                    seed: int = 0, alpha: float = ALPHA, n_boot: int = 2000) -> list[Comparison]:
    """A against B on every (task, dataset) both have; one :class:`Comparison` per dataset."""
    ia, ib = _index(a_records, a_label), _index(b_records, b_label)
    common = sorted(set(ia) & set(ib))
    if not common:
        raise CompareError(f"{a_label} and {b_label} have no task on the same dataset in common "
                           f"({a_label}: {_keys(ia)}; {b_label}: {_keys(ib)})")
    for key in common:
        ra, rb = ia[key], ib[key]
        if ra["dataset"]["content_hash"] != rb["dataset"]["content_hash"]:
            raise CompareError(
                f"refusing to compare {key[0]} on different items: {a_label} measured {dataset_label(ra)} "
                f"(content {ra['dataset']['content_hash'][:8]}), {b_label} {dataset_label(rb)} "
                f"(content {rb['dataset']['content_hash'][:8]})")
        if ra["task"]["version"] != rb["task"]["version"]:
            raise CompareError(f"refusing to compare task {key[0]} across versions: {a_label} v{ra['task']['version']}, "
                               f"{b_label} v{rb['task']['version']}")
        if (ra["task"].get("key") or "") != (rb["task"].get("key") or ""):
            raise CompareError(f"refusing to compare task {key[0]} run with different options: "
                               f"{ra['task'].get('key')} vs {rb['task'].get('key')}")
    out = []
    for dataset in sorted({k[1] for k in common}):
        keys = [k for k in common if k[1] == dataset]
        rows: list[MetricComparison] = []
        notes: list[str] = []
        for key in keys:
            ra, rb = ia[key], ib[key]
            rows += _task_rows(ra, rb, seed, n_boot, notes, a_label, b_label)
        adjusted = holm([m.p for m in rows])
        for m, p_adj in zip(rows, adjusted):
            m.p_holm = p_adj
            m.verdict = _verdict(m, alpha)
        first = ia[keys[0]]
        out.append(Comparison(a_label, b_label, dataset_label(first), first["dataset"]["content_hash"],
                              [f"{k[0]} v{ia[k]['task']['version']}" for k in keys], rows, alpha, seed, notes))
    return out


def _keys(index: dict) -> str:
    return ", ".join(f"{t} on {d}" for t, d in sorted(index)) or "none"


def _task_rows(ra: dict, rb: dict, seed: int, n_boot: int, notes: list[str], a: str, b: str) -> list[MetricComparison]:
    task = ra["task"]["name"]
    order = list(ra["task"].get("metric_order") or []) + sorted(ra["metrics"])
    names = [m for i, m in enumerate(order) if m in ra["metrics"] and m not in order[:i]]
    missing = [lab for lab, r in ((a, ra), (b, rb)) if not isinstance(r.get("items"), dict)]
    if missing:
        whose = f"the record of {missing[0]} has" if len(missing) == 1 else f"the records of {' and '.join(missing)} have"
        notes.append(f"{task}: {whose} no per-item values (written before records kept them); run again to compare {task}")
        return []
    va, vb = _by_id(ra), _by_id(rb)
    rows = []
    for metric in names:
        mv = ra["metrics"][metric]
        row = MetricComparison(task, metric, mv.get("unit") or "", mv.get("higher_is_better"), 0, 0)
        if metric not in va or metric not in vb:
            row.note = "corpus-level only (no per-item values)"
            row.verdict = "-"
            rows.append(row)
            continue
        ids = sorted(set(va[metric]) | set(vb[metric]))
        pairs = [(va[metric][i], vb[metric][i]) for i in ids
                 if va[metric].get(i) is not None and vb[metric].get(i) is not None]
        row.n_pairs, row.n_unpaired = len(pairs), len(ids) - len(pairs)
        if not pairs:
            row.note = "no item measured on both sides"
            rows.append(row)
            continue
        x = np.array([p[0] for p in pairs], dtype=np.float64)
        y = np.array([p[1] for p in pairs], dtype=np.float64)
        d = x - y
        row.mean_a, row.mean_b, row.diff = float(x.mean()), float(y.mean()), float(d.mean())
        row.ci_low, row.ci_high = (bootstrap_ci(d, seed, n_boot) if len(d) > 1 else (row.diff, row.diff))
        row.p = wilcoxon_p(d)
        sign = 0 if row.higher_is_better is None else (1 if row.higher_is_better else -1)
        row.wins = int(np.sum(sign * d > 0))
        row.losses = int(np.sum(sign * d < 0))
        row.ties = len(d) - row.wins - row.losses if sign else 0
        if sign == 0:
            row.wins = row.losses = 0
        rows.append(row)
    return rows


def _by_id(record: dict) -> dict[str, dict[str, float | None]]:
    items = record["items"]
    return {m: dict(zip(items["id"], col)) for m, col in items["values"].items()}


def _verdict(m: MetricComparison, alpha: float) -> str:
    if m.verdict:
        return m.verdict
    if m.diff is None:
        return "-"
    if m.higher_is_better is None:
        return "reference level"
    if m.p_holm is not None and m.p_holm < alpha and m.diff != 0:
        return "better" if (m.diff > 0) == m.higher_is_better else "worse"
    return "no detectable difference"


def compare(specs: list[str], results: str = "results/records", *, seed: int = 0, alpha: float = ALPHA,
            n_boot: int = 2000) -> list[Comparison]:
    """``bench compare``: the first codec against each of the others."""
    if len(specs) < 2:
        raise CompareError("compare needs at least two codecs or record sets")
    a_label, a_records = resolve(specs[0], results)
    out = []
    for spec in specs[1:]:
        b_label, b_records = resolve(spec, results)
        found = compare_records(a_label, a_records, b_label, b_records, seed=seed, alpha=alpha, n_boot=n_boot)
        if not any(m.diff is not None for c in found for m in c.metrics):
            raise CompareError(f"nothing to pair between {a_label} and {b_label}: no metric has per-item values in "
                               "both records (records written before bench kept them have none: run them again)")
        out += found
    return out


# -- rendering ----------------------------------------------------------------------------------
def _f(v: float | None, digits: int = 3) -> str:
    if v is None or not math.isfinite(v):
        return "-"
    if abs(v) >= 100:
        return f"{v:.1f}"
    return f"{v:.{digits}f}" if abs(v) >= 0.001 or v == 0 else f"{v:.2g}"


def _p(v: float | None) -> str:
    if v is None:
        return "-"
    return "<0.001" if v < 0.001 else f"{v:.3f}"


def _signed(v: float | None) -> str:
    s = _f(v)
    return ("+" + s) if v is not None and v > 0 else s


def render(comparisons: list[Comparison], fmt: str = "md") -> str:
    if fmt not in FORMATS:
        raise CompareError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    return {"md": _markdown, "latex": _latex, "json": _json}[fmt](comparisons)


def _md(text: str) -> str:
    text = " ".join(str(text).split())
    for ch in "\\|`*_[]<>":
        text = text.replace(ch, "\\" + ch)
    return text


def _summary_line(c: Comparison) -> str:
    t = c.tally()
    n = sum(t.values())
    return (f"{c.a} against {c.b}: better on {t['better']}, worse on {t['worse']}, no detectable difference on "
            f"{t['no detectable difference']} of {n} metrics (Holm-adjusted Wilcoxon p < {c.alpha:g})")


def _markdown(comparisons: list[Comparison]) -> str:
    out = []
    for c in comparisons:
        out.append(f"### {_md(c.a)} against {_md(c.b)} on {_md(c.dataset)} ({_md(', '.join(c.tasks))})")
        out.append("")
        if not c.metrics:
            out += [f"- {_md(note)}" for note in c.notes] + [""]
            continue
        out.append(f"| metric | {_md(c.a)} | {_md(c.b)} | difference [95% CI] | pairs | wins/ties/losses | "
                   "p | p (Holm) | verdict |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---|")
        corpus_only = [f"{m.task}.{m.metric}" for m in c.metrics if m.note.startswith("corpus-level")]
        for m in c.metrics:
            if m.note.startswith("corpus-level"):
                continue
            arrow = {True: " ↑", False: " ↓"}.get(m.higher_is_better, "")
            name = f"{m.task}.{m.metric}{arrow}"
            if m.diff is None:
                out.append(f"| {_md(name)} | - | - | - | {m.n_pairs} | - | - | - | {_md(m.note or m.verdict)} |")
                continue
            unit = f" {m.unit}" if m.unit else ""
            diff = f"{_signed(m.diff)}{unit} [{_f(m.ci_low)}, {_f(m.ci_high)}]"
            wtl = f"{m.wins}/{m.ties}/{m.losses}" if m.higher_is_better is not None else "-"
            unp = f" (+{m.n_unpaired} unpaired)" if m.n_unpaired else ""
            out.append(f"| {_md(name)} | {_f(m.mean_a)} | {_f(m.mean_b)} | {diff} | {m.n_pairs}{unp} | {wtl} | "
                       f"{_p(m.p)} | {_p(m.p_holm)} | {m.verdict} |")
        out.append("")
        out.append(_summary_line(c) + ".")
        if corpus_only:
            out.append(f"- corpus-level only, no per-item values to pair: {_md(', '.join(corpus_only))}")
        for note in c.notes:
            out.append(f"- {_md(note)}")
        out.append("")
    out.append(f"Differences are {comparisons[0].a} minus the other codec, means over the items both measured, "
               "with paired bootstrap intervals (2,000 resamples, seeded); wins count items where "
               f"{comparisons[0].a} is better. Generated by bench compare.")
    return "\n".join(out) + "\n"


def _tex(text: str) -> str:
    from bench.leaderboard import _tex as esc

    return esc(text)


def _latex(comparisons: list[Comparison]) -> str:
    out = []
    for c in comparisons:
        if not any(m.diff is not None for m in c.metrics):
            continue
        out += [f"% {c.a} against {c.b} on {c.dataset} ({', '.join(c.tasks)}); generated by bench compare",
                "\\begin{tabular}{lrrrrrl}", "\\toprule",
                f"Metric & {_tex(c.a)} & {_tex(c.b)} & $\\Delta$ [95\\% CI] & W/T/L & $p_\\mathrm{{Holm}}$ & Verdict \\\\",
                "\\midrule"]
        for m in c.metrics:
            if m.diff is None:
                continue
            arrow = {True: " $\\uparrow$", False: " $\\downarrow$"}.get(m.higher_is_better, "")
            wtl = f"{m.wins}/{m.ties}/{m.losses}" if m.higher_is_better is not None else "--"
            p = "--" if m.p_holm is None else ("$<$0.001" if m.p_holm < 0.001 else f"{m.p_holm:.3f}")
            out.append(f"{_tex(m.task + '.' + m.metric)}{arrow} & {_f(m.mean_a)} & {_f(m.mean_b)} & "
                       f"{_signed(m.diff)} {{\\scriptsize [{_f(m.ci_low)}, {_f(m.ci_high)}]}} & {wtl} & {p} & "
                       f"{_tex(m.verdict)} \\\\")
        out += ["\\bottomrule", "\\end{tabular}", ""]
    return "\n".join(out)


def _json(comparisons: list[Comparison]) -> str:
    data = {"kind": "bench.comparison", "schema_version": 1, "comparisons": [
        {**{k: v for k, v in dataclasses.asdict(c).items() if k != "metrics"}, "tally": c.tally(),
         "metrics": [dataclasses.asdict(m) for m in c.metrics]} for c in comparisons]}
    return json.dumps(data, indent=2, sort_keys=True) + "\n"
