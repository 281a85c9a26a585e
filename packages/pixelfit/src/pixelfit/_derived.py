"""Physical quantities derived from one posterior draw (pure JAX, one draw per call).

Masses come from the engine (``emulate_sps.stellar_masses``: mass formed and surviving
stellar mass on the SSP grid), star-formation rates and ages from the SFH
(``sfh_priors.average_sfr`` and ``sfh_priors.mass_weighted_age_yr``) at the age of the
universe at the draw's redshift.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import emulate_sps
import jax
import jax.numpy as jnp
import sfh_priors

from ._model import FitModel

__all__ = ["DERIVED_UNITS", "DerivedQuantities", "derived_quantities"]


class DerivedQuantities(NamedTuple):
    """Quantities derived from one set of engine parameters.

    Attributes:
        mass_formed_msun: total stellar mass formed, M_sun.
        surviving_mass_msun: stellar mass still present (the grid's surviving fraction),
            M_sun.
        sfr_10myr_msun_per_yr: SFR averaged over the last 10 Myr, M_sun/yr.
        sfr_100myr_msun_per_yr: SFR averaged over the last 100 Myr, M_sun/yr.
        ssfr_100myr_per_yr: ``sfr_100myr / surviving_mass``, 1/yr (per *surviving*
            stellar mass, the observers' convention; ``sfh_priors.specific_sfr`` divides
            by the mass formed instead).
        mass_weighted_age_yr: mean lookback time of star formation weighted by mass
            formed, yr.
        model_maggies: (n_bands,) model photometry, maggies.
    """

    mass_formed_msun: jax.Array
    surviving_mass_msun: jax.Array
    sfr_10myr_msun_per_yr: jax.Array
    sfr_100myr_msun_per_yr: jax.Array
    ssfr_100myr_per_yr: jax.Array
    mass_weighted_age_yr: jax.Array
    model_maggies: jax.Array


#: Units of the derived quantities (astropy unit strings).
DERIVED_UNITS = {
    "mass_formed_msun": "solMass",
    "surviving_mass_msun": "solMass",
    "sfr_10myr_msun_per_yr": "solMass / yr",
    "sfr_100myr_msun_per_yr": "solMass / yr",
    "ssfr_100myr_per_yr": "1 / yr",
    "mass_weighted_age_yr": "yr",
    "model_maggies": "",  # maggies: dimensionless f_nu / 3631 Jy
}


def derived_quantities(fit: FitModel, params: Mapping[str, jax.Array]) -> DerivedQuantities:
    """Derived quantities of one draw.

    Args:
        fit: the `FitModel`.
        params: the engine's parameter dict (``fit.config.names``), one draw, e.g. from
            `pixelfit.engine_params_from`.

    Returns:
        `DerivedQuantities`.

    Example:
        >>> per_draw = jax.jit(jax.vmap(derived_quantities, in_axes=(None, 0)))(fit, draws)
    """
    config = fit.config
    masses = emulate_sps.stellar_masses(config, params)
    t_univ = fit.age_of_universe_yr(params["z"])
    sfh = jax.tree_util.tree_unflatten(config.sfh_treedef, [params[n] for n in config.sfh_names])
    sfr_10 = sfh_priors.average_sfr(config.sfh, sfh, t_univ, 1.0e7)
    sfr_100 = sfh_priors.average_sfr(config.sfh, sfh, t_univ, 1.0e8)
    age = sfh_priors.mass_weighted_age_yr(config.sfh, sfh, t_univ)
    state = config if fit.forward_state is None else fit.forward_state
    return DerivedQuantities(
        mass_formed_msun=masses.mass_formed_msun,
        surviving_mass_msun=masses.surviving_mass_msun,
        sfr_10myr_msun_per_yr=sfr_10,
        sfr_100myr_msun_per_yr=sfr_100,
        ssfr_100myr_per_yr=sfr_100 / masses.surviving_mass_msun,
        mass_weighted_age_yr=age,
        model_maggies=jnp.asarray(fit.forward(state, params)),
    )
