"""The fast-photometry building blocks (emulate_sps._photometry) against closed forms.

The accuracy of the whole fast path against `sedcore.projection_matrix` is tested on a
synthetic grid in test_synthesis.py and on the real BC03 grid in test_synthesis_bc03.py.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from emulate_sps import _photometry


def test_interval_weights_integrate_a_linear_function_exactly():
    # f = a + b lambda on [100, 200]: int f dlambda / lambda = a ln(q/p) + b (q - p).
    nodes = np.array([100.0, 130.0, 151.0, 200.0])
    edges = np.array([90.0, 110.0, 140.0, 180.0, 210.0])
    a, b = 2.0, 0.03
    w = _photometry.interval_weights(nodes, edges)
    got = w @ (a + b * nodes)
    p = np.clip(edges[:-1], 100.0, 200.0)
    q = np.clip(edges[1:], 100.0, 200.0)
    ref = a * np.log(q / p) + b * (q - p)
    np.testing.assert_allclose(got, ref, rtol=1e-13)


def test_interval_weights_of_a_kinked_function_are_exact_per_segment():
    # A hat function (1 at 130, 0 at 100 and 151): integrate analytically on one cell.
    nodes = np.array([100.0, 130.0, 151.0])
    edges = np.array([120.0, 140.0])
    w = _photometry.interval_weights(nodes, edges)
    got = (w @ np.array([0.0, 1.0, 0.0]))[0]
    up = lambda lo, hi: ((hi - lo) - 100.0 * math.log(hi / lo)) / 30.0  # (l - 100)/30 / l
    down = lambda lo, hi: (151.0 * math.log(hi / lo) - (hi - lo)) / 21.0  # (151 - l)/21 / l
    assert got == pytest.approx(up(120.0, 130.0) + down(130.0, 140.0), rel=1e-13)


def test_layout_uniform_cells_cover_every_redshift():
    native = np.geomspace(50.0, 1e7, 3000)
    layout = _photometry.phot_grid_layout(native, 3000.0, 9000.0, z_max=4.0, du=1e-3, full_range=False)
    fine = layout.edges_aa[layout.fine_start : layout.fine_stop + 1]
    np.testing.assert_allclose(np.diff(np.log(fine)), 1e-3, rtol=1e-9)
    assert fine[0] < 3000.0 / 5.0 and fine[-1] > 9000.0


def test_layout_full_range_reaches_the_grid_ends():
    native = np.geomspace(50.0, 1e7, 3000)
    layout = _photometry.phot_grid_layout(native, 3000.0, 9000.0, z_max=4.0, du=1e-3, full_range=True)
    assert layout.edges_aa[0] == pytest.approx(50.0) and layout.edges_aa[-1] == pytest.approx(1e7)
    assert np.all(np.diff(layout.edges_aa) > 0)


def _tables(z_max=3.0):
    native = np.geomspace(50.0, 1e7, 3000)
    layout = _photometry.phot_grid_layout(native, 4000.0, 6000.0, z_max=z_max, du=1e-3, full_range=False)
    wave = np.linspace(4000.0, 6000.0, 41)
    trans = np.interp(wave, [4000.0, 4500.0, 5500.0, 6000.0], [0.0, 1.0, 0.6, 0.0])
    return layout, _photometry.build_phot_tables(layout, [("box", wave, trans)], z_max)


@pytest.mark.parametrize("z", [0.0, 0.31, 1.7777, 3.0])
def test_flat_spectrum_gives_its_constant_at_any_redshift(z):
    # A flat f_nu has the same band average everywhere (AB zero points are exact).
    layout, tables = _tables()
    cells = jnp.full(layout.edges_aa.size - 1, 2.5)
    got = _photometry.shift_project(tables, cells, jnp.log1p(z))
    assert float(got[0]) == pytest.approx(2.5, rel=1e-6)


def test_power_law_spectrum_matches_the_analytic_band_average():
    # f_nu ~ lambda^2 (rest). Observed at z it is ((lambda/(1+z))^2); the band average is
    # int T l^2 dl/l / int T dl/l / (1+z)^2, computed here by fine quadrature.
    layout, tables = _tables()
    centers = layout.centers_aa
    edges = layout.edges_aa
    # Exact cell averages of lambda^2 over d ln lambda: (b^2 - a^2) / 2 / ln(b/a).
    cells = (edges[1:] ** 2 - edges[:-1] ** 2) / 2 / np.log(edges[1:] / edges[:-1]) / 1e7
    z = 0.87
    got = float(_photometry.shift_project(tables, jnp.asarray(cells), jnp.log1p(z))[0])
    lam = np.linspace(4000.0, 6000.0, 200001)
    t = np.interp(lam, [4000.0, 4500.0, 5500.0, 6000.0], [0.0, 1.0, 0.6, 0.0])
    ref = np.trapezoid(t * lam / (1 + z) ** 2 / 1e7, lam) / np.trapezoid(t / lam, lam)
    assert centers.size == cells.size
    assert got == pytest.approx(ref, rel=2e-6)


def test_shift_project_is_continuous_and_differentiable_in_redshift():
    # float64 so that central differences resolve the derivative.
    with jax.enable_x64(True):
        layout, tables = _tables()
        u = np.log(layout.centers_aa)
        cells = jnp.asarray(np.exp(-((u - np.log(3000.0)) ** 2) / 0.5))
        f = lambda s: _photometry.shift_project(tables, cells, s)[0]
        s0 = 0.5 + 0.37e-3  # inside a cell: the result is linear there
        grad = float(jax.grad(f)(jnp.asarray(s0)))
        h = 1e-6
        fd = float((f(jnp.asarray(s0 + h)) - f(jnp.asarray(s0 - h))) / (2 * h))
        assert grad == pytest.approx(fd, rel=1e-6)
        # continuous across a cell boundary (a shift of exactly 500 cells)
        assert float(f(jnp.asarray(0.5 - 1e-12))) == pytest.approx(float(f(jnp.asarray(0.5 + 1e-12))), rel=1e-9)
