"""The one way levelpipe makes and saves a figure.

Every plot is drawn on a bare Agg ``Figure`` (no pyplot state: safe in threads and parallel
jobs, nothing to close) and written by ``save_png``: atomically (a failed step leaves no PNG)
and with no software tag or timestamp in the file, so the same input gives the same bytes.
"""
from __future__ import annotations

import os
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from levelpipe.io.atomic import atomic_output

_PNG_METADATA = {"Software": None}


def new_figure(width_in: float, height_in: float, dpi: int = 100, layout: str | None = "constrained") -> Figure:
    fig = Figure(figsize=(width_in, height_in), dpi=dpi, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Figure, path: str | os.PathLike, dpi: int | None = None) -> Path:
    if fig.canvas is None or not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi or fig.dpi, metadata=_PNG_METADATA)
    return Path(path)
