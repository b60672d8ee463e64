"""levelpipe: raw telemetry to calibrated level products for small space-science missions.

The library is importable without Snakemake; the workflow's scripts are thin adapters onto it.
"""
__version__ = "0.1.0"

from levelpipe.errors import LevelpipeError  # noqa: F401  (the one exception root users catch)
