"""SSPGrid construction, validation and the HDF5 cache format."""

import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sedcore


def _arrays(n_met=3, n_age=5, n_wave=7):
    rng = np.random.default_rng(1)
    return dict(
        log_age_yr=np.linspace(6.0, 10.1, n_age),
        log_zsol=np.linspace(-1.0, 0.3, n_met),
        wave_aa=np.geomspace(100.0, 1e5, n_wave),
        lnu_lsun_per_hz_per_msun=rng.uniform(1e-20, 1e-18, (n_met, n_age, n_wave)),
        surviving_mass_frac=np.linspace(1.0, 0.55, n_age)[None, :].repeat(n_met, 0),
    )


def test_create_and_pytree_roundtrip():
    grid = sedcore.SSPGrid.create(**_arrays(), name="toy", z_sun=0.019)
    assert (grid.n_met, grid.n_age, grid.n_wave) == (3, 5, 7)
    leaves, treedef = jax.tree_util.tree_flatten(grid)
    assert len(leaves) == 5  # name and z_sun are static
    back = jax.tree_util.tree_unflatten(treedef, leaves)
    assert back.name == "toy" and back.z_sun == 0.019
    # usable as a jit argument
    total = jax.jit(lambda g: jnp.sum(g.surviving_mass_frac))(grid)
    assert float(total) == pytest.approx(float(np.sum(_arrays()["surviving_mass_frac"])), rel=1e-6)


def test_hdf5_round_trip(tmp_path):
    grid = sedcore.SSPGrid.create(**_arrays(), name="toy")
    path = sedcore.save_ssp_grid(grid, tmp_path / "sub" / "toy.h5")
    back = sedcore.read_ssp_grid(path)
    assert back.name == "toy"
    for key in ("log_age_yr", "log_zsol", "wave_aa", "lnu_lsun_per_hz_per_msun", "surviving_mass_frac"):
        np.testing.assert_array_equal(np.asarray(getattr(back, key)), np.asarray(getattr(grid, key)))
    assert [p.name for p in tmp_path.joinpath("sub").iterdir()] == ["toy.h5"]  # no temp left


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("log_age_yr", np.array([6.0, 7.0, 7.0, 8.0, 9.0]), "log_age_yr must be strictly increasing; index 2"),
        ("wave_aa", np.array([1.0, 2.0, np.nan, 4, 5, 6, 7]), "wave_aa has a non-finite value at index 2"),
        ("lnu_lsun_per_hz_per_msun", np.ones((3, 5, 6)), r"shape \(3, 5, 6\), expected \(3, 5, 7\)"),
        ("lnu_lsun_per_hz_per_msun", -np.ones((3, 5, 7)), "negative at index"),
        ("surviving_mass_frac", np.zeros((3, 5)), "surviving_mass_frac must be in"),
    ],
)
def test_bad_arrays_name_the_field(field, value, match):
    arrays = _arrays()
    arrays[field] = value
    with pytest.raises(ValueError, match=match):
        sedcore.SSPGrid.create(**arrays, source="mygrid.fits")


def test_truncated_file_names_the_file(tmp_path):
    path = sedcore.save_ssp_grid(sedcore.SSPGrid.create(**_arrays()), tmp_path / "g.h5")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="g.h5"):
        sedcore.read_ssp_grid(path)


def test_missing_dataset_is_named(tmp_path):
    path = sedcore.save_ssp_grid(sedcore.SSPGrid.create(**_arrays()), tmp_path / "g.h5")
    with h5py.File(path, "a") as f:
        del f["surviving_mass_frac"]
    with pytest.raises(ValueError, match=r"missing dataset\(s\) \['surviving_mass_frac'\]"):
        sedcore.read_ssp_grid(path)


def test_not_an_ssp_file(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(ValueError, match="not a sedcore SSPGrid file"):
        sedcore.read_ssp_grid(path)


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="nope.h5"):
        sedcore.read_ssp_grid("nope.h5")
