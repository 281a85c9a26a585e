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
    universe today, bin edges at the log midpoints, the first at 0 and the last at
    ``t_now_yr``. Each new bin is the constant-SFR (time-weighted) average of the native
    SSPs, native SSP i standing for the bin between the linear midpoints of its
    neighbouring ages (an age-0 SSP, equal to the first, starts the native grid as in the
    bagpipes file). Surviving fractions are interpolated at the new ages.
    """
    import sedcore

    ages = np.concatenate([[0.0], 10.0 ** np.asarray(grid.log_age_yr, dtype=np.float64)])
    lnu = np.asarray(grid.lnu_lsun_per_hz_per_msun, dtype=np.float64)
    lnu = np.concatenate([lnu[:, :1], lnu], axis=1)
    frac = np.asarray(grid.surviving_mass_frac, dtype=np.float64)
    frac = np.concatenate([frac[:, :1], frac], axis=1)
    raw_edges = np.concatenate([[0.0], 0.5 * (ages[1:] + ages[:-1]), [max(ages[-1], t_now_yr)]])
    log_new = np.arange(6.0, np.log10(t_now_yr), 0.1)
    new_edges = np.concatenate([[0.0], 10 ** (0.5 * (log_new[1:] + log_new[:-1])), [t_now_yr]])
    overlap = np.clip(
        np.minimum(new_edges[1:, None], raw_edges[None, 1:])
        - np.maximum(new_edges[:-1, None], raw_edges[None, :-1]),
        0.0, None,
    )  # fmt: skip
    weights = overlap / overlap.sum(axis=1, keepdims=True)
    new_lnu = np.einsum("na,maw->mnw", weights, lnu)
    new_frac = np.stack([np.interp(10**log_new, ages, f) for f in frac])
    return sedcore.SSPGrid.create(
        log_new, grid.log_zsol, grid.wave_aa, new_lnu, new_frac, name="bc03_bagpipes_ages", z_sun=grid.z_sun
    )


def bagpipes_cosmology():
    """`sedcore.Cosmology` of bagpipes' FlatLambdaCDM(H0=70, Om0=0.3) (astropy, no bagpipes)."""
    from astropy.cosmology import FlatLambdaCDM

    import sedcore

    return sedcore.Cosmology.from_astropy(FlatLambdaCDM(H0=BAGPIPES_H0, Om0=BAGPIPES_OM0))
