"""One kind of result for every method (TWOQS, mean field, cumulants, exact).

Observable names are shared by all methods, so results can be compared key by key:

======================  ============  ==================================================
name                    shape         meaning (per site i, j; symmetric order)
======================  ============  ==================================================
``Sx``, ``Sy``, ``Sz``  ``(n,)``      ``<S_i^a>``
``Sx2``, ``Sy2``,       ``(n,)``      ``<(S_i^a)^2>``
``Sz2``
``SxSy``, ``SxSz``,     ``(n,)``      ``<(S_i^a S_i^b + S_i^b S_i^a)/2>``
``SySz``
``varx``, ``vary``,     ``(n,)``      ``<(S_i^a)^2> - <S_i^a>^2``
``varz``
``SpSm``                ``(n, n)``    ``<S_i^+ S_j^->`` (complex in general)
``SzSz``                ``(n, n)``    ``<S_i^z S_j^z>`` (symmetrised on the diagonal)
``xi2``                 ``()``        squeezing parameter ``min_phi 2S Var(S_phi)/<S_z>^2``
                                      of site 0 (paper 003 Eq. 33; ``S_phi`` in the x-y
                                      plane, so it assumes a mean spin along +-z, as in
                                      the paper's squeezing runs from ``m = -S``)
======================  ============  ==================================================

For time-resolved results each array has a leading time axis ``(T, ...)``; for steady
states it does not. Stochastic methods fill ``sem`` (standard error of the mean over
independent trajectories); deterministic ones leave it empty.
"""

import equinox as eqx
import numpy as np


class Solution(eqx.Module):
    """Result of any solver.

    Attributes:
        method: "twa", "meanfield", "cumulant2", "exact", ...
        times: ``(T,)`` saving times, or ``None`` for a steady state.
        mean: observable name -> estimate (see the module docstring for names and shapes).
        sem: observable name -> standard error of ``mean`` (stochastic methods only).
        stats: run metadata (n_traj, dt, representation, key, clip fraction, spin-length
            drift, wall time, ...), plain Python values.
    """

    method: str = eqx.field(static=True)
    times: np.ndarray | None
    mean: dict
    sem: dict
    stats: dict = eqx.field(static=True)

    def __getitem__(self, name):
        """``sol["Sz"]`` is ``sol.mean["Sz"]``."""
        try:
            return self.mean[name]
        except KeyError:
            raise KeyError(
                f"observable {name!r} is not in this solution; it has {sorted(self.mean)}."
            ) from None

    def error(self, name):
        """Standard error of ``name`` (zeros for deterministic methods)."""
        if name in self.sem:
            return self.sem[name]
        return np.zeros_like(np.asarray(self[name]))

    def __repr__(self):
        keys = ", ".join(sorted(self.mean))
        t = "steady state" if self.times is None else f"{len(self.times)} times"
        return f"Solution(method={self.method!r}, {t}, observables=[{keys}], stats={self.stats})"
