"""Helpers of the Solar Jet Hunter tests: settings loaded from config/jets.yaml, bundle paths,
the real files of ../shared/data/jets (tests that need them skip, saying so, without them)."""
from __future__ import annotations

from pathlib import Path

from conftest import shared_data
from levelpipe.jets.settings import JetsSettings
from levelpipe.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config" / "jets.yaml"
BUNDLE = REPO / "resources" / "jets"
#: the bundled SIMULATED classifications and HEK response (resources/jets/SOURCE.md)
SIMULATED_EXPORT = BUNDLE / "classifications" / "sample_simulated_15803.csv"
SIMULATED_HEK = BUNDLE / "hek" / "sample_simulated_hek.txt"


def settings(**overrides) -> JetsSettings:
    """config/jets.yaml through the model, with `overrides` merged over it."""
    return load_settings(JetsSettings, CONFIG, overrides)


def real(name: str) -> Path:
    """A real file of ../shared/data/jets (hek_1.txt, class.csv, old.csv, ...): not in the
    bundle, because its licence is unknown (shared/data/jets/README.md); skips without it."""
    return shared_data("jets") / name
