"""Fixtures of the Solar Jet Hunter tests."""
import pytest

from jets_testlib import settings


@pytest.fixture(scope="session")
def jets_settings():
    return settings()
