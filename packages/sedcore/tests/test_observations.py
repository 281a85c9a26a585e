"""Tests of Photometry / Spectrum pytrees and the catalog and spectrum readers."""

from pathlib import Path

import astropy.units as u
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from astropy.table import QTable, Table

from sedcore import Photometry, Spectrum, load_filters, read_photometry, read_spectrum

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
HDFN = DATA / "hdfn"
HDFN_FILTERS = [
    "wfpc2_f300w", "wfpc2_f450w", "wfpc2_f606w", "wfpc2_f814w",
    "kpno_irim_j", "kpno_irim_h", "kpno_irim_k",
]  # fmt: skip
BANDS = ("g", "r", "i")


def _needs_hdfn():
    if not (HDFN / "hdfn_fs99_eazy.cat").is_file():
        pytest.skip(f"HDF-N catalog not found under {HDFN} (shared test data absent)")


def _raw_hdfn():
    """The catalog parsed independently: plain whitespace split of the non-comment lines."""
    rows = [
        line.split()
        for line in (HDFN / "hdfn_fs99_eazy.cat").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return np.array(rows, dtype=float)


def _read_fe(source, **kw):
    """read_photometry of a one-band table with columns 'f' (flux) and 'e' (error)."""
    args = dict(filters=None, flux_columns=["f"], error_columns=["e"])
    args.update(kw)
    return read_photometry(source, **args)


def _read_wfe(source, **kw):
    """read_spectrum of a table with columns 'w', 'f', 'e'."""
    return read_spectrum(source, wave_column="w", flux_column="f", error_column="e", **kw)


def _read_hdfn(**kw):
    args = dict(
        filters=None,
        translate=HDFN / "zphot.translate",
        zero_point=25.0,
        redshift_column="z_spec",
        id_column="id",
        missing_below=-90,
    )
    args.update(kw)
    return read_photometry(HDFN / "hdfn_fs99_eazy.cat", **args)


# ----------------------------------------------------------------------------- Photometry


def test_photometry_defaults():
    obs = Photometry([1e-9, -2e-10, 3e-9], [1e-10, 1e-10, 2e-10], filters=BANDS)
    assert obs.band_names == BANDS and obs.n_bands == 3 and obs.batch_shape == ()
    assert obs.mask.dtype == jnp.bool_ and bool(obs.mask.all())
    assert not bool(obs.bad_input.any())
    assert obs.redshift.shape == () and np.isnan(obs.redshift)
    assert obs.id is None


def test_negative_fluxes_are_valid():
    obs = Photometry([-1e-9, -2e-10, 0.0], [1e-10, 1e-10, 2e-10], filters=BANDS)
    assert bool(obs.mask.all())


def test_nan_under_false_mask_is_allowed():
    mask = [False, True, True]
    obs = Photometry([np.nan, 1e-9, 2e-9], [np.nan, 1e-10, 1e-10], filters=BANDS, mask=mask)
    assert not bool(obs.mask[0])


def test_catalog_is_pytree_mappable_with_vmap():
    flux = np.arange(12, dtype=float).reshape(4, 3) * 1e-10
    cat = Photometry(flux, np.full((4, 3), 1e-11), filters=BANDS, redshift=[0.1, np.nan, 2.0, 0.5])
    assert len(cat) == 4 and cat.batch_shape == (4,)
    sums = jax.vmap(lambda o: jnp.sum(o.flux_maggies) + jnp.nan_to_num(o.redshift))(cat)
    np.testing.assert_allclose(np.asarray(sums), flux.sum(1) + [0.1, 0.0, 2.0, 0.5], rtol=1e-6)
    # Filters are static metadata shared by all objects: they survive tree_map untouched.
    assert jax.tree_util.tree_map(lambda x: x, cat).band_names == BANDS
    assert len(jax.tree_util.tree_leaves(cat)) == 5  # flux, err, mask, redshift, bad_input


def test_one_filterset_shares_one_treedef_across_objects():
    _needs_hdfn()
    filters = load_filters([HDFN / "filters" / f"{n}.dat" for n in HDFN_FILTERS[:2]])
    a = Photometry([1e-9, 2e-9], [1e-10, 1e-10], filters=filters)
    b = Photometry([3e-9, 4e-9], [1e-10, 1e-10], filters=filters)
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    assert b.filters is filters


def test_construct_inside_jit_skips_value_checks():
    @jax.jit
    def f(x):
        return Photometry(x, x * 0.1, filters=BANDS).flux_maggies.sum()

    assert float(f(jnp.ones(3))) == pytest.approx(3.0)


def test_indexing_a_catalog():
    cat = Photometry(np.ones((5, 3)), np.ones((5, 3)), filters=BANDS, id=np.arange(10, 15))
    assert cat[2].batch_shape == () and int(cat[2].id) == 12
    assert cat[1:3].batch_shape == (2,)
    with pytest.raises(TypeError, match="single-object"):
        cat[0][0]


def test_immutable_and_replace_validates():
    obs = Photometry([1.0, 2.0, 3.0], [0.1, 0.1, 0.1], filters=BANDS)
    with pytest.raises(AttributeError, match="replace"):
        obs.mask = None
    new = obs.replace(mask=np.array([True, False, True]))
    assert not bool(new.mask[1]) and bool(obs.mask[1])
    with pytest.raises(ValueError, match="flux_err_maggies"):
        obs.replace(flux_err_maggies=np.array([0.1, -1.0, 0.1]))


def test_unmasked_nan_flux_error_names_row_and_band():
    flux = np.ones((3, 3))
    flux[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"row 2, band 'r'"):
        Photometry(flux, np.ones((3, 3)), filters=BANDS)


def test_nonpositive_error_rejected_with_band_name():
    with pytest.raises(ValueError, match=r"flux_err_maggies.*band 'i'"):
        Photometry([1.0, 1.0, 1.0], [0.1, 0.1, 0.0], filters=BANDS)


def test_shape_mismatch_rejected():
    with pytest.raises(ValueError, match=r"shape of flux_maggies \(3,\)"):
        Photometry([1.0, 1.0, 1.0], [0.1, 0.1], filters=BANDS)


def test_filter_count_mismatch_rejected():
    with pytest.raises(ValueError, match="2 bands"):
        Photometry([1.0, 1.0, 1.0], [0.1, 0.1, 0.1], filters=("g", "r"))


def test_float_mask_is_a_type_error():
    with pytest.raises(TypeError, match="mask must be boolean"):
        Photometry([1.0, 1.0, 1.0], [0.1, 0.1, 0.1], filters=BANDS, mask=[1.0, 0.0, 1.0])


def test_redshift_at_or_below_minus_one_rejected():
    with pytest.raises(ValueError, match="redshift"):
        Photometry([1.0, 1.0, 1.0], [0.1, 0.1, 0.1], filters=BANDS, redshift=-1.0)


def test_string_ids_rejected():
    with pytest.raises(TypeError, match="id must hold integers"):
        Photometry(np.ones((2, 3)), np.ones((2, 3)), filters=BANDS, id=np.array(["a", "b"]))


def test_float64_kept_when_enabled():
    with jax.enable_x64(True):
        obs = Photometry(np.array([1e-9, 2e-9, 3e-9]), np.full(3, 1e-10), filters=BANDS)
        assert obs.flux_maggies.dtype == jnp.float64


# ----------------------------------------------------------------------------- Spectrum


def test_spectrum_to_maggies_matches_astropy():
    wave = np.array([4000.0, 5000.0, 6000.0])
    flam = np.array([1e-17, 2e-17, 1.5e-17])
    with jax.enable_x64(True):
        spec = Spectrum(wave, flam, flam * 0.1, flux_unit="erg/s/cm2/AA").to_maggies()
        got = np.asarray(spec.flux)
    flam_unit = u.erg / u.s / u.cm**2 / u.AA
    want = (flam * flam_unit).to(u.Jy, u.spectral_density(wave * u.AA)).value / 3631.0
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert spec.flux_unit == "maggies"


def test_resolution_sigma_from_r():
    spec = Spectrum(
        [4000.0, 4001.0], [1.0, 1.0], [0.1, 0.1], flux_unit="maggies", resolution=2000.0
    )
    # sigma_v = c / (R 2 sqrt(2 ln 2)) = 299792.458 / (2000 * 2.354820) = 63.655 km/s.
    assert float(spec.resolution_sigma_kms()) == pytest.approx(63.6549, rel=1e-5)


def test_spectrum_wavelengths_must_increase():
    with pytest.raises(ValueError, match="strictly increasing.*pixel 2"):
        Spectrum([4000.0, 4001.0, 4001.0], [1.0, 1.0, 1.0], [0.1, 0.1, 0.1], flux_unit="maggies")


def test_spectrum_bad_unit_rejected():
    with pytest.raises(ValueError, match="flux_unit"):
        Spectrum([4000.0, 4001.0], [1.0, 1.0], [0.1, 0.1], flux_unit="Jy")


def test_spectrum_is_a_pytree():
    spec = Spectrum(np.linspace(4000, 5000, 4), np.ones(4), np.ones(4), flux_unit="maggies")
    doubled = jax.tree_util.tree_map(lambda x: x * 2 if x.dtype != jnp.bool_ else x, spec)
    assert doubled.flux_unit == "maggies" and float(doubled.flux[0]) == 2.0


# ----------------------------------------------------------------------------- HDF-N


def test_hdfn_loads_with_real_filters():
    _needs_hdfn()
    files = [HDFN / "filters" / f"{n}.dat" for n in HDFN_FILTERS]
    cat = _read_hdfn(filters=files)
    assert cat.batch_shape == (1067,) and cat.n_bands == 7
    assert cat.band_names == tuple(HDFN_FILTERS)
    assert len(cat.filters) == 7
    # README: 114 objects have a spectroscopic redshift.
    assert int(np.isfinite(np.asarray(cat.redshift)).sum()) == 114


def test_hdfn_values_match_raw_file():
    _needs_hdfn()
    with jax.enable_x64(True):
        cat = _read_hdfn()
        raw = _raw_hdfn()
        np.testing.assert_array_equal(cat.id, raw[:, 0].astype(int))
        # AB zero point 25: maggies = flux * 10**(-0.4 * 25) (data README).
        flux, err = np.asarray(cat.flux_maggies), np.asarray(cat.flux_err_maggies)
        np.testing.assert_allclose(flux, raw[:, 1:15:2] * 1e-10, rtol=1e-14)
        np.testing.assert_allclose(err, raw[:, 2:15:2] * 1e-10, rtol=1e-14)
        z = np.asarray(cat.redshift)
    # Object id 3 has z_spec = 5.34 in the file; id 1 has -1 (unknown).
    assert z[2] == pytest.approx(5.34) and np.isnan(z[0])
    # Object id 1, F814W: 3.25895e+01 -> AB = 25 - 2.5 log10(32.5895) = 21.2173.
    assert -2.5 * np.log10(float(cat.flux_maggies[0, 3])) == pytest.approx(21.2173, abs=1e-4)


def test_hdfn_negative_fluxes_kept_and_used():
    _needs_hdfn()
    cat = _read_hdfn()
    # Object id 2, K band: -3.16804e-01 in the file, a real (faint) measurement.
    assert float(cat.flux_maggies[1, 6]) == pytest.approx(-3.16804e-11, rel=1e-6)
    assert bool(cat.mask[1, 6])
    assert int((np.asarray(cat.flux_maggies) < 0).sum()) > 0
    assert not bool(cat.bad_input.any())


def test_hdfn_explicit_columns_equal_translate():
    _needs_hdfn()
    names = ["f300w", "f450w", "f606w", "f814w", "irimj", "irimh", "irimk"]
    cat = _read_hdfn(
        translate=None,
        flux_columns=[f"f_{n}" for n in names],
        error_columns=[f"e_{n}" for n in names],
    )
    ref = _read_hdfn()
    np.testing.assert_array_equal(np.asarray(cat.flux_maggies), np.asarray(ref.flux_maggies))


def test_hdfn_misnamed_column_suggests_close_match():
    _needs_hdfn()
    with pytest.raises(ValueError, match=r"'f_f30w'.*Did you mean \['f_f300w'"):
        _read_hdfn(translate=None, flux_columns=["f_f30w"], error_columns=["e_f300w"])


def test_truncated_ascii_names_file(tmp_path):
    _needs_hdfn()
    text = (HDFN / "hdfn_fs99_eazy.cat").read_text()
    path = tmp_path / "cut.cat"
    path.write_text(text[:5000])  # ends in the middle of a row
    with pytest.raises(ValueError, match="cut.cat"):
        read_photometry(path, filters=None, translate=HDFN / "zphot.translate", zero_point=25.0)


# ----------------------------------------------------------------------------- per-row problems


def _bad_rows_table():
    return Table(
        {
            "id": [1, 2, 3, 4, 5],
            "f_g": [1.0, np.nan, 2.0, -99.0, -0.5],
            "e_g": [0.1, 0.1, 0.0, -99.0, 0.2],
            "f_r": [1.0, np.inf, 2.0, 3.0, np.nan],
            "e_r": [0.1, 0.1, -1.0, np.nan, np.nan],
            "z": [0.5, -1.0, np.nan, 1.2, -99.0],
        }
    )


def test_bad_values_are_masked_and_flagged_not_raised():
    cat = read_photometry(
        _bad_rows_table(), filters=None, flux_columns=["f_g", "f_r"], error_columns=["e_g", "e_r"],
        units=u.uJy, missing_below=-90, redshift_column="z", id_column="id",
    )  # fmt: skip
    mask = np.asarray(cat.mask)
    bad = np.asarray(cat.bad_input)
    np.testing.assert_array_equal(mask, [[1, 1], [0, 0], [0, 0], [0, 0], [1, 0]])
    # Row 4 g is -99 ("not observed"): masked but not a bad input; its r error is NaN.
    np.testing.assert_array_equal(bad, [[0, 0], [1, 1], [1, 1], [0, 1], [0, 1]])
    z = np.asarray(cat.redshift)
    np.testing.assert_array_equal(np.isnan(z), [False, True, True, False, True])
    assert float(cat.flux_maggies[4, 0]) == pytest.approx(-0.5e-6 / 3631.0, rel=1e-6)


def test_unparseable_entry_masks_that_row(tmp_path):
    path = tmp_path / "cat.txt"
    path.write_text("# id f e\n1 1.0 0.1\n2 N/A 0.1\n3 2.0 0.2\n")
    cat = _read_fe(path, units="nJy")
    np.testing.assert_array_equal(np.asarray(cat.mask[:, 0]), [True, False, True])
    assert bool(cat.bad_input[1, 0])


def test_masked_table_entries_are_missing():
    t = Table({"f": [1.0, 2.0], "e": [0.1, 0.1]}, masked=True)
    t["f"].mask = [False, True]
    cat = _read_fe(t, units=u.Jy)
    np.testing.assert_array_equal(np.asarray(cat.mask[:, 0]), [True, False])
    assert not bool(cat.bad_input.any())


# ----------------------------------------------------------------------------- units


def test_uJy_agrees_with_ab_zero_point_23p9():
    t = Table({"f": [1.0, 250.0], "e": [0.1, 3.0]})
    with jax.enable_x64(True):
        cat = _read_fe(t, units=u.uJy)
        ab = -2.5 * np.log10(np.asarray(cat.flux_maggies[:, 0]))
    # The uJy AB zero point is 23.9 (Oke & Gunn 1983 AB system: 2.5 log10(3631e6) = 23.9000
    # to 4 decimals, printed rounded).
    np.testing.assert_allclose(ab, 23.9 - 2.5 * np.log10([1.0, 250.0]), atol=1e-4)


def test_quantity_columns_are_honoured():
    t = QTable({"f": [1.0, 2.0] * u.nJy, "e": [0.1, 0.2] * u.nJy})
    with jax.enable_x64(True):
        cat = _read_fe(t, units=None)
        got = np.asarray(cat.flux_maggies[:, 0])
    np.testing.assert_allclose(got, np.array([1.0, 2.0]) * 1e-9 / 3631.0, rtol=1e-14)


@pytest.mark.parametrize("units", ["maggies", "nanomaggies", u.mgy])
def test_maggie_units(units):
    scale = 1e-9 if units == "nanomaggies" else 1.0
    t = Table({"f": [2.0], "e": [0.5]})
    cat = _read_fe(t, units=units)
    assert float(cat.flux_maggies[0, 0]) == pytest.approx(2.0 * scale, rel=1e-6)


def test_flambda_column_is_an_error_naming_it():
    flam = u.erg / u.s / u.cm**2 / u.AA
    t = QTable({"f_g": [1.0] * flam, "e_g": [0.1] * flam})
    with pytest.raises(ValueError, match=r"'f_g'.*f_lambda"):
        read_photometry(t, filters=None, flux_columns=["f_g"], error_columns=["e_g"])


def test_unit_mismatch_with_column_unit():
    t = QTable({"f": [1.0] * u.Jy, "e": [0.1] * u.Jy})
    with pytest.raises(ValueError, match="unit mismatch.*'f'"):
        _read_fe(t, units=u.uJy)


def test_zero_point_with_column_unit_rejected():
    t = QTable({"f": [1.0] * u.Jy, "e": [0.1] * u.Jy})
    with pytest.raises(ValueError, match="zero_point"):
        _read_fe(t, zero_point=25.0)


def test_magnitude_units_rejected():
    with pytest.raises(ValueError, match="magnitude"):
        _read_fe(Table({"f": [20.0], "e": [0.1]}), units=u.ABmag)


def test_missing_units_rejected():
    with pytest.raises(ValueError, match="no unit"):
        _read_fe(Table({"f": [1.0], "e": [0.1]}))


# ----------------------------------------------------------------------------- whole-input errors


def test_mismatched_column_counts():
    t = Table({"f": [1.0], "e": [0.1], "g": [1.0]})
    with pytest.raises(ValueError, match="2 flux columns but 1 error"):
        read_photometry(t, filters=None, flux_columns=["f", "g"], error_columns=["e"], units=u.Jy)


def test_filter_count_mismatch_before_reading(tmp_path):
    # Checked before the (missing) file is even opened.
    with pytest.raises(ValueError, match="3 filters but 1 flux"):
        _read_fe(tmp_path / "nope.fits", filters=["a", "b", "c"], units=u.Jy)


def test_missing_file_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.fits"):
        _read_fe(tmp_path / "nope.fits", units=u.Jy)


def test_truncated_fits_named(tmp_path):
    path = tmp_path / "cat.fits"
    Table({"f": np.ones(2000), "e": np.ones(2000)}).write(path)
    data = path.read_bytes()
    cut = tmp_path / "cut.fits"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.fits"):
        read_photometry(cut, filters=None, flux_columns=["f"], error_columns=["e"], units=u.Jy)


def test_fits_and_ecsv_round_trip(tmp_path):
    t = QTable({"id": [7, 8], "f": [1.0, 2.0] * u.uJy, "e": [0.1, 0.2] * u.uJy, "zs": [0.3, -1.0]})
    got = []
    for name in ("cat.fits", "cat.ecsv"):
        t.write(tmp_path / name)
        cat = _read_fe(tmp_path / name, redshift_column="zs", id_column="id")
        got.append(np.asarray(cat.flux_maggies))
        np.testing.assert_array_equal(cat.id, [7, 8])
    np.testing.assert_allclose(got[0], got[1], rtol=1e-7)
    np.testing.assert_allclose(got[0][:, 0], np.array([1.0, 2.0]) * 1e-6 / 3631.0, rtol=1e-6)


def test_translate_without_error_partner(tmp_path):
    path = tmp_path / "zphot.translate"
    path.write_text("f_g F1\ne_g E1\nf_r F2\n")
    with pytest.raises(ValueError, match="E2"):
        read_photometry(Table({"f_g": [1.0]}), filters=None, translate=path, units=u.Jy)


def test_string_id_column_rejected():
    t = Table({"name": ["a", "b"], "f": [1.0, 2.0], "e": [0.1, 0.1]})
    with pytest.raises(ValueError, match="'name'.*integers"):
        _read_fe(t, units=u.Jy, id_column="name")


# ----------------------------------------------------------------------------- read_spectrum


def test_read_spectrum_ecsv_with_units(tmp_path):
    t = QTable(
        {
            "wave": [0.40, 0.41, 0.42] * u.um,
            "flux": [1.0, np.nan, 3.0] * (1e-17 * u.erg / u.s / u.cm**2 / u.AA),
            "err": [0.1, 0.1, 0.1] * (1e-17 * u.erg / u.s / u.cm**2 / u.AA),
        }
    )
    t.write(tmp_path / "spec.ecsv")
    with jax.enable_x64(True):
        spec = read_spectrum(
            tmp_path / "spec.ecsv",
            wave_column="wave",
            flux_column="flux",
            error_column="err",
            resolution=1800.0,
        )
        np.testing.assert_allclose(np.asarray(spec.wave_aa), [4000.0, 4100.0, 4200.0], rtol=1e-14)
        np.testing.assert_allclose(np.asarray(spec.flux)[[0, 2]], [1e-17, 3e-17], rtol=1e-14)
    assert spec.flux_unit == "erg/s/cm2/AA"
    np.testing.assert_array_equal(np.asarray(spec.mask), [True, False, True])


def test_read_spectrum_fnu_becomes_maggies():
    t = Table({"w": [5000.0, 5001.0], "f": [3631.0, 1.0], "e": [1.0, 1.0]})
    spec = _read_wfe(t, wave_unit="AA", flux_unit=u.Jy)
    assert spec.flux_unit == "maggies" and float(spec.flux[0]) == pytest.approx(1.0)


def test_read_spectrum_decreasing_wavelength_names_row():
    t = Table({"w": [5000.0, 4999.0], "f": [1.0, 1.0], "e": [1.0, 1.0]})
    with pytest.raises(ValueError, match="row 1"):
        _read_wfe(t, wave_unit="AA", flux_unit=u.Jy)


def test_read_spectrum_missing_wave_unit():
    t = Table({"w": [5000.0, 5001.0], "f": [1.0, 1.0], "e": [1.0, 1.0]})
    with pytest.raises(ValueError, match="'w'.*wave_unit"):
        _read_wfe(t, flux_unit=u.Jy)


# ----------------------------------------------------------------------------- more input forms


def test_eazy_translated_header_name_gets_a_hint():
    _needs_hdfn()
    # 'F10' is on the second (translated) header line of the EAZY file, not a column name.
    with pytest.raises(ValueError, match="comment line 2"):
        _read_hdfn(translate=None, flux_columns=["F10"], error_columns=["E10"])


def test_filterset_instance_is_kept():
    _needs_hdfn()
    fs = load_filters([HDFN / "filters" / f"{n}.dat" for n in HDFN_FILTERS])
    cat = _read_hdfn(filters=fs)
    assert cat.filters is fs and cat[5].filters is fs


def test_per_band_units_and_zero_points():
    t = Table({"a": [1.0], "ea": [0.1], "b": [1.0], "eb": [0.1]})
    kw = dict(filters=None, flux_columns=["a", "b"], error_columns=["ea", "eb"])
    with jax.enable_x64(True):
        by_unit = read_photometry(t, units=[u.Jy, u.uJy], **kw)
        by_zp = read_photometry(t, zero_point=[8.9, 23.9], **kw)
        np.testing.assert_allclose(
            np.asarray(by_unit.flux_maggies[0]), [1.0 / 3631.0, 1e-6 / 3631.0], rtol=1e-14
        )
        # 8.9 and 23.9 are the rounded Jy and uJy AB zero points (see above): 1e-4 mag.
        np.testing.assert_allclose(
            np.asarray(by_zp.flux_maggies[0]), np.asarray(by_unit.flux_maggies[0]), rtol=1e-4
        )


def test_plain_header_ascii(tmp_path):
    path = tmp_path / "cat.txt"
    path.write_text("f e\n1.0 0.1\n2.0 0.2\n")
    cat = _read_fe(path, units=u.Jy, format="ascii")
    assert cat.batch_shape == (2,)


def test_units_and_zero_point_together_rejected():
    with pytest.raises(ValueError, match="not both"):
        _read_fe(Table({"f": [1.0], "e": [0.1]}), units=u.Jy, zero_point=23.9)
