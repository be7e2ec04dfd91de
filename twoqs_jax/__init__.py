"""twoqs_jax: truncated Wigner for open quantum spins (TWOQS), mean field and exact references.

One model description (:class:`SpinModel`) drives every method through one entry point::

    sol = tq.solve(model, state, saveat, method, n_traj=..., key=...)

with ``saveat`` a :class:`SaveAt` (the initial state sits at ``ts[0]``) or
:class:`SteadyState`, and ``method`` one of :class:`TWOQS`, :class:`MeanField`,
:class:`Cumulants`, :class:`Exact`. Subsystems and paper-specific helpers live in
namespaces: ``tq.central``, ``tq.qudit``, ``tq.lattice``, ``tq.analysis``, ``tq.exact``,
``tq.plot``. Importing the package has no side effects: no JAX settings are changed (enable
float64 yourself with ``jax.config.update("jax_enable_x64", True)`` where you need it), and
nothing heavy is imported: each public name loads its module (and JAX) on first use.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what type checkers, IDEs and the docs see; at run time: _LAZY
    from . import analysis as analysis
    from . import central as central
    from . import exact as exact
    from . import lattice as lattice
    from . import plot as plot
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
    from ._estimators import FiniteDifference as FiniteDifference
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
    from ._sde.schemes import WeakOrder2 as WeakOrder2
    from ._solution import Solution as Solution
    from ._solve import solve as solve
    from ._validity import TWOQSAccuracyWarning as TWOQSAccuracyWarning


# Every public name and the module that defines it, loaded on first access (PEP 562):
# `import twoqs_jax` imports neither JAX nor an optional library, so the command line can
# read and check a configuration first. tests/test_quality.py checks that this table and
# the TYPE_CHECKING imports above name the same objects.
_LAZY = {
    "analysis": "analysis",
    "central": "central",
    "exact": "exact",  # loads QuTiP
    "lattice": "lattice",
    "plot": "plot",  # loads matplotlib
    "qudit": "qudit",
    "simulate_twa": "_deprecated",
    "solve_cumulants": "_deprecated",
    "solve_exact": "_deprecated",
    "solve_meanfield": "_deprecated",
    "steady_state_exact": "_deprecated",
    "steady_state_twa": "_deprecated",
    "twa_gradient": "_deprecated",
    "Auto": "_estimators",
    "FiniteDifference": "_estimators",
    "LikelihoodRatio": "_estimators",
    "Pathwise": "_estimators",
    "Gradient": "_gradient",
    "gradient": "_gradient",
    "Results": "_io",
    "load": "_io",
    "save": "_io",
    "CorrelatedJump": "_jumps.correlated",
    "SpinJump": "_jumps.spin_jump",
    "TWOQS": "_methods",
    "Cumulants": "_methods",
    "Exact": "_methods",
    "MeanField": "_methods",
    "CavityModel": "_model.cavity",
    "CavityState": "_model.cavity",
    "dicke_critical_coupling": "_model.cavity_presets",
    "open_dicke": "_model.cavity_presets",
    "tavis_cummings_cavity": "_model.cavity_presets",
    "two_ensembles": "_model.cavity_presets",
    "Graph": "_model.graphs",
    "chain": "_model.graphs",
    "edge_list": "_model.graphs",
    "on_site": "_model.graphs",
    "ring": "_model.graphs",
    "square_lattice": "_model.graphs",
    "AbstractJump": "_model.jumps",
    "Decay": "_model.jumps",
    "Dephasing": "_model.jumps",
    "Gain": "_model.jumps",
    "Coupling": "_model.model",
    "SpinModel": "_model.model",
    "flip_flop": "_model.model",
    "collective_dephasing": "_model.presets",
    "driven_spin": "_model.presets",
    "heisenberg_chain": "_model.presets",
    "lmg": "_model.presets",
    "lmg_dimer": "_model.presets",
    "one_axis_twisting": "_model.presets",
    "pt_chain": "_model.presets",
    "pt_dimer": "_model.presets",
    "superradiance": "_model.presets",
    "SpinCoherentState": "_model.states",
    "along_x": "_model.states",
    "spin_down": "_model.states",
    "spin_up": "_model.states",
    "Observable": "_observables",
    "PhaseSpaceFunction": "_observables",
    "register_observable": "_observables",
    "Options": "_options",
    "SaveAt": "_saveat",
    "SteadyState": "_saveat",
    "EulerMaruyama": "_sde.schemes",
    "WeakOrder2": "_sde.schemes",
    "Solution": "_solution",
    "solve": "_solve",
    "TWOQSAccuracyWarning": "_validity",
}

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


def _version() -> str:
    from importlib import metadata as _metadata  # 0.1-0.3 s: loaded when asked for

    try:  # written once, in pyproject.toml
        __version__ = _metadata.version("twoqs_jax")
    except _metadata.PackageNotFoundError:  # pragma: no cover - a source tree not installed
        __version__ = "0+unknown"
    return __version__


def __getattr__(name):
    if name == "__version__":
        globals()[name] = _version()
        return globals()[name]
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
        value = module if _LAZY[name] == name else getattr(module, name)
        globals()[name] = value  # later accesses skip this function
        return value
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


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | {"__version__"})
