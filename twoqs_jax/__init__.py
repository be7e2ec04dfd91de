"""twoqs_jax: truncated Wigner for open quantum spins (TWOQS), mean field and exact references.

One model description (:class:`SpinModel`) drives every method through one entry point::

    sol = tq.solve(model, state, saveat, method, n_traj=..., key=...)

with ``saveat`` a :class:`SaveAt` (the initial state sits at ``ts[0]``) or
:class:`SteadyState`, and ``method`` one of :class:`TWOQS`, :class:`MeanField`,
:class:`Cumulants`, :class:`Exact`. Subsystems and paper-specific helpers live in
namespaces: ``tq.central``, ``tq.qudit``, ``tq.lattice``, ``tq.analysis``, ``tq.exact``,
``tq.plot``. Importing the package has no side effects: no JAX settings are changed (enable
float64 yourself with ``jax.config.update("jax_enable_x64", True)`` where you need it).
"""

from importlib import metadata as _metadata

from . import analysis as analysis
from . import central as central
from . import lattice as lattice
from . import qudit as qudit

# the previous API, for one release (each call warns and names its replacement)
from ._deprecated import simulate_twa as simulate_twa
from ._deprecated import solve_cumulants as solve_cumulants
from ._deprecated import solve_exact as solve_exact
from ._deprecated import solve_meanfield as solve_meanfield
from ._deprecated import steady_state_exact as steady_state_exact
from ._deprecated import steady_state_twa as steady_state_twa
from ._deprecated import twa_gradient as twa_gradient
from ._estimators import Auto as Auto
from ._estimators import LikelihoodRatio as LikelihoodRatio
from ._estimators import Pathwise as Pathwise
from ._gradient import Gradient as Gradient
from ._gradient import gradient as gradient
from ._io import Results as Results
from ._io import load as load
from ._io import save as save
from ._jumps.correlated import CorrelatedJump as CorrelatedJump
from ._jumps.spin_jump import SpinJump as SpinJump
from ._methods import TWOQS as TWOQS
from ._methods import Cumulants as Cumulants
from ._methods import Exact as Exact
from ._methods import MeanField as MeanField
from ._model.cavity import CavityModel as CavityModel
from ._model.cavity import CavityState as CavityState
from ._model.cavity_presets import dicke_critical_coupling as dicke_critical_coupling
from ._model.cavity_presets import open_dicke as open_dicke
from ._model.cavity_presets import tavis_cummings_cavity as tavis_cummings_cavity
from ._model.cavity_presets import two_ensembles as two_ensembles
from ._model.graphs import Graph as Graph
from ._model.graphs import chain as chain
from ._model.graphs import edge_list as edge_list
from ._model.graphs import on_site as on_site
from ._model.graphs import ring as ring
from ._model.graphs import square_lattice as square_lattice
from ._model.jumps import AbstractJump as AbstractJump
from ._model.jumps import Decay as Decay
from ._model.jumps import Dephasing as Dephasing
from ._model.jumps import Gain as Gain
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
from ._observables import Observable as Observable
from ._observables import PhaseSpaceFunction as PhaseSpaceFunction
from ._observables import register_observable as register_observable
from ._options import Options as Options
from ._saveat import SaveAt as SaveAt
from ._saveat import SteadyState as SteadyState
from ._sde.schemes import EulerMaruyama as EulerMaruyama
from ._solution import Solution as Solution
from ._solve import solve as solve
from ._validity import TWOQSAccuracyWarning as TWOQSAccuracyWarning

try:  # written once, in pyproject.toml
    __version__ = _metadata.version("twoqs_jax")
except _metadata.PackageNotFoundError:  # pragma: no cover - a source tree that is not installed
    __version__ = "0+unknown"

