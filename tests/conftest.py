"""Shared fixtures. Oracle tests use the ``torch`` fixture, which skips them when PyTorch is absent."""
import numpy as np
import pytest


@pytest.fixture
def rng():
    """A fresh, seeded Generator per test: tests never share random state."""
    return np.random.default_rng(20261122)


@pytest.fixture(scope="session")
def torch():
    """PyTorch in float64, or a skip with the reason (CI installs torch==2.13.0; users need not)."""
    torch = pytest.importorskip(
        "torch", reason="PyTorch is not installed: oracle tests need `pip install torch==2.13.0` (CI does this)"
    )
    torch.set_default_dtype(torch.float64)
    return torch
