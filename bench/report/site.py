"""``bench report``: a static site from result records (see docs/report.md).

The site is a folder: ``index.html`` (leaderboards per task, rate-distortion plots, RVQ depth
curves, probe bars, provenance), ``plots.html`` (every scored metric against kbps and tokens/s),
``codecs/<codec>.html`` (all of one codec's numbers, audio players, each record's provenance),
``plots/*.svg`` and ``audio/**/*.wav``. Pages use relative links only and inline CSS/JS, so the
folder opens from disk. Nothing here assumes a task or metric it knows: an unknown task shows
as a table, and a plot that cannot be drawn says why in its place.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import time
from collections import defaultdict
from typing import Any, Callable

from bench.leaderboard import _fmt, _kbps, _metric_names, _run_key, codec_label, html_table, select_latest
from bench.report.page import Cell, Column, esc, kv, page, table
from bench.results import ResultError, find_records

#: Metrics a task (such as a future ``tokens`` task) may report with the codec's token rate.
TOKEN_RATE_METRICS = ("tokens_per_s", "tokens_per_second", "token_rate")
#: Codec config keys that count residual quantizer levels (RVQ depth).
DEPTH_KEYS = ("n_q", "n_quantizers", "num_quantizers", "n_codebooks")
#: Tasks first on the pages, in this order; any other task follows, by name.
TASK_ORDER = ("reconstruction", "asr", "speaker", "pitch", "probe", "tokens", "abx")
#: Scored metrics per task drawn on the index page (every scored metric is on plots.html).
INDEX_PLOTS_PER_TASK = 3


@dataclasses.dataclass
class CodecEntry:
    key: str  # the run key
    label: str
    family: str
    slug: str
    records: list[dict] = dataclasses.field(default_factory=list)

    @property
    def info(self) -> dict:
        return self.records[0]["codec"]

    @property
    def kbps(self) -> float | None:
        v = _kbps(self.records[0])
        return v if v is not None and math.isfinite(v) else None

    @property
    def tokens_per_s(self) -> float | None:
        for r in self.records:
            for m in TOKEN_RATE_METRICS:
                v = (r["metrics"].get(m) or {}).get("value")
                if isinstance(v, (int, float)) and math.isfinite(v):
                    return float(v)
        fr, vs = self.info.get("frame_rate"), self.info.get("vocab_sizes")
        if isinstance(fr, (int, float)) and isinstance(vs, list) and vs:
            return float(fr) * len(vs)
        return None

    @property
    def depth(self) -> int | None:
        cfg = self.info.get("config") or {}
        for k in DEPTH_KEYS:
            if isinstance(cfg.get(k), int) and not isinstance(cfg.get(k), bool):
                return int(cfg[k])
        return None


def family_of(codec: dict) -> str:
    """The codec family: its adapter class (``bench.codecs.mulaw.MuLaw`` -> ``MuLaw``), else the
    name up to its first ``-`` or ``:``."""
    cls = codec.get("class")
    if isinstance(cls, str) and cls:
        return cls.rsplit(".", 1)[-1]
    return re.split(r"[-:]", str(codec.get("name") or "?"))[0]


def _version_key(v: str) -> tuple:
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.\-]", str(v)))


def _task_groups(records: list[dict]) -> tuple[dict[str, list[dict]], list[str]]:
    """task -> its latest records, of its newest version only (a table never mixes versions);
    plus notes on what was left out."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in select_latest(records):
        groups[str(r["task"]["name"])].append(r)
    notes = []
    for name, recs in groups.items():
        versions = sorted({str(r["task"]["version"]) for r in recs}, key=_version_key)
        if len(versions) > 1:
            keep = versions[-1]
            dropped = [r for r in recs if str(r["task"]["version"]) != keep]
            groups[name] = [r for r in recs if str(r["task"]["version"]) == keep]
            notes.append(f"task {name}: {len(dropped)} record(s) of older version(s) "
                         f"{', '.join(versions[:-1])} left out; only v{keep} is shown")
        groups[name].sort(key=lambda r: (r["dataset"]["name"], _kbps(r), codec_label(r), _run_key(r)))
    order = {t: i for i, t in enumerate(TASK_ORDER)}
    return dict(sorted(groups.items(), key=lambda kv_: (order.get(kv_[0], len(order)), kv_[0]))), notes


