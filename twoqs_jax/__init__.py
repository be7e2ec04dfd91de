"""twoqs_jax: truncated Wigner for open quantum spins (TWOQS), mean field and exact references.

One model description (:class:`SpinModel`) drives every method. Importing the package has
no side effects: no JAX settings are changed (enable float64 yourself with
``jax.config.update("jax_enable_x64", True)`` where you need it).
"""

from ._model.graphs import Graph as Graph
from ._model.graphs import chain as chain
from ._model.graphs import edge_list as edge_list
from ._model.graphs import on_site as on_site
from ._model.graphs import ring as ring
from ._model.graphs import square_lattice as square_lattice
from ._model.model import Coupling as Coupling
from ._model.model import SpinModel as SpinModel
from ._model.model import flip_flop as flip_flop
from ._model.presets import collective_dephasing as collective_dephasing
from ._model.presets import driven_spin as driven_spin
from ._model.presets import heisenberg_chain as heisenberg_chain
from ._model.presets import lmg as lmg
from ._model.presets import lmg_dimer as lmg_dimer
from ._model.presets import one_axis_twisting as one_axis_twisting
from ._model.presets import pt_chain as pt_chain
from ._model.presets import pt_dimer as pt_dimer
from ._model.presets import superradiance as superradiance
from ._model.states import SpinCoherentState as SpinCoherentState
from ._model.states import along_x as along_x
from ._model.states import spin_down as spin_down
from ._model.states import spin_up as spin_up

from ._solution import Solution as Solution

# --- exact references (twoqs_jax/_exact) ---
# --- phase space / TWOQS engine (twoqs_jax/_phase_space, twoqs_jax/_sde) ---
# --- mean field, cumulants, analysis (twoqs_jax/_meanfield, twoqs_jax/_analysis) ---
# --- central spin / Tavis-Cummings (twoqs_jax/_central) ---
# --- qudit LMG (twoqs_jax/_qudit) ---
# --- lattices (twoqs_jax/_lattice) ---

__version__ = "0.1.0"
