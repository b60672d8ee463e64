"""Helpers of the Solar Jet Hunter tests: settings loaded from config/jets.yaml, bundle paths."""
from __future__ import annotations

from pathlib import Path

from levelpipe.jets.settings import JetsSettings
from levelpipe.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config" / "jets.yaml"
BUNDLE = REPO / "resources" / "jets"


def settings(**overrides) -> JetsSettings:
    """config/jets.yaml through the model, with `overrides` merged over it."""
    return load_settings(JetsSettings, CONFIG, overrides)

