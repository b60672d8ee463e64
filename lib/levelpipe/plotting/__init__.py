"""Plots shared by all families: one figure maker and PNG saver (`figures`), one coastline
reader (`coastlines`), world maps with an interpolated field and image quicklooks (`maps`).

Every figure is a bare Agg `Figure` (no pyplot state, safe in parallel jobs) written through
`save_png` (atomic, no timestamp or software tag: the same input gives the same PNG bytes).
"""
from levelpipe.plotting.coastlines import coastline_paths, coastline_segments  # noqa: F401
from levelpipe.plotting.figures import new_figure, save_png  # noqa: F401

_MAPS = {"kernel_field", "quicklook_image", "world_map"}


def __getattr__(name):
    # maps needs scipy.spatial (about 0.3 s to import): only the jobs that draw maps pay for it
    if name in _MAPS:
        from levelpipe.plotting import maps

        return getattr(maps, name)
    raise AttributeError(f"module 'levelpipe.plotting' has no attribute {name!r}")
