"""SFH models by name, for command lines and configuration files."""

from __future__ import annotations

import dataclasses

from ._base import SFHModel
from ._nonparametric import Continuity, Dirichlet, Leja19Edges
from ._parametric import Constant, DelayedTau, DoublePowerLaw, LogNormal, Tau

#: Parametric models by name (their default hyper-parameters are their priors).
PARAMETRIC_MODELS: dict[str, type[SFHModel]] = {
    "delayed_tau": DelayedTau,
    "tau": Tau,
    "constant": Constant,
    "lognormal": LogNormal,
    "double_power_law": DoublePowerLaw,
}
#: Binned (non-parametric) models by name: Leja et al. (2019) bins at each redshift.
BINNED_MODELS: dict[str, type[SFHModel]] = {"continuity": Continuity, "dirichlet": Dirichlet}
#: Default upper bound of the onset-age prior of parametric models, yr (> any t_univ).
DEFAULT_AGE_MAX_YR = 1.4e10


def model_from_name(name: str, n_bins: int = 7) -> SFHModel:
    """The SFH model called ``name`` with its default prior.

    Binned models get ``Leja19Edges(n_bins)`` (bins rebuilt at each redshift); parametric
    models with an onset age get ``age_max_yr = 1.4e10`` (fits cut it at the age of the
    universe of each galaxy).

    Args:
        name: a key of `PARAMETRIC_MODELS` or `BINNED_MODELS` (e.g. ``"delayed_tau"``,
            ``"continuity"``).
        n_bins: number of bins of a binned model (>= 4); ignored otherwise.

    Returns:
        The model.

    Raises:
        ValueError: unknown name (the message lists the known ones) or ``n_bins < 4``.

    Example:
        >>> model_from_name("continuity", 7)  # 7 Leja et al. (2019) bins at each z
    """
    if name in BINNED_MODELS:
        if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 4:
            raise ValueError(
                f"{name!r} needs n_bins >= 4 for the Leja et al. (2019) bins; got {n_bins!r}."
            )
        return BINNED_MODELS[name](bin_edges_yr=Leja19Edges(n_bins))
    if name not in PARAMETRIC_MODELS:
        known = sorted((*PARAMETRIC_MODELS, *BINNED_MODELS))
        raise ValueError(f"unknown SFH model {name!r}; known: {known}.")
    cls = PARAMETRIC_MODELS[name]
    if "age_max_yr" in {f.name for f in dataclasses.fields(cls)}:
        return cls(age_max_yr=DEFAULT_AGE_MAX_YR)
    return cls()
