"""emulate_sps."""

from importlib.metadata import version as _version

__version__ = _version("emulate-sps")
