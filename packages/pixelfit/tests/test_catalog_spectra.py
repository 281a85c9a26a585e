"""Spectra in catalog fits: `read_spectra`, `ModelSpec`'s spectrum fields, ``pixelfit catalog
--spectra``.

The reader is checked against ``sedcore.read_spectrum`` on files written here (maggies and
f_lambda), with the errors a user meets: two files for one object, files on other
wavelengths, files that match no id. The end-to-end run (slow) fits three rows of a mock
catalog made with the exact engine, two of them with a spectrum, through the CLI, with
chains far too short to converge: it checks the plumbing (flags, pixel counts, outputs,
resume), not the posterior (test_spectrum.py does that).
"""

from __future__ import annotations

import json
import warnings

import astropy.units as u
import numpy as np
import pytest
import sedcore
from astropy.table import Table

import pixelfit
from pixelfit._cli import main as cli_main

WAVE = np.exp(np.arange(np.log(5000.0), np.log(6000.0), 5.0e-4))  # R = 1000, 2 px / FWHM
R = 1000.0


def write_spectrum(path, flux, err, *, wave=WAVE, unit=u.dimensionless_unscaled, bad=None):
    table = Table()
    table["wave"] = wave * u.AA
    table["flux"] = np.asarray(flux) * unit
    table["flux_err"] = np.asarray(err) * unit
    table["dq"] = np.zeros(len(wave), int) if bad is None else bad.astype(int)
    fmt = "fits" if str(path).endswith(".fits") else "ascii.ecsv"
    table.write(path, format=fmt, overwrite=True)
    return path


def expected_maggies(flux_flam, err_flam):
    spec = sedcore.Spectrum(WAVE, flux_flam, err_flam, flux_unit="erg/s/cm2/AA").to_maggies()
    return np.asarray(spec.flux, np.float64), np.asarray(spec.flux_err, np.float64)


@pytest.fixture
def spectra_dir(tmp_path):
    """ids 10, 11, 12: 10 in maggies (ECSV), 12 in 1e-17 erg/s/cm2/AA (FITS) with 5 bad
    pixels, none for 11."""
    rng = np.random.default_rng(3)
    f10 = 1e-9 * (1.0 + 0.1 * rng.standard_normal(WAVE.size))
    write_spectrum(tmp_path / "10.ecsv", f10, np.full(WAVE.size, 1e-10), unit=u.Unit("maggy"))
    f12 = 3.0 + 0.2 * rng.standard_normal(WAVE.size)
    bad = np.zeros(WAVE.size, bool)
    bad[[4, 40, 41, 42, 200]] = True
    write_spectrum(tmp_path / "12.fits", f12, np.full(WAVE.size, 0.3),
                   unit=u.Unit("1e-17 erg / (s cm2 AA)"), bad=bad)  # fmt: skip
    return tmp_path, f10, f12, bad


def test_read_spectra_matches_sedcore_and_masks_rows_without_a_file(spectra_dir):
    folder, f10, f12, bad = spectra_dir
    spec = pixelfit.read_spectra(folder, [10, 11, 12], bad_pixel_column="dq", resolution=R)
    assert spec.batch_shape == (3,) and spec.flux_unit == "maggies"
    flux, err, mask = (np.asarray(a, np.float64) for a in (spec.flux, spec.flux_err, spec.mask))
    np.testing.assert_allclose(np.asarray(spec.wave_aa[1]), WAVE, rtol=1e-7)
    np.testing.assert_allclose(flux[0], f10, rtol=1e-6)
    assert mask[0].all() and not mask[1].any()
    want_flux, want_err = expected_maggies(1e-17 * f12, 1e-17 * np.full(WAVE.size, 0.3))
    np.testing.assert_allclose(flux[2][~bad], want_flux[~bad], rtol=1e-5)
    np.testing.assert_allclose(err[2][~bad], want_err[~bad], rtol=1e-5)
    np.testing.assert_array_equal(mask[2], ~bad)
    assert float(np.asarray(spec.resolution)) == R


