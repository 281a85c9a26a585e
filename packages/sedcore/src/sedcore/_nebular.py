"""The nebular-emission protocol between the synthesis engine and nebular models.

The synthesis engine (``emulate_sps``) knows the mass formed in each SSP age bin; a nebular
model (``emulate_neb`` implements it from Cloudy grids, exactly or emulated) turns the young
part of that into nebular continuum and line emission, so that nebular and stellar light come
from the same star-formation history. ``emulate_sps`` never imports ``emulate_neb``: any
object satisfying `NebularModel` can be passed in, and stellar-only synthesis needs none.

A model is a pytree (it may hold arrays) with:

- ``line_names`` (tuple of str) and ``line_wave_aa`` ((n_lines,) vacuum Angstrom);
- ``max_age_yr``: SSPs older than this emit no nebular light (e.g. 3e7 yr for Cloudy grids
  run on young populations); the engine may skip them;
- ``emission(wave_aa, log_age_yr, mass_formed_msun, log_zsol, log_u, sigma_kms)`` returning a
  `NebularEmission` for the population whose mass formed per SSP age is ``mass_formed_msun``.

Conventions: luminosities in L_sun (lines) and L_sun/Hz (continuum, rest frame), for the
masses given (so per M_sun formed when the masses are fractions of one M_sun). Lines are
included in ``lnu_lsun_per_hz`` as Gaussians of velocity dispersion ``sigma_kms`` on
``wave_aa`` and are also returned separately as ``line_lum_lsun`` (observables in their own
right). The ionizing photons that make the nebular emission are removed from the stellar
spectrum by the engine (it zeroes the stellar continuum below 912 A for the ages the model
covers, as photoionization codes assume all of them are absorbed).
"""

from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

import jax

__all__ = [
    "NEBULAR_MODELS_GROUP",
    "NebularEmission",
    "NebularModel",
    "available_nebular_models",
    "load_nebular_model",
]


class NebularEmission(NamedTuple):
    """Nebular output of one population.

    Attributes:
        lnu_lsun_per_hz: (n_wave,) rest-frame nebular continuum plus lines on the requested
            wavelength grid, L_sun/Hz.
        line_lum_lsun: (n_lines,) line luminosities, L_sun.
    """

    lnu_lsun_per_hz: jax.Array
    line_lum_lsun: jax.Array


@runtime_checkable
class NebularModel(Protocol):
    """Structural type of a nebular model (see the module docstring)."""

    line_names: tuple[str, ...]
    line_wave_aa: jax.Array
    max_age_yr: float

    def emission(
        self,
        wave_aa: jax.Array,
        log_age_yr: jax.Array,
        mass_formed_msun: jax.Array,
        log_zsol: jax.Array,
        log_u: jax.Array,
        sigma_kms: jax.Array,
    ) -> NebularEmission:
        """Nebular emission of a population.

        Args:
            wave_aa: (n_wave,) rest-frame wavelengths, Angstrom.
            log_age_yr: (n_age,) log10 SSP ages of the engine's grid, yr.
            mass_formed_msun: (n_age,) mass formed in each SSP age bin, M_sun.
            log_zsol: gas-phase metallicity, log10(Z / Z_sun).
            log_u: ionization parameter, log10 U.
            sigma_kms: line velocity dispersion, km/s.

        Returns:
            `NebularEmission`.
        """
        ...


#: Entry-point group under which packages register named nebular models (see
#: `load_nebular_model`); ``emulate-neb`` registers ``cloudy``.
NEBULAR_MODELS_GROUP = "sedcore.nebular_models"


def available_nebular_models() -> dict[str, str]:
    """Named nebular models installed in this environment.

    Returns:
        ``{name: "distribution (entry point)"}`` for every entry point in the
        ``sedcore.nebular_models`` group.
    """
    from importlib.metadata import entry_points

    found = {}
    for ep in entry_points(group=NEBULAR_MODELS_GROUP):
        dist = getattr(ep, "dist", None)
        found[ep.name] = f"{dist.name if dist else '?'} ({ep.value})"
    return found


def load_nebular_model(name: str, **options) -> NebularModel:
    """Build a nebular model by name, from whichever installed package registers it.

    Packages register a factory (a callable returning a `NebularModel`) as an entry point in
    the ``sedcore.nebular_models`` group, e.g. in their ``pyproject.toml``::

        [project.entry-points."sedcore.nebular_models"]
        cloudy = "emulate_neb._plugins:cloudy_exact"

    so that a consumer (the ``emulate-sps`` command line) can offer nebular emission
    without importing the package that provides it.

    Args:
        name: the registered name (e.g. ``"cloudy"`` from ``emulate-neb``).
        **options: passed to the factory.

    Raises:
        ValueError: unknown name (the message lists the installed ones); or the factory
            returned something that is not a `NebularModel`.
    """
    from importlib.metadata import entry_points

    matches = [ep for ep in entry_points(group=NEBULAR_MODELS_GROUP) if ep.name == name]
    if not matches:
        installed = sorted(available_nebular_models())
        raise ValueError(
            f"unknown nebular model {name!r}; installed: {installed or 'none'}. The Cloudy "
            "models come with `pip install 'emulate-neb[cloudy]'`."
        )
    factory = matches[0].load()
    model = factory(**options)
    if not isinstance(model, NebularModel):
        raise ValueError(
            f"nebular model {name!r} ({matches[0].value}) returned a "
            f"{type(model).__name__}, which does not satisfy sedcore.NebularModel."
        )
    return model
