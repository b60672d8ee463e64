"""Shared fixtures and helpers of the FOXSI tests (imported by name; not a conftest so that
`from conftest import ...` in other families keeps meaning tests/conftest.py)."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml

from levelpipe.foxsi import simulator
from levelpipe.foxsi.config import L1Settings, L2Settings

REPO = Path(__file__).resolve().parents[2]
CAL = REPO / "resources" / "foxsi" / "calibration"
ALL_FAULTS = {"bit_flip": 0.01, "drop_bytes": 0.01, "insert_bytes": 0.01, "sync_loss": 0.01, "missing": 0.01,
              "truncated_tail": True}


@pytest.fixture(scope="session")
def foxsi_config() -> dict:
    return yaml.safe_load((REPO / "config" / "foxsi.yaml").read_text())


@pytest.fixture(scope="session")
def flight2_config() -> dict:
    """config/foxsi2.yaml as the plain dict the workflow passes to the make_* steps."""
    return simulator.flight_config("foxsi2")


@pytest.fixture(scope="session")
def flight2():
    """FOXSI-2 as a `config.Flight` (quantities)."""
    return simulator.load_flight("foxsi2")


@pytest.fixture(scope="session")
def flight1():
    return simulator.load_flight("foxsi1")


@pytest.fixture(scope="session")
def l1_settings(foxsi_config):
    return L1Settings.from_config(foxsi_config["l1"])


@pytest.fixture(scope="session")
def l2_settings(foxsi_config):
    return L2Settings.from_config(foxsi_config["l2"])


def scenario(**changes) -> dict:
    sc = copy.deepcopy(simulator.default_scenario())
    sc.update(changes)
    return sc


@pytest.fixture(scope="session")
def sim2(flight2):
    """The bundled FOXSI-2 WSMR sample, regenerated in memory with its truth."""
    return simulator.simulate(flight2, simulator.default_scenario(), CAL)


def as_bytes(sim) -> np.ndarray:
    return np.frombuffer(sim.data, dtype=np.uint8)
