"""The engine configured as bagpipes (Carnall et al. 2018) models a galaxy: reference use only.

Used by ``tests-integration/test_vs_bagpipes.py`` (the engine against bagpipes' model
spectra) and ``tools/bench/bench_vs_bagpipes.py`` (fits side by side). Nothing here
imports bagpipes; the settings are written from its documentation and config file, and
the test checks them against bagpipes itself.
"""

from __future__ import annotations

import numpy as np

#: bagpipes' cosmology (``bagpipes.utils.cosmo``): FlatLambdaCDM(H0=70, Om0=0.3).
BAGPIPES_H0 = 70.0
BAGPIPES_OM0 = 0.3
#: bagpipes' birth-cloud age (``t_bc`` of our fits, Gyr) and DL07 dust-emission values.
DL07 = {"duste_qpah": 2.0, "duste_umin": 1.0, "duste_gamma": 0.01}
#: A_V = 1.0857 tau_V (magnitudes per optical depth).
AV_PER_TAU = 2.5 / np.log(10.0)


def bagpipes_age_grid(grid, t_now_yr):
    """The grid averaged onto bagpipes' age sampling (bagpipes ``config.age_sampling``).

    bagpipes' documented sampling: ages 10**(6.0, 6.1, ...) yr below the age of the
    universe today (``emulate_sps.resample_age_grid`` with its defaults).
    """
    import emulate_sps

    return emulate_sps.resample_age_grid(grid, t_now_yr, step_dex=0.1, log_age_min=6.0,
                                         name="bc03_bagpipes_ages")  # fmt: skip


def bagpipes_cosmology():
    """`sedcore.Cosmology` of bagpipes' FlatLambdaCDM(H0=70, Om0=0.3) (astropy, no bagpipes)."""
    from astropy.cosmology import FlatLambdaCDM

    import sedcore

    return sedcore.Cosmology.from_astropy(FlatLambdaCDM(H0=BAGPIPES_H0, Om0=BAGPIPES_OM0))
