"""Lattices: linearised (Holstein-Primakoff) theory, correlation functions and lengths.

Around a fully polarised state (hbar = 1, standard Lindblad rates) the fluctuations are
bosons with a Gaussian steady state (:func:`linear_steady_state`, real space or per
momentum); correlation functions ``C(s) = <S_n^+ S_{n+s}^-> / <S_n^+ S_n^->`` come from any
solution with ``SpSm`` or from TWOQS with translation-averaged phase-space functions.
"""

from ._lattice.correlations import correlation_function as correlation_function
from ._lattice.correlations import correlation_length as correlation_length
from ._lattice.correlations import (
    translation_averaged_functions as translation_averaged_functions,
)
from ._lattice.correlations import xyz_chain_critical_Jy as xyz_chain_critical_Jy
from ._lattice.correlations import xyz_chain_growth_rate as xyz_chain_growth_rate
from ._lattice.linear import LinearizedModel as LinearizedModel
from ._lattice.linear import linear_growth_rate as linear_growth_rate
from ._lattice.linear import linear_steady_state as linear_steady_state
from ._lattice.linear import linearize as linearize

__all__ = [
    "correlation_function",
    "correlation_length",
    "xyz_chain_critical_Jy",
    "xyz_chain_growth_rate",
    "LinearizedModel",
    "linear_growth_rate",
    "linear_steady_state",
    "linearize",
]
