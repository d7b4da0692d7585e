"""The one look of bench's HTML: a page template with its own CSS and a small table sorter.

Shared by ``bench leaderboard --format html`` and ``bench report``. A page is one file that
opens from disk: the CSS and the script are inline, nothing is fetched (no CDN, no web fonts).
Every string that comes from data goes through :func:`esc` (``html.escape``) or is written by
:func:`table`, which escapes each cell itself.
"""

from __future__ import annotations

import dataclasses
import html
import math
from typing import Any, Iterable

CSS = """
:root { --ink:#1d232b; --muted:#5f6b78; --line:#d9dee4; --band:#f4f6f8; --accent:#1f5fa8;
        --good:#1c7c3c; --bad:#a8321f; --warn-bg:#fff4d6; }
* { box-sizing: border-box; }
body { margin:0; color:var(--ink); background:#fff;
       font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header.top { background:#16324f; color:#fff; padding:10px 24px; display:flex; gap:24px; align-items:baseline;
             flex-wrap:wrap; }
header.top .brand { font-weight:700; font-size:18px; }
header.top nav a { color:#dce8f5; margin-right:16px; text-decoration:none; }
header.top nav a:hover { text-decoration:underline; }
main { padding:12px 24px 40px; max-width:1500px; }
h1 { font-size:24px; margin:14px 0 6px; }
h2 { font-size:19px; margin:28px 0 8px; border-bottom:2px solid var(--line); padding-bottom:4px; }
h3 { font-size:16px; margin:20px 0 6px; }
p.note, .note { color:var(--muted); font-size:13px; max-width:1100px; }
.warn { background:var(--warn-bg); border-left:4px solid #d9a400; padding:6px 10px; margin:8px 0; }
a { color:var(--accent); }
.scroll { overflow-x:auto; max-width:100%; }
.scroll.box { max-height:480px; overflow:auto; border:1px solid var(--line); }
table.bench { border-collapse:collapse; font-size:13px; margin:6px 0 4px; }
table.bench th, table.bench td { border-bottom:1px solid var(--line); padding:4px 10px; text-align:right;
                                 white-space:nowrap; vertical-align:top; }
table.bench th.t, table.bench td.t { text-align:left; }
table.bench td.wrap { white-space:normal; max-width:420px; text-align:left; }
table.bench thead th { background:var(--band); position:sticky; top:0; font-weight:600; }
table.bench th.sortable { cursor:pointer; user-select:none; }
table.bench th.sortable::after { content:" \\2195"; color:#9aa5b1; font-size:11px; }
table.bench th[aria-sort=ascending]::after { content:" \\25B2"; color:var(--ink); }
table.bench th[aria-sort=descending]::after { content:" \\25BC"; color:var(--ink); }
table.bench tbody tr:nth-child(even) { background:#fafbfc; }
table.bench tbody tr:hover { background:#eef4fb; }
table.bench .ci { color:var(--muted); font-size:11px; }
table.bench .fail { color:var(--bad); font-size:11px; }
dl.kv { display:grid; grid-template-columns:max-content 1fr; gap:2px 14px; font-size:13px; margin:6px 0; }
dl.kv dt { color:var(--muted); } dl.kv dd { margin:0; font-family:ui-monospace, Menlo, Consolas, monospace;
                                            word-break:break-all; }
details { border:1px solid var(--line); border-radius:4px; padding:4px 10px; margin:6px 0; }
details summary { cursor:pointer; font-weight:600; }
figure { margin:10px 0; display:inline-block; vertical-align:top; }
figure img { max-width:100%; border:1px solid var(--line); background:#fff; }
figcaption { color:var(--muted); font-size:12px; max-width:640px; }
.grid { display:flex; flex-wrap:wrap; gap:12px; }
.legend { font-size:12px; color:var(--muted); margin:4px 0 10px; }
.legend b { color:var(--ink); }
.item { border:1px solid var(--line); border-radius:4px; padding:8px 12px; margin:8px 0; }
.item .why { color:var(--muted); font-size:12px; }
.players { display:flex; flex-wrap:wrap; gap:18px; align-items:center; margin-top:4px; }
.players label { font-size:12px; color:var(--muted); display:block; }
audio { height:32px; width:300px; }
code { font-family:ui-monospace, Menlo, Consolas, monospace; font-size:12px; }
"""

