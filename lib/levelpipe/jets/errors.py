"""The family's error: every bad input names its file and place (``file:place: what``)."""
from levelpipe.errors import LevelpipeError


class JetsError(LevelpipeError):
    """Solar Jet Hunter input (HEK response, cutout, FITS, export CSV) that cannot be used."""
