"""Input/output shared by all families: the one netCDF writer, atomic file output."""
from levelpipe.io.atomic import atomic_output  # noqa: F401
from levelpipe.io.netcdf import write_netcdf, read_netcdf  # noqa: F401