#: Sorts a table.bench on a click of a sortable header: numbers by data-v (missing last), text
#: by locale order; a second click reverses. Own code, no library.
SORT_JS = """
(function () {
  function key(td) {
    if (!td) return null;
    var v = td.getAttribute('data-v');
    if (v === null) return td.textContent.trim().toLowerCase();
    if (v === '') return null;
    var f = parseFloat(v);
    return isNaN(f) ? v.toLowerCase() : f;
  }
  function sortBy(th) {
    var table = th.closest('table'), body = table.tBodies[0];
    var col = Array.prototype.indexOf.call(th.parentNode.children, th);
    var dir = th.getAttribute('aria-sort') === 'ascending' ? -1 : 1;
    Array.prototype.forEach.call(th.parentNode.children, function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', dir === 1 ? 'ascending' : 'descending');
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[col]), y = key(b.cells[col]);
      if (x === null && y === null) return 0;
      if (x === null) return 1;
      if (y === null) return -1;
      if (typeof x === 'number' && typeof y === 'number') return dir * (x - y);
      return dir * String(x).localeCompare(String(y));
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  document.addEventListener('DOMContentLoaded', function () {
    document.querySelectorAll('table.bench th.sortable').forEach(function (th) {
      th.addEventListener('click', function () { sortBy(th); });
    });
  });
})();
"""


def esc(value: Any) -> str:
    """Text or an attribute value from data, escaped (quotes too)."""
    return html.escape(str(value), quote=True)


@dataclasses.dataclass(frozen=True)
class Cell:
    """One table cell: ``text`` (escaped when written), the value it sorts by (a number, or
    None for missing), and optional link, tooltip and small second line (an interval)."""

    text: Any
    sort: float | str | None = None
    href: str | None = None
    title: str | None = None
    sub: str | None = None
    fail: str | None = None
    cls: str = ""


@dataclasses.dataclass(frozen=True)
class Column:
    label: str
    title: str | None = None
    text: bool = False  # left-aligned text column (else a number)


def _sort_attr(v: float | str | None) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ' data-v=""'
    if isinstance(v, (int, float)):
        return f' data-v="{float(v)!r}"'
    return f' data-v="{esc(v)}"'


def table(columns: list[Column], rows: Iterable[list[Cell]], table_id: str | None = None, box: bool = False) -> str:
    """A sortable ``table.bench``; every header and cell escaped here. ``box``: a long table
    scrolls inside a box of bounded height (its header stays in view)."""
    head = "".join(
        f'<th class="sortable{" t" if c.text else ""}"'
        + (f' title="{esc(c.title)}"' if c.title else "") + f">{esc(c.label)}</th>"
        for c in columns)
    body = []
    for row in rows:
        tds = []
        for col, cell in zip(columns, row):
            classes = " ".join(x for x in ("t" if col.text else "", cell.cls) if x)
            inner = esc(cell.text)
            if cell.href:
                inner = f'<a href="{esc(cell.href)}">{inner}</a>'
            if cell.sub:
                inner += f' <span class="ci">{esc(cell.sub)}</span>'
            if cell.fail:
                inner += f' <span class="fail">{esc(cell.fail)}</span>'
            attrs = (f' class="{classes}"' if classes else "") + _sort_attr(cell.sort)
            if cell.title:
                attrs += f' title="{esc(cell.title)}"'
            tds.append(f"<td{attrs}>{inner}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    ident = f' id="{esc(table_id)}"' if table_id else ""
    return (f'<div class="scroll{" box" if box else ""}"><table class="bench"{ident}>\n<thead><tr>{head}</tr></thead>\n<tbody>\n'
            + "\n".join(body) + "\n</tbody>\n</table></div>\n")


def kv(pairs: Iterable[tuple[str, Any]]) -> str:
    """A definition list of (label, value), both escaped."""
    return '<dl class="kv">' + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in pairs) + "</dl>\n"


def page(title: str, body: str, nav: list[tuple[str, str]] | None = None, subtitle: str = "") -> str:
    """A whole HTML document: ``body`` is trusted markup built from escaped parts."""
    links = "".join(f'<a href="{esc(href)}">{esc(label)}</a>' for href, label in (nav or []))
    sub = f'<span class="note" style="color:#b8c7d8">{esc(subtitle)}</span>' if subtitle else ""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n<script>{SORT_JS}</script>\n</head>\n<body>\n"
        f'<header class="top"><span class="brand">bench</span><nav>{links}</nav>{sub}</header>\n'
        f"<main>\n<h1>{esc(title)}</h1>\n{body}\n</main>\n</body>\n</html>\n"
    )