# Flat names of the previous API that moved into namespaces: still reachable for one
# release, with a DeprecationWarning naming the new place.
_MOVED = {
    # tq.exact
    **{
        name: ("exact", name)
        for name in (
            "ExactCost",
            "estimate_exact_cost",
            "expectations",
            "purity",
            "reduced_state",
            "coherent_state",
            "collapse_operators",
            "hamiltonian",
            "liouvillian",
            "spin_husimi",
            "spin_wigner",
            "driven_spin_steady_state",
            "evolve_rho",
            "steady_state_rho",
            "liouvillian_gap",
        )
    },
    # tq.analysis
    **{
        name: ("analysis", name)
        for name in (
            "bisect_boundary",
            "find_boundary",
            "lmg_dimer_critical_J",
            "lmg_dimer_critical_lambda",
            "Dynamics",
            "classify_dynamics",
            "FixedPoints",
            "find_fixed_points",
            "steady_state_gradient",
            "tune_parameter",
            "PhaseDiagram",
            "lmg_dimer_phase_diagram",
            "plot_phase_diagram",
            "growth_rate",
            "stability_eigenvalues",
            "meanfield_rhs",
        )
    },
    "NORMAL_STATE": ("analysis", "LMG_DIMER_NORMAL_STATE"),
    "lmg_dimer_Jc_eq12": ("analysis", "lmg_dimer_critical_J_closed_form"),
    "lmg_dimer_lambda_c_eq13": ("analysis", "lmg_dimer_critical_lambda_small_J"),
    # tq.lattice
    **{
        name: ("lattice", name)
        for name in (
            "correlation_function",
            "correlation_length",
            "translation_averaged_functions",
            "xyz_chain_critical_Jy",
            "xyz_chain_growth_rate",
            "LinearizedModel",
            "linear_growth_rate",
            "linear_steady_state",
            "linearize",
        )
    },
    # tq.central
    "CentralSpinModel": ("central", "CentralSpinModel"),
    "TavisCummingsModel": ("central", "TavisCummingsModel"),
    "fixed_g_sqrtN": ("central", "fixed_g_sqrtN"),
    "fixed_kappa_over_N": ("central", "fixed_kappa_over_N"),
    "ExactCentral": ("central", "ExactCentral"),
    "solve_central_exact": ("central", "solve_exact"),
    "solve_central_cumulant": ("_central.cumulant", "solve_central_cumulant"),
    "central_quadrature": ("central", "quadrature"),
    "emergent_jc_parameters": ("central", "emergent_jc_parameters"),
    "solve_central_theorem2": ("central", "solve_weak_coupling_limit"),
    "solve_emergent_jc": ("central", "solve_emergent_jc"),
    "central_meanfield_analytic": ("central", "meanfield_analytic"),
    # tq.qudit
    "QuditLMG": ("qudit", "QuditLMG"),
    "solve_qudit_meanfield": ("_qudit.meanfield", "solve_qudit_meanfield"),
    "solve_large_spin": ("qudit", "solve_large_spin"),
    "bistable_upper_end": ("qudit", "bistable_upper_end"),
    "qudit_coherent_rho": ("qudit", "coherent_rho"),
    "qudit_fixed_point": ("qudit", "fixed_point"),
    "qudit_polarised_state": ("qudit", "polarised_state"),
    "qudit_broken_symmetry_state": ("qudit", "broken_symmetry_state"),
    "qudit_jacobian_eigenvalues": ("qudit", "jacobian_eigenvalues"),
    "qudit_branch_in_gamma": ("qudit", "branch_in_gamma"),
    "qudit_branch_in_z": ("qudit", "branch_in_z"),
    "qudit_steady_state": ("qudit", "steady_state"),
    "qudit_liouvillian": ("qudit", "liouvillian"),
    "qudit_purity": ("qudit", "purity"),
    "qudit_negativity": ("qudit", "negativity"),
    "qudit_sector_gaps": ("qudit", "sector_gaps"),
    # internals that were public
    "RunningStats": ("_sde.statistics", "RunningStats"),
    "TwaGradient": ("_deprecated", "TwaGradient"),
}


_ADVICE = {
    "solve_central_cumulant": "tq.solve(model, state, saveat, tq.Cumulants(order=...))",
    "solve_qudit_meanfield": "tq.solve(model, rho0, tq.SaveAt(ts), tq.MeanField())",
    "RunningStats": "the statistics of tq.solve (sol.mean, sol.sem)",
    "TwaGradient": "tq.gradient (a tq.Gradient)",
}


# Namespaces that need an optional library load on first access (``tq.exact``: QuTiP).
_LAZY_NAMESPACES = ("exact", "plot")


def __getattr__(name):
    if name in _LAZY_NAMESPACES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    if name in _MOVED:
        import importlib
        import warnings

        module, new = _MOVED[name]
        advice = _ADVICE.get(name, f"twoqs_jax.{module}.{new}")
        warnings.warn(
            f"twoqs_jax.{name} is deprecated and will be removed in the next release; use "
            f"{advice} instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(f"{__name__}.{module}"), new)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
