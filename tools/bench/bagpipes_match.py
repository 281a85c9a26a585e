"""Values of bagpipes (Carnall et al. 2018) that the side-by-side benchmark's fits share.

The engine configured as bagpipes models a galaxy is ``tools/bench/bagpipes_recipe.json``
(an ``emulate_sps.SimulationRecipe``: BC03 on bagpipes' 0.1-dex ages, its cosmology,
linear metallicity interpolation, Calzetti birth clouds, DL07 dust emission);
``tests-integration/test_vs_bagpipes.py`` checks that model against bagpipes' spectra.
Nothing here imports bagpipes; the values are written from its documentation.
"""

from __future__ import annotations

import numpy as np

#: bagpipes' DL07 dust-emission values (qpah, umin, gamma) of the benchmark's fits.
DL07 = {"duste_qpah": 2.0, "duste_umin": 1.0, "duste_gamma": 0.01}
#: A_V = 1.0857 tau_V (magnitudes per optical depth).
AV_PER_TAU = 2.5 / np.log(10.0)
