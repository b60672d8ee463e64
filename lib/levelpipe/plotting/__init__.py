"""Plots shared by all families: world maps with coastlines (no downloads), image quicklooks.

Every figure is drawn on a bare Agg `Figure` (no pyplot state, safe in parallel jobs) and written
through `levelpipe.io.atomic_output` with no timestamp or software tag in the PNG, so the same
input gives the same PNG bytes.
"""
from levelpipe.plotting.maps import coastline_paths, kernel_field, quicklook_image, world_map  # noqa: F401
