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
from ._exact.cost import ExactCost as ExactCost
from ._exact.cost import estimate_exact_cost as estimate_exact_cost
from ._exact.observables import expectations as expectations
from ._exact.observables import purity as purity
from ._exact.observables import reduced_state as reduced_state
from ._exact.operators import coherent_state as coherent_state
from ._exact.operators import collapse_operators as collapse_operators
from ._exact.operators import hamiltonian as hamiltonian
from ._exact.operators import liouvillian as liouvillian
from ._exact.phase_space import spin_husimi as spin_husimi
from ._exact.phase_space import spin_wigner as spin_wigner
from ._exact.resonance_fluorescence import driven_spin_steady_state as driven_spin_steady_state
from ._exact.solve import evolve_rho as evolve_rho
from ._exact.solve import solve_exact as solve_exact
from ._exact.solve import steady_state_exact as steady_state_exact
from ._exact.solve import steady_state_rho as steady_state_rho
from ._exact.spectrum import liouvillian_gap as liouvillian_gap

# --- phase space / TWOQS engine (twoqs_jax/_phase_space, twoqs_jax/_sde) ---
from ._sde.statistics import RunningStats as RunningStats
from ._twa import simulate_twa as simulate_twa
from ._twa import steady_state_twa as steady_state_twa
from ._twa_grad import TwaGradient as TwaGradient
from ._twa_grad import twa_gradient as twa_gradient

# --- mean field, cumulants, analysis (twoqs_jax/_meanfield, twoqs_jax/_analysis) ---
from ._meanfield.meanfield import meanfield_rhs as meanfield_rhs
from ._meanfield.meanfield import solve_meanfield as solve_meanfield
from ._meanfield.cumulants import solve_cumulants as solve_cumulants
from ._analysis.boundaries import NORMAL_STATE as NORMAL_STATE
from ._analysis.boundaries import bisect_boundary as bisect_boundary
from ._analysis.boundaries import find_boundary as find_boundary
from ._analysis.boundaries import lmg_dimer_critical_J as lmg_dimer_critical_J
from ._analysis.boundaries import lmg_dimer_critical_lambda as lmg_dimer_critical_lambda
from ._analysis.boundaries import lmg_dimer_Jc_eq12 as lmg_dimer_Jc_eq12
from ._analysis.boundaries import lmg_dimer_lambda_c_eq13 as lmg_dimer_lambda_c_eq13
from ._analysis.dynamics import Dynamics as Dynamics
from ._analysis.dynamics import classify_dynamics as classify_dynamics
from ._analysis.fixed_points import FixedPoints as FixedPoints
from ._analysis.fixed_points import find_fixed_points as find_fixed_points
from ._analysis.gradients import steady_state_gradient as steady_state_gradient
from ._analysis.gradients import tune_parameter as tune_parameter
from ._analysis.phase_diagram import PhaseDiagram as PhaseDiagram
from ._analysis.phase_diagram import lmg_dimer_phase_diagram as lmg_dimer_phase_diagram
from ._analysis.phase_diagram import plot_phase_diagram as plot_phase_diagram
from ._analysis.stability import growth_rate as growth_rate
from ._analysis.stability import stability_eigenvalues as stability_eigenvalues

# --- central spin / Tavis-Cummings (twoqs_jax/_central) ---
from ._central.cumulant import solve_central_cumulant as solve_central_cumulant
from ._central.exact import ExactCentral as ExactCentral
from ._central.exact import solve_central_exact as solve_central_exact
from ._central.limits import central_quadrature as central_quadrature
from ._central.limits import emergent_jc_parameters as emergent_jc_parameters
from ._central.limits import solve_central_theorem2 as solve_central_theorem2
from ._central.limits import solve_emergent_jc as solve_emergent_jc
from ._central.meanfield import central_meanfield_analytic as central_meanfield_analytic
from ._central.model import CentralSpinModel as CentralSpinModel
from ._central.model import TavisCummingsModel as TavisCummingsModel
from ._central.model import fixed_g_sqrtN as fixed_g_sqrtN
from ._central.model import fixed_kappa_over_N as fixed_kappa_over_N

# --- qudit LMG (twoqs_jax/_qudit) ---
from ._qudit import QuditLMG as QuditLMG
from ._qudit import solve_qudit_meanfield as solve_qudit_meanfield
from ._qudit import solve_large_spin as solve_large_spin
from ._qudit import bistable_upper_end as bistable_upper_end
from ._qudit import qudit_coherent_rho as qudit_coherent_rho
from ._qudit import qudit_fixed_point as qudit_fixed_point
from ._qudit import qudit_polarised_state as qudit_polarised_state
from ._qudit import qudit_broken_symmetry_state as qudit_broken_symmetry_state
from ._qudit import qudit_jacobian_eigenvalues as qudit_jacobian_eigenvalues
from ._qudit import qudit_branch_in_gamma as qudit_branch_in_gamma
from ._qudit import qudit_branch_in_z as qudit_branch_in_z
from ._qudit import qudit_steady_state as qudit_steady_state
from ._qudit import qudit_liouvillian as qudit_liouvillian
from ._qudit import qudit_purity as qudit_purity
from ._qudit import qudit_negativity as qudit_negativity
from ._qudit import qudit_sector_gaps as qudit_sector_gaps

# --- lattices (twoqs_jax/_lattice) ---
from ._lattice.correlations import correlation_function as correlation_function
from ._lattice.correlations import correlation_length as correlation_length
from ._lattice.correlations import translation_averaged_functions as translation_averaged_functions
from ._lattice.correlations import xyz_chain_critical_Jy as xyz_chain_critical_Jy
from ._lattice.correlations import xyz_chain_growth_rate as xyz_chain_growth_rate
from ._lattice.linear import LinearizedModel as LinearizedModel
from ._lattice.linear import linear_growth_rate as linear_growth_rate
from ._lattice.linear import linear_steady_state as linear_steady_state
from ._lattice.linear import linearize as linearize

__version__ = "0.1.0"
