"""The MinXSS family's error (kept in the family package so the shared ``levelpipe.errors`` stays
untouched by family work)."""
from levelpipe.errors import LevelpipeError


class MinxssError(LevelpipeError):
    """MinXSS telemetry, TLE, GOES or product input that cannot be read."""
