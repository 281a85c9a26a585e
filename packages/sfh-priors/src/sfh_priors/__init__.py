"""sfh_priors: star-formation-history models and priors."""

from importlib.metadata import version as _version

__version__ = _version("sfh-priors")