def test_read_spectra_errors_name_the_file(spectra_dir, tmp_path_factory):
    folder, f10, _, _ = spectra_dir
    # a file on other wavelengths: named, with the pixel
    write_spectrum(folder / "11.ecsv", f10, np.full(WAVE.size, 1e-10), wave=WAVE * (1 + 1e-4),
                   unit=u.Unit("maggy"))  # fmt: skip
    with pytest.raises(ValueError, match=r"11\.ecsv, pixel 0: wavelength .*same wavelengths"):
        pixelfit.read_spectra(folder, [10, 11, 12], bad_pixel_column="dq")
    write_spectrum(folder / "11.ecsv", f10[:-3], np.full(WAVE.size - 3, 1e-10), wave=WAVE[:-3],
                   unit=u.Unit("maggy"))  # fmt: skip
    with pytest.raises(ValueError, match=r"11\.ecsv has .* pixels"):
        pixelfit.read_spectra(folder, [10, 11, 12], bad_pixel_column="dq")
    (folder / "11.ecsv").unlink()
    # two files for one object
    write_spectrum(folder / "10.csv", f10, np.full(WAVE.size, 1e-10))
    with pytest.raises(ValueError, match=r"two files for object '10'.*10\.csv"):
        pixelfit.read_spectra(folder, [10, 11, 12], bad_pixel_column="dq")
    (folder / "10.csv").unlink()
    # nothing matches; some files match no id (warned, left out)
    with pytest.raises(ValueError, match="no spectrum file matches an object id"):
        pixelfit.read_spectra(folder, [1, 2, 3])
    with pytest.warns(UserWarning, match=r"1 spectrum file\(s\) match no object id.*: 12\."):
        spec = pixelfit.read_spectra(folder, [10, 11], bad_pixel_column="dq")
    assert spec.batch_shape == (2,)
    with pytest.raises(ValueError, match="appears twice"):
        pixelfit.read_spectra(folder, [10, 10])
    with pytest.raises(FileNotFoundError, match="not a folder"):
        pixelfit.read_spectra(folder / "nothing", [10])
    # a column missing from a file: sedcore's reader names it
    Table({"wave": WAVE * u.AA, "flux": f10 * u.Unit("maggy")}).write(
        folder / "11.ecsv", format="ascii.ecsv"
    )
    with pytest.raises((KeyError, ValueError), match="flux_err"):
        pixelfit.read_spectra(folder, [10, 11, 12], bad_pixel_column="dq")


def test_model_spec_spectrum_fields_are_checked():
    bands = ("sdss_g0", "sdss_r0", "sdss_i0")
    with pytest.raises(ValueError, match="strictly increasing"):
        pixelfit.ModelSpec(filters=bands, spectrum_wave_aa=(5000.0, 4999.0))
    with pytest.raises(ValueError, match="spectrum_wave_aa must be >= 2 finite"):
        pixelfit.ModelSpec(filters=bands, spectrum_wave_aa=(5000.0, np.nan))
    with pytest.raises(ValueError, match="spectrum_resolution must be a number > 0"):
        pixelfit.ModelSpec(filters=bands, spectrum_wave_aa=tuple(WAVE), spectrum_resolution=-1.0)
    with pytest.raises(ValueError, match="calibration_order"):
        pixelfit.ModelSpec(filters=bands, spectrum_wave_aa=tuple(WAVE), spectrum_calibration_order=-1)
    spec = pixelfit.ModelSpec(filters=bands, spectrum_wave_aa=WAVE, spectrum_resolution=R,
                              spectrum_jitter=False)  # fmt: skip
    assert spec.fits_spectrum and spec.spectrum_settings().jitter_prior is None
    assert hash(spec) == hash(pixelfit.ModelSpec(**{**spec.__dict__}))  # workers cache on it
    assert json.loads(json.dumps(spec.to_dict()))["spectrum_wave_aa"][0] == pytest.approx(WAVE[0])
    assert not pixelfit.ModelSpec(filters=bands).fits_spectrum
    # a photometry-only run records no spectrum fields: run.json as before they existed
    assert not any(k.startswith("spectrum_") for k in pixelfit.ModelSpec(filters=bands).to_dict())


