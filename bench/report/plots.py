"""The report's figures, drawn by matplotlib into SVG files (no hand-drawn graphics).

Each function takes plain numbers and writes one file; none reads records. SVGs are written
with a fixed hash salt and no date, so the same records give the same files.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from typing import Any

from bench.results import ResultError


@dataclasses.dataclass(frozen=True)
class Point:
    family: str
    label: str
    x: float
    y: float
    lo: float | None = None
    hi: float | None = None
    order: float = 0.0  # orders points that share an x (mu-law presets share a token rate)


def _plt() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ResultError("bench report draws its plots with matplotlib, which is not installed: "
                          "pip install 'bench[report]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "bench-report", "svg.fonttype": "path", "font.size": 9,
                         "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
                         "grid.alpha": 0.3, "figure.dpi": 100})
    return plt


def _finite(*vals: float | None) -> bool:
    return all(v is not None and math.isfinite(v) for v in vals)


def _save(fig: Any, path: str) -> None:
    fig.savefig(path, format="svg", bbox_inches="tight", metadata={"Date": None})
    import matplotlib.pyplot as plt

    plt.close(fig)


def line_plot(points: list[Point], path: str, *, xlabel: str, ylabel: str, title: str, logx: bool = True,
              integer_x: bool = False, label_points: bool = False) -> None:
    """One line per family through its points (sorted by x), a shaded band from each point's
    interval, markers at the points."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    fams: dict[str, list[Point]] = defaultdict(list)
    for p in points:
        if _finite(p.x, p.y) and (p.x > 0 or not logx):
            fams[p.family].append(p)
    if not fams:
        plt.close(fig)
        raise ValueError("no finite points to draw")
    colors = plt.get_cmap("tab10").colors + plt.get_cmap("Dark2").colors
    for i, (fam, pts) in enumerate(sorted(fams.items())):
        pts.sort(key=lambda p: (p.x, p.order, p.label))
        color = colors[i % len(colors)]
        xs, ys = [p.x for p in pts], [p.y for p in pts]
        ax.plot(xs, ys, "-o", color=color, ms=4, lw=1.4, label=f"{fam} ({len(pts)})")
        band = [p for p in pts if _finite(p.lo, p.hi)]
        if len(band) > 1:
            ax.fill_between([p.x for p in band], [p.lo for p in band], [p.hi for p in band], color=color,
                            alpha=0.18, lw=0)
        elif band:
            ax.errorbar([band[0].x], [band[0].y], yerr=[[band[0].y - band[0].lo], [band[0].hi - band[0].y]],
                        color=color, capsize=3, lw=1)
        if label_points:
            for p in pts:
                ax.annotate(p.label, (p.x, p.y), fontsize=6, color=color, xytext=(3, 3), textcoords="offset points")
    if logx:
        ax.set_xscale("log")
    if integer_x:
        ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10, loc="left")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, title="family (points)",
              title_fontsize=7)
    _save(fig, path)


@dataclasses.dataclass(frozen=True)
class Bar:
    group: str  # the codec
    metric: str
    value: float
    lo: float | None
    hi: float | None


def probe_bars(bars: list[Bar], chance: dict[str, float], path: str, *, title: str, ylabel: str) -> None:
    """Grouped bars (one group per codec, one bar per metric) with their intervals, and each
    group's chance level as a dashed black line across it."""
    plt = _plt()
    groups = list(dict.fromkeys(b.group for b in bars))
    metrics = list(dict.fromkeys(b.metric for b in bars))
    if not groups:
        raise ValueError("no bars to draw")
    fig, ax = plt.subplots(figsize=(min(12.0, max(4.8, 0.45 * len(groups) * max(1, len(metrics)) + 1.5)), 3.4))
    width = 0.8 / len(metrics)
    colors = plt.get_cmap("tab10").colors
    by = {(b.group, b.metric): b for b in bars}
    for j, m in enumerate(metrics):
        xs, ys, err_lo, err_hi = [], [], [], []
        for i, g in enumerate(groups):
            b = by.get((g, m))
            if b is None or not _finite(b.value):
                continue
            xs.append(i - 0.4 + width * (j + 0.5))
            ys.append(b.value)
            err_lo.append(b.value - b.lo if _finite(b.lo) else 0.0)
            err_hi.append(b.hi - b.value if _finite(b.hi) else 0.0)
        ax.bar(xs, ys, width=width * 0.92, color=colors[j % len(colors)], label=m,
               yerr=[err_lo, err_hi], capsize=2, error_kw={"lw": 0.8})
    first = True
    for i, g in enumerate(groups):
        if g in chance and _finite(chance[g]):
            ax.hlines(chance[g], i - 0.45, i + 0.45, colors="black", linestyles="dashed", lw=1.2,
                      label="chance" if first else None)
            first = False
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, rotation=40, ha="right", fontsize=7)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10, loc="left")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    _save(fig, path)
