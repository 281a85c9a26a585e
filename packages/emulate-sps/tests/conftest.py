"""Shared helpers of the emulate-sps tests."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest


def _emulator_params(em, n=4, seed=0):
    """``n`` random galaxies inside the small test emulators' training box, float32."""
    rng = np.random.default_rng(seed)
    p = {
        "z": rng.uniform(0.5, 6.0, n), "log_mass": rng.uniform(8, 11, n),
        "log_zsol": rng.uniform(-1.5, 0.0, n), "dust2": rng.uniform(0, 1, n),
        "dust1": rng.uniform(0, 1, n), "sfh_log_sfr_ratios": rng.normal(0, 0.3, (n, 6)),
    }  # fmt: skip
    return {k: jnp.asarray(p[k], jnp.float32) for k in em.param_names}


@pytest.fixture(scope="session")
def emulator_params():
    """``emulator_params(em, n=4, seed=0)``: a batch of parameters for emulator ``em``."""
    return _emulator_params
