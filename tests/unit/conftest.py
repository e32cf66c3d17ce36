"""Fixtures the unit tests share."""
import pytest


@pytest.fixture(scope="session")
def rules():
    """The shipped classification rules."""
    from profiler.triage import load_rules

    return load_rules()
