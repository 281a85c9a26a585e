"""Draw star-formation histories from every sfh-priors prior and save a figure.

    python tools/examples/plot_sfh_priors.py [out.png] [--z 1.0] [--draws 5]

Each panel shows SFR(lookback time) for a few prior draws of one model, for a galaxy at
redshift z (age of the universe from sedcore).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import sedcore  # noqa: E402
import sfh_priors as sfh  # noqa: E402


def models(t_univ: float) -> dict[str, sfh.SFHModel]:
    bins = sfh.leja19_bin_edges_yr(t_univ)
    return {
        "Constant": sfh.Constant(age_max_yr=t_univ),
        "Tau": sfh.Tau(age_max_yr=t_univ),
        "Delayed tau": sfh.DelayedTau(age_max_yr=t_univ),
        "Log-normal": sfh.LogNormal(),
        "Double power law": sfh.DoublePowerLaw(alpha_max=100.0, beta_max=100.0),
        "Delayed tau + late burst": sfh.LateBurst(base=sfh.DelayedTau(age_max_yr=t_univ)),
        "Truncated delayed tau": sfh.Truncated(base=sfh.DelayedTau(age_max_yr=t_univ)),
        "Continuity (Leja+19)": sfh.Continuity(bin_edges_yr=bins),
        "Dirichlet (Leja+17)": sfh.Dirichlet(bin_edges_yr=bins),
        "Continuity flex": sfh.ContinuityFlex(
            young_bin_end_yr=3e7, old_bin_start_yr=0.85 * t_univ, old_bin_end_yr=t_univ
        ),
        "Bursty GP (0.3 dex, 30 Myr)": sfh.BurstyGP(
            bin_edges_yr=jnp.linspace(0.0, t_univ, 301), sigma_dex=0.3, tau_yr=3e7
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default="sfh_priors_examples.png", type=Path)
    parser.add_argument("--z", type=float, default=1.0, help="redshift (default 1)")
    parser.add_argument("--draws", type=int, default=5, help="draws per model (default 5)")
    args = parser.parse_args()

    t_univ = float(sedcore.age_of_universe_yr(args.z))
    lookback = jnp.linspace(0.0, t_univ, 600, endpoint=False)
    keys = jax.random.split(jax.random.key(0), args.draws)
    fig, axes = plt.subplots(3, 4, figsize=(15, 9), sharex=True)
    for ax, (name, model) in zip(axes.flat, models(t_univ).items(), strict=False):
        params = jax.jit(jax.vmap(sfh.sample, in_axes=(0, None)))(keys, model)
        sfr_of = jax.jit(jax.vmap(sfh.sfr, in_axes=(None, 0, None, None)))
        sfr = sfr_of(model, params, lookback, t_univ)
        mass = jax.vmap(sfh.mass_formed_msun, in_axes=(None, 0))(model, params)
        for row, m in zip(sfr, mass, strict=True):  # normalised: shapes are comparable
            ax.plot(lookback / 1e9, row / m * 1e9, lw=1)
        ax.set_title(name, fontsize=10)
        ax.set_yscale("log")
        ax.set_ylim(1e-4, 1e2)
    for ax in axes.flat[len(models(t_univ)) :]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("lookback time [Gyr]")
    for ax in axes[:, 0]:
        ax.set_ylabel("SFR / mass formed [1/Gyr]")
    fig.suptitle(f"Prior draws at z = {args.z:g} (t_univ = {t_univ / 1e9:.2f} Gyr)")
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
