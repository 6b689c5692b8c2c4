"""Shared test configuration: hypothesis profiles and the traces folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# "ci": more examples and no deadline (the machine is shared and noisy);
# "dev": quick local runs. Select with RUNTIME_ALLOC_HYPOTHESIS_PROFILE; CI=true picks "ci".
settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("default", max_examples=100, deadline=None)
settings.register_profile("dev", max_examples=20, deadline=None)
settings.load_profile(
    os.environ.get("RUNTIME_ALLOC_HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default")
)

#: Real public cluster traces kept beside the repository (never copied into it).
TRACES = Path(__file__).resolve().parents[2] / "shared" / "traces"


@pytest.fixture
def traces_dir() -> Path:
    """The shared traces folder; tests that need it skip cleanly when it is absent."""
    if not TRACES.is_dir():
        pytest.skip(f"traces folder {TRACES} is absent")
    return TRACES