def test_fit_catalog_refuses_a_spectrum_the_spec_does_not_fit(tmp_path):
    bands = ("sdss_g0", "sdss_r0", "sdss_i0")
    phot = sedcore.Photometry(np.ones((1, 3)), np.full((1, 3), 0.1), filters=bands, redshift=[0.1])
    spectrum = sedcore.Spectrum(WAVE, np.ones(WAVE.size), np.ones(WAVE.size), flux_unit="maggies")
    with pytest.raises(ValueError, match="fits photometry only"):
        pixelfit.fit_catalog(phot, pixelfit.ModelSpec(filters=bands), tmp_path, spectrum=spectrum)
    with pytest.raises(ValueError, match="pass spectrum="):
        pixelfit.fit_catalog(phot, pixelfit.ModelSpec(filters=bands, spectrum_wave_aa=WAVE), tmp_path)
    assert not any(tmp_path.iterdir())  # nothing written


def test_cli_spectrum_options_need_spectra(tmp_path, capsys):
    table = Table({"id": [1], "z": [0.1], "f_r": [1.0], "e_r": [0.1]})
    table.write(tmp_path / "cat.ecsv", format="ascii.ecsv")
    rc = cli_main([
        "catalog", str(tmp_path / "cat.ecsv"), "--out", str(tmp_path / "out"),
        "--filters", "sdss_r0", "--flux-columns", "f_r", "--error-columns", "e_r",
        "--units", "maggies", "--redshift-column", "z", "--spectrum-resolution", "1000",
    ])  # fmt: skip
    assert rc == 2
    assert "--spectrum-resolution needs --spectra" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------------
# End to end through the CLI (slow: compiles the exact engine's spectrum on full BC03).

BANDS = ("sdss_u0", "sdss_g0", "sdss_r0", "sdss_i0", "sdss_z0", "twomass_J")
TRUTHS = [
    dict(z=0.3, log_mass=10.3, log_zsol=-0.3, dust2=0.3, dust1=0.3, sfh_age_yr=4e9,
         sfh_tau_yr=1e9, sigma_kms=150.0),
    dict(z=0.5, log_mass=10.0, log_zsol=0.0, dust2=0.5, dust1=0.5, sfh_age_yr=2e9,
         sfh_tau_yr=2e9, sigma_kms=100.0),
    dict(z=0.4, log_mass=9.8, log_zsol=-0.5, dust2=0.2, dust1=0.2, sfh_age_yr=3e9,
         sfh_tau_yr=5e8, sigma_kms=120.0),
]  # fmt: skip
IDS = [501, 502, 503]  # 502 has no spectrum file
SAMPLER = ["--chains", "2", "--warmup", "30", "--draws", "30", "--max-doublings", "4",
           "--init-draws", "8", "--init-steps", "20", "--init-starts", "2"]  # fmt: skip


