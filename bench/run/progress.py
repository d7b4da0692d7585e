"""Progress of a run on stderr: a bar on a terminal, plain lines elsewhere."""

from __future__ import annotations

import os
import time
from typing import Any

from bench.run.options import RunError


def _progress(enabled: bool):
    """A rich progress bar on stderr: count, rate, elapsed time and ETA."""
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn,
                               SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn)
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task):  # items per second, or seconds per item when slow
            speed = task.finished_speed or task.speed
            if not speed:
                return Text("-- it/s")
            return Text(f"{speed:.1f} it/s" if speed >= 1 else f"{1 / speed:.1f} s/it")

    return Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        RateColumn(), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
        console=Console(stderr=True), disable=not enabled, transient=False,
    )


class ProgressReport:
    """Progress of a run on stderr, per item: a rich bar (count, rate, elapsed, ETA) on a
    terminal; elsewhere (CI logs, ``| tee``) one plain line every ``interval`` seconds, whether
    or not an item finished, and a last line at the end."""

    def __init__(self, label: str, total: int, mode: str, interval: float | None = None,
                 stream: Any = None):
        import sys
        import threading

        self.label, self.total, self.mode = label, total, mode
        self.done = self.failed = 0
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval if interval is not None else _env_interval()
        self._t0 = time.perf_counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._bar = self._thread = None
        if mode == "bar":
            self._rich = _progress(True)
            self._rich.start()
            self._bar = self._rich.add_task(label, total=total)
        elif mode == "lines":
            self._thread = threading.Thread(target=self._tick, daemon=True)
            self._thread.start()

    def line(self) -> str:
        elapsed = time.perf_counter() - self._t0
        rate = self.done / elapsed if elapsed > 0 else 0.0
        speed = (f"{rate:.2f} items/s" if rate >= 1 else f"{1 / rate:.1f} s/item") if rate > 0 else "-- items/s"
        eta = f", eta {_clock((self.total - self.done) / rate)}" if rate > 0 and self.done < self.total else ""
        pct = 100.0 * self.done / self.total if self.total else 100.0
        failed = f", {self.failed} with failures" if self.failed else ""
        return (f"{self.label}: {self.done}/{self.total} items ({pct:.0f}%), {speed}{failed}, "
                f"elapsed {_clock(elapsed)}{eta}")

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                print(self.line(), file=self.stream, flush=True)

    def advance(self, failed: bool = False) -> None:
        with self._lock:
            self.done += 1
            self.failed += bool(failed)
        if self._bar is not None:
            desc = f"{self.label} [red]{self.failed} failed[/red]" if self.failed else self.label
            self._rich.update(self._bar, advance=1, description=desc)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            print(self.line(), file=self.stream, flush=True)
        if self._bar is not None:
            self._rich.stop()

    def __enter__(self) -> "ProgressReport":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def _progress_mode(progress: bool | str) -> str:
    import sys

    if progress is True or progress == "auto":
        return "bar" if sys.stderr.isatty() else "lines"
    if progress is False or progress == "off":
        return "off"
    if progress not in ("bar", "lines"):
        raise RunError(f"progress must be auto, bar, lines or off, got {progress!r}")
    return str(progress)


def _env_interval() -> float:
    """Seconds between plain progress lines: BENCH_PROGRESS_INTERVAL (at least 0.2), else 10."""
    text = os.environ.get("BENCH_PROGRESS_INTERVAL", "10")
    try:
        value = float(text)
    except ValueError:
        raise RunError(f"BENCH_PROGRESS_INTERVAL must be a number of seconds, got {text!r}") from None
    return max(0.2, value)

