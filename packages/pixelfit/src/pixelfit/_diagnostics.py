"""Convergence diagnostics per object: rank-normalised split R-hat, bulk and tail ESS.

The definitions are those of Vehtari, Gelman, Simpson, Carpenter & Buerkner (2021,
Bayesian Analysis 16, 667), computed with ArviZ (``arviz.rhat(method="rank")``,
``arviz.ess(method="bulk")``, ``arviz.ess(method="tail")``), the reference
implementation of that paper, about 1 ms per parameter and object:

- chains are split in halves;
- *bulk*: draws replaced by their normal scores over all chains; bulk ESS = ESS of the
  scores;
- R-hat = max(split R-hat of the scores, split R-hat of the scores of the *folded* draws
  ``|x - median|``);
- *tail* ESS = min(ESS of ``1{x <= q05}``, ESS of ``1{x <= q95}``).

A fit passes (`fit_ok`) when, over every free parameter, R-hat < ``rhat_max``, bulk and
tail ESS >= ``ess_min``, the fraction of divergent transitions <= ``divergent_max``
(`Thresholds`) and every draw is finite.
"""

from __future__ import annotations

from typing import NamedTuple

import arviz as az
import numpy as np

__all__ = ["Diagnostics", "Thresholds", "diagnose", "ess_bulk", "ess_tail", "rhat"]


class Thresholds(NamedTuple):
    """Pass/fail thresholds of `fit_ok`.

    Attributes:
        rhat_max: R-hat must be below this for every parameter (default 1.05; Vehtari et
            al. 2021 recommend 1.01 for final results with >= 4 long chains, which short
            runs of 2 chains rarely reach even when converged).
        ess_min: bulk and tail ESS must each be at least this (default 100, Vehtari et
            al. 2021: enough for 16/84 percentiles to ~0.1 sigma).
        divergent_max: largest allowed fraction of divergent draws (default 0.01).
    """

    rhat_max: float = 1.05
    ess_min: float = 100.0
    divergent_max: float = 0.01


class Diagnostics(NamedTuple):
    """Per-object diagnostics (arrays with one entry per object).

    Attributes:
        rhat_max: largest R-hat over the free parameters.
        ess_bulk_min: smallest bulk ESS.
        ess_tail_min: smallest tail ESS.
        n_divergent: divergent draws (all chains).
        n_draws: draws (all chains).
        fit_ok: bool, all thresholds met.
    """

    rhat_max: np.ndarray
    ess_bulk_min: np.ndarray
    ess_tail_min: np.ndarray
    n_divergent: np.ndarray
    n_draws: np.ndarray
    fit_ok: np.ndarray


def _per_object(fn, x: np.ndarray) -> np.ndarray:
    """Apply ``fn`` to every (chain, draw) slice of ``x`` (..., chain, draw)."""
    x = np.asarray(x, dtype=np.float64)
    flat = x.reshape(-1, *x.shape[-2:])
    out = np.array([float(fn(a)) for a in flat], dtype=np.float64)
    return out.reshape(x.shape[:-2])


def rhat(x: np.ndarray) -> np.ndarray:
    """Rank-normalised split R-hat over axes (..., chain, draw).

    Args:
        x: draws, shape (..., n_chains, n_draws), n_draws >= 4.

    Returns:
        R-hat, shape (...).
    """
    return _per_object(lambda a: az.rhat(a, method="rank"), x)


def ess_bulk(x: np.ndarray) -> np.ndarray:
    """Bulk effective sample size (rank-normalised, split chains), over (..., chain, draw).

    Args:
        x: draws, shape (..., n_chains, n_draws).

    Returns:
        ESS, shape (...).
    """
    return _per_object(lambda a: az.ess(a, method="bulk"), x)


def ess_tail(x: np.ndarray) -> np.ndarray:
    """Tail effective sample size (the smaller of the 5% and 95% quantile ESS).

    Args:
        x: draws, shape (..., n_chains, n_draws).

    Returns:
        ESS, shape (...).
    """
    return _per_object(lambda a: az.ess(a, method="tail"), x)


def diagnose(
    draws: dict[str, np.ndarray],
    diverging: np.ndarray,
    thresholds: Thresholds = Thresholds(),
) -> Diagnostics:
    """Diagnostics of a batch of fits.

    Args:
        draws: ``{name: (n_obj, n_chains, n_draws, ...)}`` free parameters; each element
            of a vector parameter (e.g. the SFR ratios of a continuity SFH) is diagnosed
            as its own scalar. A NaN diagnostic (e.g. a parameter that never moved) counts
            as a failure.
        diverging: (n_obj, n_chains, n_draws) bool.
        thresholds: `Thresholds`.

    Returns:
        `Diagnostics`, one entry per object.
    """
    columns = []
    for v in draws.values():
        a = np.asarray(v, dtype=np.float64)
        a = a.reshape(*a.shape[:3], -1)  # (n_obj, n_chains, n_draws, n_elements)
        columns.extend(np.moveaxis(a, 3, 1)[:, i] for i in range(a.shape[3]))
    stacked = np.stack(columns, axis=1)
    r = rhat(stacked)
    bulk = ess_bulk(stacked)
    tail = ess_tail(stacked)
    rhat_max = np.max(np.where(np.isnan(r), np.inf, r), axis=1)
    bulk_min = np.min(np.where(np.isnan(bulk), 0.0, bulk), axis=1)
    tail_min = np.min(np.where(np.isnan(tail), 0.0, tail), axis=1)
    diverging = np.asarray(diverging)
    n_div = diverging.reshape(diverging.shape[0], -1).sum(axis=1)
    n_draws = np.full(diverging.shape[0], diverging[0].size)
    ok = (
        (rhat_max < thresholds.rhat_max)
        & (bulk_min >= thresholds.ess_min)
        & (tail_min >= thresholds.ess_min)
        & (n_div <= thresholds.divergent_max * n_draws)
        & np.all(np.isfinite(stacked), axis=(1, 2, 3))
    )
    return Diagnostics(rhat_max, bulk_min, tail_min, n_div, n_draws, ok)
