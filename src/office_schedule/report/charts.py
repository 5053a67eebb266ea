"""Report charts drawn headless with matplotlib's Agg canvas, saved as PNG and SVG.

Output is deterministic: fixed figure size and resolution, no dates or software versions
in the file metadata, and a fixed salt for the ids matplotlib writes into SVG.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

BLUE = "#1f77b4"
RED = "#d62728"
SIZE = (10.0, 3.2)
DPI = 100
FORMATS = ("png", "svg")
_RC = {
    "svg.hashsalt": "office-schedule",
    "svg.fonttype": "path",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_METADATA = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None}}
Series = tuple[str, np.ndarray, str]  # label, counts, colour


def _save(fig: Figure, out_dir: Path, name: str) -> list[str]:
    """Write ``name.png`` and ``name.svg`` into ``out_dir``; their file names."""
    files = []
    for ext in FORMATS:
        fig.savefig(out_dir / f"{name}.{ext}", format=ext, metadata=_METADATA[ext])
        files.append(f"{name}.{ext}")
    return files


def _new_figure() -> tuple[Figure, object]:
    fig = Figure(figsize=SIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.06, right=0.96, top=0.9, bottom=0.17)
    return fig, fig.add_subplot()


def _no_data(ax, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")


def hourly_chart(
    out_dir: Path,
    name: str,
    title: str,
    start: datetime | None,
    appointments: np.ndarray,
    cancellations: np.ndarray,
) -> list[str]:
    """Appointments (blue) and cancellations (red) per hour from ``start``."""
    with matplotlib.rc_context(_RC):
        fig, ax = _new_figure()
        n = len(appointments)
        edges = np.arange(n + 1)
        if n and start is not None:
            ax.stairs(appointments, edges, color=BLUE, fill=True, alpha=0.35, linewidth=0)
            ax.stairs(appointments, edges, color=BLUE, linewidth=1, label="appointments")
            ax.stairs(cancellations, edges, color=RED, linewidth=1, label="cancellations")
            days = n // 24
            step = 24 * max(1, -(-days // 14))
            ticks = np.arange(0, n + 1, step)
            labels = [(start + timedelta(hours=int(h))).strftime("%a %d.%m.") for h in ticks]
            ax.set_xticks(ticks, labels)
            grid = np.arange(24, n, 24)
            ax.vlines(grid, 0, 1, transform=ax.get_xaxis_transform(), colors="#ddd", lw=0.6)
            ax.set_xlim(0, n)
            ax.legend(loc="upper right", frameon=False)
            if not appointments.any() and not cancellations.any():
                _no_data(ax, "no appointments or cancellations detected")
        else:
            _no_data(ax)
        ax.set_ylim(bottom=0)
        ax.set_ylabel("per hour")
        ax.set_title(title, loc="left")
        return _save(fig, out_dir, name)


def bar_chart(
    out_dir: Path,
    name: str,
    title: str,
    xlabel: str,
    positions: Sequence[float],
    series: Sequence[Series],
    tick_step: int = 1,
) -> list[str]:
    """Grouped bars: one bar per series at each position (hours of day, days of lead time)."""
    with matplotlib.rc_context(_RC):
        fig, ax = _new_figure()
        x = np.asarray(positions, dtype=float)
        width = 0.8 / max(1, len(series))
        for i, (label, counts, colour) in enumerate(series):
            offset = (i - (len(series) - 1) / 2) * width
            ax.bar(x + offset, counts, width=width, color=colour, label=label)
        if len(x):
            ax.set_xticks(x[::tick_step])
            ax.set_xlim(x[0] - 0.6, x[-1] + 0.6)
        if not any(np.asarray(c).any() for _, c, _ in series):
            _no_data(ax)
        elif len(series) > 1:
            ax.legend(loc="upper right", frameon=False)
        ax.set_ylim(bottom=0)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("count")
        ax.set_title(title, loc="left")
        return _save(fig, out_dir, name)


def hour_of_day_chart(out_dir: Path, name: str, title: str, series: Sequence[Series]) -> list:
    """Histogram over the 24 hours of the day."""
    return bar_chart(out_dir, name, title, "hour of day", range(24), series)


def lead_time_chart(out_dir: Path, name: str, title: str, counts: np.ndarray) -> list[str]:
    """Histogram of lead times in whole days; the last bar holds everything beyond it."""
    cap = len(counts)
    step = max(1, cap // 20)
    label = f"days between booking and appointment (last bar: {cap - 1} or more)"
    return bar_chart(
        out_dir, name, title, label, np.arange(cap), [("appointments", counts, BLUE)], step
    )


def draw_all(
    jobs: Sequence[tuple],
    workers: int | None = None,
    done: Callable[[str], None] | None = None,
) -> None:
    """Run ``(chart function, out_dir, name, ...)`` jobs, in worker processes when there are
    many; ``done(name)`` after each chart, in job order."""
    workers = workers or min(4, os.cpu_count() or 1)
    # fork: the workers only draw (no polars, no store); spawn would re-run a caller's script
    if workers < 2 or len(jobs) < 8 or "fork" not in get_all_start_methods():
        for job in jobs:
            if done is not None:
                done(_run(job))
            else:
                _run(job)
        return
    with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
        chunk = -(-len(jobs) // (workers * 4))
        for name in pool.map(_run, jobs, chunksize=chunk):
            if done is not None:
                done(name)


def _run(job: tuple) -> str:
    """Draw one chart; its name."""
    func, *args = job
    func(*args)
    return args[1]


__all__ = [
    "BLUE",
    "RED",
    "bar_chart",
    "draw_all",
    "hour_of_day_chart",
    "hourly_chart",
    "lead_time_chart",
]
