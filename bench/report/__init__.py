"""``bench report``: a static, self-contained site (leaderboards, plots, audio, provenance)
from result records; and the page look (:mod:`bench.report.page`) that the HTML leaderboard
shares. Importing this package is light: matplotlib and the codecs load only when a report is
built."""

from __future__ import annotations

from typing import Any

__all__ = ["build_report"]


def build_report(*args: Any, **kwargs: Any) -> Any:
    """See :func:`bench.report.site.build_report`."""
    from bench.report.site import build_report as build

    return build(*args, **kwargs)
