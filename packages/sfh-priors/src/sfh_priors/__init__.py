"""sfh_priors: star-formation-history models and priors.

Each model is a small pytree of hyper-parameters (its prior); its parameters are a
NamedTuple carrying ``log_mass`` (log10 M_sun formed) and the shape parameters. The same
pure functions work for every model, one galaxy per call (batch with ``jax.vmap``):

- ``sample(key, model)`` and ``log_prob(model, params)``; ``numpyro_sample(name, model)``
  inside numpyro models;
- ``mass_in_bins(model, params, age_edges_yr, t_univ_yr)``: mass formed per age bin,
  integrated exactly;
- ``sfr``, ``average_sfr``, ``specific_sfr``, ``mass_weighted_age_yr``,
  ``formation_lookback_yr`` and ``summarize`` for derived quantities.
"""

from importlib.metadata import version as _version

from ._base import SFHModel as SFHModel
from ._base import log_prob as log_prob
from ._base import mass_in_bins as mass_in_bins
from ._base import numpyro_sample as numpyro_sample
from ._base import sample as sample
from ._base import sfr as sfr
from ._bursty import BurstyGP as BurstyGP
from ._bursty import BurstyParams as BurstyParams
from ._bursty import log_sfr_autocorrelation as log_sfr_autocorrelation
from ._derived import SFHSummary as SFHSummary
from ._derived import average_sfr as average_sfr
from ._derived import formation_lookback_yr as formation_lookback_yr
from ._derived import mass_formed_msun as mass_formed_msun
from ._derived import mass_weighted_age_yr as mass_weighted_age_yr
from ._derived import specific_sfr as specific_sfr
from ._derived import summarize as summarize
from ._distributions import ContinuityPrior as ContinuityPrior
from ._modifiers import LateBurst as LateBurst
from ._modifiers import LateBurstParams as LateBurstParams
from ._modifiers import Truncated as Truncated
from ._modifiers import TruncatedParams as TruncatedParams
from ._names import BINNED_MODELS as BINNED_MODELS
from ._names import PARAMETRIC_MODELS as PARAMETRIC_MODELS
from ._names import model_from_name as model_from_name
from ._nonparametric import Continuity as Continuity
from ._nonparametric import ContinuityFlex as ContinuityFlex
from ._nonparametric import ContinuityFlexParams as ContinuityFlexParams
from ._nonparametric import ContinuityParams as ContinuityParams
from ._nonparametric import Dirichlet as Dirichlet
from ._nonparametric import DirichletParams as DirichletParams
from ._nonparametric import Leja19Edges as Leja19Edges
from ._nonparametric import age_bin_edges_yr as age_bin_edges_yr
from ._nonparametric import leja19_bin_edges_yr as leja19_bin_edges_yr
from ._parametric import Constant as Constant
from ._parametric import ConstantParams as ConstantParams
from ._parametric import DelayedTau as DelayedTau
from ._parametric import DelayedTauParams as DelayedTauParams
from ._parametric import DoublePowerLaw as DoublePowerLaw
from ._parametric import DoublePowerLawParams as DoublePowerLawParams
from ._parametric import LogNormal as LogNormal
from ._parametric import LogNormalParams as LogNormalParams
from ._parametric import Tau as Tau
from ._parametric import TauParams as TauParams

__version__ = _version("sfh-priors")