@pytest.mark.slow
@pytest.mark.shared_data
def test_catalog_cli_with_spectra_end_to_end(tmp_path):
    pytest.importorskip("bagpipes")
    import emulate_sps
    import jax.numpy as jnp

    spec = pixelfit.ModelSpec(filters=BANDS, sfh="delayed_tau", nebular=None, z_max=0.6,
                              spectrum_wave_aa=WAVE, spectrum_resolution=R,
                              spectrum_sigma_max_kms=400.0)  # fmt: skip
    config = pixelfit.build_fit_model(spec).config
    folder = tmp_path / "spectra"
    folder.mkdir()
    phot = []
    for ident, truth in zip(IDS, TRUTHS, strict=True):
        p = {k: jnp.asarray(v) for k, v in truth.items()}
        phot.append(np.asarray(emulate_sps.photometry(config, p), np.float64))
        if ident != 502:  # spectrum: the model times 1.2 (calibration), S/N 20, no noise
            model = np.asarray(emulate_sps.observed_spectrum(config, p), np.float64)
            write_spectrum(folder / f"{ident}.ecsv", model * 1.2, model / 20, unit=u.Unit("maggy"))
    cat = Table({"id": IDS, "z": [t["z"] for t in TRUTHS]})
    for b, band in enumerate(BANDS):
        cat[f"f_{band}"] = [f[b] for f in phot]
        cat[f"e_{band}"] = [0.05 * f[b] for f in phot]
    cat.write(tmp_path / "cat.ecsv", format="ascii.ecsv")
    out = tmp_path / "out"
    args = [
        "catalog", str(tmp_path / "cat.ecsv"), "--out", str(out), "--filters", *BANDS,
        "--flux-columns", *[f"f_{b}" for b in BANDS], "--error-columns", *[f"e_{b}" for b in BANDS],
        "--units", "maggies", "--redshift-column", "z", "--id-column", "id",
        "--sfh", "delayed_tau", "--nebular", "none", "--z-max", "0.6",
        "--spectra", str(folder), "--spectrum-resolution", str(R), "--spectrum-sigma-max", "400",
        "--chunk-size", "3", "--batch-size", "3", "--workers", "1", "--no-progress", "--plots",
        *SAMPLER,
    ]  # fmt: skip
    assert cli_main(args) == 0
    table = Table.read(out / "summary.ecsv", format="ascii.ecsv")
    assert list(table["id"]) == IDS and list(table["row"]) == [0, 1, 2]
    np.testing.assert_array_equal(table["n_spectrum_pixels_used"], [WAVE.size, 0, WAVE.size])
    np.testing.assert_array_equal(table["flag_no_spectrum"], [False, True, False])
    assert (table["row_flags"] & pixelfit.ROW_NO_SPECTRUM).tolist() == [0, 8, 0]
    for col in ("spec_calib_0_p50", "spec_jitter_p50", "sigma_kms_p50"):
        assert np.all(np.isfinite(table[col])), col
    assert sorted(p.name for p in (out / "plots").glob("*_spectrum.png")) == [
        "501_spectrum.png", "503_spectrum.png"
    ]
    run = json.loads((out / "run.json").read_text())
    assert len(run["model"]["spectrum_wave_aa"]) == WAVE.size
    assert run["model"]["spectrum_resolution"] == R
    # a changed spectrum makes --resume refuse; the same input resumes with nothing to fit
    assert cli_main([*args, "--resume"]) == 0
    model = Table.read(folder / "501.ecsv", format="ascii.ecsv")
    model["flux"][7] *= 1.01
    model.write(folder / "501.ecsv", format="ascii.ecsv", overwrite=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert cli_main([*args, "--resume"]) == 2


@pytest.mark.slow
@pytest.mark.shared_data
def test_emulated_photometry_with_the_exact_spectrum():
    """A spec with an emulator and spectra: photometry from the emulator, the spectrum from
    the exact engine on the emulator's recipe (the same model); the spectrum counts."""
    pytest.importorskip("bagpipes")
    import emulate_sps
    import jax

    em = emulate_sps.load_emulator("hst_jwst20_phot")
    bands = tuple(em.filter_names[:8])
    spec = pixelfit.ModelSpec(filters=bands, emulator="hst_jwst20_phot", z_max=3.0,
                              spectrum_wave_aa=WAVE, spectrum_resolution=R,
                              spectrum_sigma_max_kms=400.0)  # fmt: skip
    fit = pixelfit.build_fit_model(spec)
    assert fit.fits_spectrum and fit.forward_state is not None
    np.testing.assert_allclose(fit.spectrum_wave_aa, WAVE, rtol=1e-6)
    flux = np.full((2, len(bands)), 1e-9)
    spectra = np.stack([np.full(WAVE.size, 1e-9), np.full(WAVE.size, 2e-9)])
    prepared = pixelfit.prepare_observations(
        fit, flux, 0.1 * flux, bands=bands, redshift=[2.0, 2.0],
        spectrum=sedcore.Spectrum(np.broadcast_to(WAVE, spectra.shape), spectra, 0.1 * spectra,
                                  flux_unit="maggies", resolution=R),
    )  # fmt: skip
    obs = [jax.tree.map(lambda a, r=r: a[r], prepared.obs) for r in range(2)]
    u0 = pixelfit.prior_draw(jax.random.key(0), fit, obs[0])
    values = [float(pixelfit.log_density(fit, o, u0)) for o in obs]
    assert np.all(np.isfinite(values)) and values[0] != values[1]
