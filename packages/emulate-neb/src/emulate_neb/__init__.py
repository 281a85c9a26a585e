"""emulate_neb."""

from importlib.metadata import version as _version

__version__ = _version("emulate-neb")
