"""Central spin and Tavis-Cummings models (papers 002 and 004).

One central spin-1/2 (or a cavity mode) coupled to ``N`` identical spin-1/2 satellites
(hbar = 1, Pauli matrices, standard Lindblad rates; see
:class:`~twoqs_jax._central.model.CentralSpinModel`). Exact permutation-invariant results and
mean-field/cumulant expansions run through :func:`twoqs_jax.solve`; this namespace holds the
models and the paper-specific limits.
"""

from ._central.exact import ExactCentral as ExactCentral
from ._central.exact import solve_central_exact as solve_exact
from ._central.limits import central_quadrature as quadrature
from ._central.limits import emergent_jc_parameters as emergent_jc_parameters
from ._central.limits import solve_emergent_jc as solve_emergent_jc
from ._central.limits import solve_weak_coupling_limit as solve_weak_coupling_limit
from ._central.meanfield import central_meanfield_analytic as meanfield_analytic
from ._central.model import CentralSpinModel as CentralSpinModel
from ._central.model import TavisCummingsModel as TavisCummingsModel
from ._central.model import fixed_g_sqrtN as fixed_g_sqrtN
from ._central.model import fixed_kappa_over_N as fixed_kappa_over_N

__all__ = [
    "ExactCentral",
    "solve_exact",
    "quadrature",
    "emergent_jc_parameters",
    "solve_emergent_jc",
    "solve_weak_coupling_limit",
    "meanfield_analytic",
    "CentralSpinModel",
    "TavisCummingsModel",
    "fixed_g_sqrtN",
    "fixed_kappa_over_N",
]