def _codecs(groups: dict[str, list[dict]]) -> dict[str, CodecEntry]:
    entries: dict[str, CodecEntry] = {}
    for recs in groups.values():
        for r in recs:
            key = _run_key(r)
            if key not in entries:
                entries[key] = CodecEntry(key, codec_label(r), family_of(r["codec"]), "")
            entries[key].records.append(r)
    by_label: dict[str, list[CodecEntry]] = defaultdict(list)
    for e in entries.values():
        by_label[e.label].append(e)
    for label, es in by_label.items():
        for e in es:
            if len(es) > 1:
                e.label = f"{label}@{e.key[:6]}"
            e.slug = re.sub(r"[^A-Za-z0-9._-]+", "_", e.label).strip("._")[:60] + "-" + e.key[:8]
    return dict(sorted(entries.items(), key=lambda kv_: (kv_[1].kbps or math.inf, kv_[1].label)))


def _descriptions(recs: list[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for r in recs:
        for m, info in (r["task"].get("metrics") or {}).items():
            if isinstance(info, dict):
                out.setdefault(m, info)
    return out


def _scored(recs: list[dict]) -> list[str]:
    """Metrics of a task with a direction and a number, in the task's order; where several
    records have a metric, only if its value varies (``wer_original`` is the same for every
    codec: a flat line says nothing)."""
    names = _metric_names(recs, None)
    out = []
    for m in names:
        mvs = [r["metrics"].get(m) for r in recs]
        vals = [mv["value"] for mv in mvs if mv and mv.get("higher_is_better") is not None
                and isinstance(mv.get("value"), (int, float)) and math.isfinite(mv["value"])]
        if vals and (len(vals) == 1 or max(vals) - min(vals) > 1e-9 * max(1.0, abs(max(vals)))):
            out.append(m)
    return out


class _Site:
    def __init__(self, out_dir: str, log: Callable[[str], None]):
        self.out = out_dir
        self.log = log
        self.plot_dir = os.path.join(out_dir, "plots")
        os.makedirs(self.plot_dir, exist_ok=True)
        os.makedirs(os.path.join(out_dir, "codecs"), exist_ok=True)
        self.n_plots = 0
        self.drawn: set[str] = set()
        self.problems: list[str] = []

    def figure(self, name: str, draw: Callable[[str], None], caption: str, prefix: str = "") -> str:
        """Draw one SVG with ``draw(path)``; the markup for it, or a note saying why not."""
        fname = re.sub(r"[^A-Za-z0-9._-]+", "_", name) + ".svg"
        markup = (f'<figure><img src="{esc(prefix + "plots/" + fname)}" alt="{esc(caption)}">'
                  f"<figcaption>{esc(caption)}</figcaption></figure>")
        if fname in self.drawn:  # the same figure on two pages is drawn once
            return markup
        try:
            draw(os.path.join(self.plot_dir, fname))
        except ResultError:
            raise  # matplotlib missing: the whole report says so
        except Exception as exc:  # noqa: BLE001 - one plot never stops the site
            self.problems.append(f"plot {name}: {type(exc).__name__}: {exc}")
            return f'<p class="note">plot {esc(name)} not drawn: {esc(type(exc).__name__)}: {esc(exc)}</p>'
        self.n_plots += 1
        self.drawn.add(fname)
        return markup

    def write(self, rel: str, text: str) -> None:
        path = os.path.join(self.out, rel)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)


NAV = [("index.html", "Leaderboard"), ("plots.html", "All plots"), ("index.html#codecs", "Codecs"),
       ("index.html#provenance", "Provenance")]


def _nav(prefix: str) -> list[tuple[str, str]]:
    return [(prefix + href, label) for href, label in NAV]


# -- plots ------------------------------------------------------------------------------------
def _rd_figures(site: _Site, task: str, recs: list[dict], metrics: list[str], codecs: dict[str, CodecEntry]) -> str:
    from bench.report.plots import Point, line_plot

    parts = []
    for m in metrics:
        ylabel = _ylabel(recs, m)
        for axis, xlabel in (("kbps", "measured kbps (log)"), ("tps", "tokens per second (log)")):
            pts = []
            for r in recs:
                mv = r["metrics"].get(m) or {}
                e = codecs[_run_key(r)]
                x = e.kbps if axis == "kbps" else e.tokens_per_s
                if x is None or not isinstance(mv.get("value"), (int, float)):
                    continue
                other = e.tokens_per_s if axis == "kbps" else e.kbps
                pts.append(Point(e.family, e.label, x, mv["value"], mv.get("ci_low"), mv.get("ci_high"),
                                 order=other if other is not None else 0.0))
            caption = f"{task}: {m} against {xlabel.replace(' (log)', '')}, one line per codec family, 95% band"
            parts.append(site.figure(f"rd-{task}-{m}-{axis}",
                                     lambda p, pts=pts, xl=xlabel, yl=ylabel: line_plot(
                                         pts, p, xlabel=xl, ylabel=yl, title=f"{task}: {m}"), caption))
    return '<div class="grid">' + "".join(parts) + "</div>"


def _ylabel(recs: list[dict], m: str) -> str:
    """``pesq_wb (MOS) ↑``: the metric, its unit, its direction."""
    unit = next((r["metrics"][m].get("unit") for r in recs if m in r["metrics"]), "")
    better = next((r["metrics"][m]["higher_is_better"] for r in recs if m in r["metrics"]), None)
    return f"{m}" + (f" ({unit})" if unit else "") + (" ↑" if better else " ↓" if better is False else "")


def _depth_figures(site: _Site, groups: dict[str, list[dict]], codecs: dict[str, CodecEntry]) -> str:
    """RVQ depth: each scored metric against the number of quantizer levels, for families that
    were run at two depths or more."""
    from bench.report.plots import Point, line_plot

    parts = []
    for task, recs in groups.items():
        lines: dict[str, set[int]] = defaultdict(set)
        for r in recs:
            e = codecs[_run_key(r)]
            if e.depth is not None:
                lines[_depth_line(e)].add(e.depth)
        keep = {k for k, ds in lines.items() if len(ds) >= 2}
        if not keep:
            continue
        for m in _scored(recs)[:INDEX_PLOTS_PER_TASK + 1]:
            pts = []
            for r in recs:
                e = codecs[_run_key(r)]
                mv = r["metrics"].get(m) or {}
                if e.depth is None or _depth_line(e) not in keep or not isinstance(mv.get("value"), (int, float)):
                    continue
                pts.append(Point(_depth_line(e), e.label, float(e.depth), mv["value"], mv.get("ci_low"), mv.get("ci_high")))
            parts.append(site.figure(f"depth-{task}-{m}", lambda p, pts=pts, m=m, task=task: line_plot(
                pts, p, xlabel="quantizer levels (RVQ depth)", ylabel=_ylabel(recs, m), title=f"{task}: {m} by RVQ depth",
                logx=False, integer_x=True), f"{task}: {m} against the number of RVQ levels, 95% band"))
    if not parts:
        return '<p class="note">No codec family was run at two or more RVQ depths.</p>'
    return '<div class="grid">' + "".join(parts) + "</div>"


def _depth_line(e: CodecEntry) -> str:
    cfg = {k: v for k, v in (e.info.get("config") or {}).items() if k not in DEPTH_KEYS and v not in ("", None)}
    return e.family + ("".join(f" {k}={v}" for k, v in sorted(cfg.items())) if cfg else "")


def probe_pairs(recs: list[dict]) -> list[tuple[str, list[str]]]:
    """(reference metric, the scored metrics it is the baseline of): a reference is a metric with
    no direction (``higher_is_better`` None, e.g. ``speaker_chance``); its scores share its
    name's prefix (``speaker_acc``), the same unit, and a direction (higher is better). Where
    some of them are accuracies (``acc`` a word of the name), only those."""
    names = _metric_names(recs, None)
    info: dict[str, dict] = {}
    for r in recs:
        for m, mv in r["metrics"].items():
            info.setdefault(m, mv)
    out = []
    for ref in names:
        if info[ref].get("higher_is_better") is not None or "_" not in ref:
            continue
        prefix = ref.rsplit("_", 1)[0] + "_"
        scores = [m for m in names if m != ref and m.startswith(prefix) and info[m].get("higher_is_better") is True
                  and info[m].get("unit") == info[ref].get("unit")]
        accs = [m for m in scores if _is_accuracy(m)]
        if accs or scores:
            out.append((ref, accs or scores))
    return out


def _is_accuracy(metric: str) -> bool:
    """``speaker_acc``, ``accent_acc_recon``: ``acc`` as a whole word of the name (not ``accent``)."""
    return "acc" in metric.split("_") or "accuracy" in metric.split("_")


def _probe_figures(site: _Site, groups: dict[str, list[dict]], codecs: dict[str, CodecEntry]) -> str:
    from bench.report.plots import Bar, probe_bars

    parts = []
    for task, recs in groups.items():
        for ref, scores in probe_pairs(recs):
            bars, chance = [], {}
            for r in sorted(recs, key=lambda r: (codecs[_run_key(r)].kbps or math.inf, codecs[_run_key(r)].label)):
                label = codecs[_run_key(r)].label
                if len({x["dataset"]["content_hash"] for x in recs}) > 1:
                    label += f" / {r['dataset'].get('spec') or r['dataset']['name']}"
                for m in scores:
                    mv = r["metrics"].get(m) or {}
                    if isinstance(mv.get("value"), (int, float)):
                        bars.append(Bar(label, m, mv["value"], mv.get("ci_low"), mv.get("ci_high")))
                cv = (r["metrics"].get(ref) or {}).get("value")
                if isinstance(cv, (int, float)):
                    chance[label] = float(cv)
            parts.append(site.figure(f"probe-{task}-{ref}", lambda p, bars=bars, chance=chance, ref=ref: probe_bars(
                bars, chance, p, title=f"{task}: {', '.join(scores)} (dashed: {ref})", ylabel="accuracy" if any(
                    _is_accuracy(s) for s in scores) else scores[0]),
                f"{task}: {', '.join(scores)} per codec with 95% intervals; the dashed line is {ref}"))
    if not parts:
        return '<p class="note">No task reported a score with a reference level (a chance rate).</p>'
    return "".join(parts)


# -- pages ------------------------------------------------------------------------------------
def _provenance_summary(records: list[dict]) -> str:
    vals: dict[str, set[str]] = defaultdict(set)
    packages: dict[str, set[str]] = defaultdict(set)
    for r in records:
        prov = r.get("provenance") or {}
        for k in ("bench_version", "git_commit", "python", "platform"):
            if prov.get(k) is not None:
                vals[k].add(str(prov[k]))
        for name, v in (prov.get("packages") or {}).items():
            packages[name].add(str(v))
        vals["schema_version"].add(str(r.get("schema_version")))
        vals["dataset"].add(f"{r['dataset'].get('spec') or r['dataset']['name']} ({r['dataset']['content_hash'][:12]})")
    created = sorted(str(r.get("created")) for r in records if r.get("created"))
    rows = [(k, ", ".join(sorted(v))) for k, v in sorted(vals.items())]
    if created:
        rows.append(("created", f"{created[0]} .. {created[-1]}"))
    pk = table([Column("package", text=True), Column("version(s)", text=True)],
               [[Cell(n, n), Cell(", ".join(sorted(v)), ", ".join(sorted(v)))] for n, v in sorted(packages.items())])
    return kv(rows) + "<details><summary>package versions</summary>" + pk + "</details>"


def _record_provenance(r: dict) -> str:
    prov = r.get("provenance") or {}
    ds = r["dataset"]
    rows = [
        ("task", f"{r['task']['name']} v{r['task']['version']} ({r['task'].get('key') or '-'})"),
        ("task config", json.dumps(r["task"].get("config") or {}, sort_keys=True)),
        ("dataset", f"{ds.get('spec') or ds['name']} ({ds['name']} v{ds.get('version', '?')}), "
                    f"{ds.get('n_items', '?')} of {ds.get('n_items_total', '?')} items"),
        ("dataset content hash", ds["content_hash"]),
        ("codec", f"{r['codec'].get('spec') or r['codec']['name']} ({r['codec'].get('class', '?')} "
                  f"v{r['codec'].get('version', '?')})"),
        ("codec config", json.dumps(r["codec"].get("config") or {}, sort_keys=True)),
        ("codec config hash", r["codec"]["config_hash"]),
        ("weights hash", r["codec"].get("weights_hash") or "-"),
        ("run options", json.dumps(r.get("run") or {}, sort_keys=True)),
        ("seed / limit", f"{r.get('seed')} / {r.get('limit')}"),
        ("counts", json.dumps({k: r["counts"].get(k) for k in ("requested", "measured", "failed")})),
        ("failure reasons", json.dumps(r["counts"].get("failure_reasons") or {}, sort_keys=True)),
        ("bench / git", f"{prov.get('bench_version', '?')} / {prov.get('git_commit') or '-'}"),
        ("python / platform", f"{prov.get('python', '?')} / {prov.get('platform', '?')}"),
        ("packages", json.dumps(prov.get("packages") or {}, sort_keys=True)),
        ("created", r.get("created") or "-"),
        ("timing (s)", json.dumps(r.get("timing") or {}, sort_keys=True, default=str)),
    ]
    return (f"<details><summary>{esc(r['task']['name'])} v{esc(r['task']['version'])} on "
            f"{esc(ds.get('spec') or ds['name'])}</summary>{kv(rows)}</details>")


def _codec_table(codecs: dict[str, CodecEntry]) -> str:
    cols = [Column("codec", text=True), Column("family", text=True), Column("kbps"),
            Column("tokens/s", "frame rate x streams (or a tokens task's measurement)"),
            Column("streams"), Column("frame rate (Hz)"), Column("tasks", text=True)]
    rows = []
    for e in codecs.values():
        vs = e.info.get("vocab_sizes") if isinstance(e.info.get("vocab_sizes"), list) else []
        fr = e.info.get("frame_rate")
        tasks = ", ".join(sorted({str(r["task"]["name"]) for r in e.records}))
        rows.append([Cell(e.label, e.label, href=f"codecs/{e.slug}.html"), Cell(e.family, e.family),
                     Cell(_fmt(e.kbps, 2), e.kbps), Cell(_fmt(e.tokens_per_s, 1), e.tokens_per_s),
                     Cell(len(vs) if vs else "-", len(vs) if vs else None),
                     Cell(_fmt(fr, 1) if isinstance(fr, (int, float)) else "-", fr if isinstance(fr, (int, float)) else None),
                     Cell(tasks, tasks)])
    return table(cols, rows, table_id="codecs-table")


def _index(site: _Site, records: list[dict], groups: dict[str, list[dict]], codecs: dict[str, CodecEntry],
           notes: list[str]) -> None:
    body = [f'<p class="note">{len(records)} result record(s), {len(groups)} task(s), {len(codecs)} codec run(s). '
            "Tables: each task's summary with its 95% interval (small grey numbers); click a header to sort, "
            "a codec to open its page (numbers, audio, provenance). ↑ higher is better, ↓ lower is better, "
            "no arrow: a reference level such as a chance rate. Plots: one line per codec family (the adapter "
            "class), shaded bands are the 95% intervals; kbps is measured from the tokens, tokens/s is frame "
            "rate x streams.</p>"]
    body += [f'<p class="warn">{esc(n)}</p>' for n in notes]
    body.append('<p class="note">Sections: ' + " · ".join(
        f'<a href="#task-{esc(t)}">{esc(t)}</a>' for t in groups) + ' · <a href="#depth">RVQ depth</a> · '
        '<a href="#probes">probes</a> · <a href="#codecs">codecs</a> · <a href="#provenance">provenance</a></p>')
    for task, recs in groups.items():
        version = recs[0]["task"]["version"]
        body.append(f'<h2 id="task-{esc(task)}">{esc(task)} <span class="note">v{esc(version)}</span></h2>')
        body.append(html_table(recs, _metric_names(recs, None), link=lambda r: f"codecs/{codecs[_run_key(r)].slug}.html",
                               box=len(recs) > 12))
        scored = _scored(recs)[:INDEX_PLOTS_PER_TASK]
        if scored:
            body.append(_rd_figures(site, task, recs, scored, codecs))
    body.append('<h2 id="depth">RVQ depth</h2>')
    body.append(_depth_figures(site, groups, codecs))
    body.append('<h2 id="probes">Probes and their chance levels</h2>')
    body.append(_probe_figures(site, groups, codecs))
    body.append('<h2 id="codecs">Codecs</h2>')
    body.append(_codec_table(codecs))
    body.append('<h2 id="provenance">Provenance</h2>')
    body.append(_provenance_summary(records))
    site.write("index.html", page("bench report", "\n".join(body), nav=_nav(""),
                                  subtitle="generated from result records"))


def _plots_page(site: _Site, groups: dict[str, list[dict]], codecs: dict[str, CodecEntry]) -> None:
    body = ['<p class="note">Every scored metric against measured kbps and against tokens per second, one line '
            "per codec family, shaded 95% intervals.</p>"]
    for task, recs in groups.items():
        scored = _scored(recs)
        if not scored:
            continue
        body.append(f'<h2 id="task-{esc(task)}">{esc(task)}</h2>')
        body.append(_rd_figures(site, task, recs, scored, codecs))
    site.write("plots.html", page("bench report: all plots", "\n".join(body), nav=_nav("")))


def _metrics_table(recs: list[dict]) -> str:
    cols = [Column("task", text=True), Column("dataset", text=True), Column("metric", text=True), Column("value"), Column("95% low"),
            Column("95% high"), Column("n"), Column("failed"), Column("unit", text=True), Column("better", text=True),
            Column("description", text=True)]
    rows = []
    for r in recs:
        desc = r["task"].get("metrics") or {}
        for m in _metric_names([r], None):
            mv = r["metrics"].get(m) or {}
            better = {True: "higher", False: "lower", None: "reference"}.get(mv.get("higher_is_better"), "?")
            d = (desc.get(m) or {}).get("description", "") if isinstance(desc.get(m), dict) else ""
            ds = str(r["dataset"].get("spec") or r["dataset"]["name"])
            rows.append([Cell(r["task"]["name"], r["task"]["name"]), Cell(ds, ds), Cell(m, m),
                         Cell(_fmt(mv.get("value")), mv.get("value")), Cell(_fmt(mv.get("ci_low")), mv.get("ci_low")),
                         Cell(_fmt(mv.get("ci_high")), mv.get("ci_high")), Cell(mv.get("n", "-"), mv.get("n")),
                         Cell(mv.get("n_failed", "-"), mv.get("n_failed")), Cell(mv.get("unit") or "", mv.get("unit") or ""),
                         Cell(better, better), Cell(d, d, cls="wrap")])
    return table(cols, rows, table_id="metrics-table")


def _audio_section(e: CodecEntry, maker: Any, n_samples: int, seed: int, stores: list[str]) -> tuple[str, int]:
    """The players of one codec page, and how many reconstructions were written."""
    if maker is None:
        return '<p class="note">Audio was not made for this report (--no-audio).</p>', 0
    # the dataset the audio comes from: the reconstruction task's if there is one, else the first
    recs = sorted(e.records, key=lambda r: (r["task"]["name"] != "reconstruction", r["task"]["name"]))
    base = recs[0]
    same = [r for r in recs if r["dataset"]["content_hash"] == base["dataset"]["content_hash"]]
    try:
        run_ids = maker.run_ids(base)
    except Exception as exc:  # noqa: BLE001
        return (f'<p class="warn">No audio: the dataset {esc(base["dataset"].get("spec") or base["dataset"]["name"])} '
                f"cannot be loaded here ({esc(type(exc).__name__)}: {esc(exc)}).</p>"), 0
    allowed = set(run_ids)
    chosen = [(i, f"sample (seed {seed})") for i in sample_ids_cached(run_ids, n_samples, seed)]
    for r in same:
        chosen += worst_items_of(r, stores, allowed)
    clips, problem = maker.clips(base, chosen, e.slug)
    out = [f'<p class="note">Items from {esc(base["dataset"].get("spec") or base["dataset"]["name"])}: '
           f"{n_samples} drawn with seed {seed} from the run's items (the same on every codec page for this "
           "dataset), and the worst item of each scored metric where per-item values are at hand. Both players "
           "are 16-bit WAV at 16 kHz: the reference the metrics compared against and the aligned reconstruction "
           "they scored, re-made now by loading the codec from the record.</p>"]
    if problem:
        out.append(f'<p class="warn">{esc(problem)}</p>')
    if not any("worst" in w for c in clips for w in c.why):
        out.append('<p class="note">No per-item values for this codec (the records have no items section and no '
                   "run store was found beside them), so no worst items.</p>")
    made = 0
    for c in clips:
        players = ""
        if c.error:
            players = f'<p class="warn">{esc(c.error)}</p>'
        elif c.original and c.reconstruction:
            made += 1
            players = ('<div class="players">'
                       f'<div><label>original (16 kHz reference)</label><audio controls preload="metadata" '
                       f'src="../{esc(c.original)}"></audio></div>'
                       f'<div><label>reconstruction ({esc(e.label)})</label><audio controls preload="metadata" '
                       f'src="../{esc(c.reconstruction)}"></audio></div></div>')
        out.append(f'<div class="item"><b class="item-id">{esc(c.item_id)}</b> '
                   f'<span class="why">{esc("; ".join(c.why))}</span>{players}</div>')
    return "\n".join(out), made


def sample_ids_cached(ids: list[str], n: int, seed: int) -> list[str]:
    from bench.report.listen import sample_ids

    return sample_ids(ids, n, seed)


def worst_items_of(record: dict, stores: list[str], allowed: set[str]) -> list[tuple[str, str]]:
    from bench.report.listen import worst_items

    try:
        return worst_items(record, stores, allowed)
    except Exception:  # noqa: BLE001 - a record this code does not understand gives no worst items
        return []


def _codec_page(site: _Site, e: CodecEntry, maker: Any, n_samples: int, seed: int, stores: list[str]) -> int:
    info = e.info
    vs = info.get("vocab_sizes") if isinstance(info.get("vocab_sizes"), list) else []
    facts = [("spec", info.get("spec") or info.get("name")), ("family (adapter class)", info.get("class") or e.family),
             ("run key", e.key), ("measured kbps", _fmt(e.kbps, 3)), ("tokens per second", _fmt(e.tokens_per_s, 1)),
             ("frame rate (Hz)", info.get("frame_rate", "-")), ("sample rate (Hz)", info.get("sample_rate", "-")),
             ("streams x vocabulary", f"{len(vs)} x {sorted(set(vs)) if vs else '-'}"),
             ("config", json.dumps(info.get("config") or {}, sort_keys=True))]
    audio, made = _audio_section(e, maker, n_samples, seed, stores)
    body = [kv(facts), "<h2>Listen</h2>", audio, "<h2>Numbers</h2>", _metrics_table(e.records),
            "<h2>Provenance</h2>", "".join(_record_provenance(r) for r in e.records)]
    site.write(os.path.join("codecs", e.slug + ".html"),
               page(f"codec {e.label}", "\n".join(body), nav=_nav("../")))
    return made


def _stores(paths: list[str]) -> list[str]:
    """Run stores (``bench.sqlite``) in or just above the given folders: where per-item values
    are when the records carry none."""
    out = []
    for p in paths:
        d = p if os.path.isdir(p) else os.path.dirname(os.path.abspath(p))
        for cand in (os.path.join(d, "bench.sqlite"), os.path.join(os.path.dirname(os.path.abspath(d)), "bench.sqlite")):
            if os.path.isfile(cand) and cand not in out:
                out.append(cand)
    return out


@dataclasses.dataclass(frozen=True)
class ReportSummary:
    out_dir: str
    n_records: int
    n_codecs: int
    n_plots: int
    n_clips: int
    seconds: float
    problems: tuple[str, ...]


def build_report(paths: list[str], out_dir: str, *, n_samples: int = 3, seed: int = 0, audio: bool = True,
                 log: Callable[[str], None] = lambda m: None) -> ReportSummary:
    """Write the site for the records in ``paths`` (files or folders) into ``out_dir``."""
    t0 = time.perf_counter()
    from bench.report.plots import _plt

    _plt()  # fail now, in one line, if matplotlib is missing
    records = find_records(list(paths))
    if not records:
        raise ResultError(f"no result records found in {', '.join(paths)}")
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        raise ResultError(f"cannot write the report to {out_dir}: {exc.strerror or exc}") from None
    site = _Site(out_dir, log)
    groups, notes = _task_groups(records)
    codecs = _codecs(groups)
    shown = [r for recs in groups.values() for r in recs]
    _index(site, shown, groups, codecs, notes)
    _plots_page(site, groups, codecs)
    log(f"report: index and plots written ({site.n_plots} plots); {len(codecs)} codec pages next")
    maker = None
    if audio:
        from bench.report.listen import AudioMaker

        maker = AudioMaker(out_dir, log)
    stores = _stores(list(paths))
    clips = 0
    for e in codecs.values():
        clips += _codec_page(site, e, maker, n_samples, seed, stores)
    return ReportSummary(out_dir, len(shown), len(codecs), site.n_plots, clips, time.perf_counter() - t0,
                         tuple(site.problems))
