"""Mean-field analysis: fixed points, stability, dynamics, phase boundaries and diagrams.

Differentiable (JAX) analysis of the mean-field equations of a :class:`twoqs_jax.SpinModel`
(hbar = 1, standard Lindblad rates, normalised spin vectors ``X_i = <S_i>/S_i``), and the
LMG-dimer helpers of paper 000 (boundaries, phase diagram; the paper's closed forms are
``lmg_dimer_critical_J_closed_form``, Eq. 12, and ``lmg_dimer_critical_lambda_small_J``,
Eq. 13).
"""

from ._analysis.boundaries import NORMAL_STATE as LMG_DIMER_NORMAL_STATE
from ._analysis.boundaries import bisect_boundary as bisect_boundary
from ._analysis.boundaries import find_boundary as find_boundary
from ._analysis.boundaries import lmg_dimer_critical_J as lmg_dimer_critical_J
from ._analysis.boundaries import (
    lmg_dimer_critical_J_closed_form as lmg_dimer_critical_J_closed_form,
)
from ._analysis.boundaries import lmg_dimer_critical_lambda as lmg_dimer_critical_lambda
from ._analysis.boundaries import (
    lmg_dimer_critical_lambda_small_J as lmg_dimer_critical_lambda_small_J,
)
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
from ._meanfield.meanfield import meanfield_rhs as meanfield_rhs

__all__ = [
    "LMG_DIMER_NORMAL_STATE",
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
]
