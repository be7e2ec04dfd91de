"""One kind of result for every method (TWOQS, mean field, cumulants, exact, ...).

Observable names come from one registry (:mod:`twoqs_jax._observables`), shared by all
methods, so results can be compared key by key. The built-in names:

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
``spin_drift``          ``(n,)``      TWOQS only: ``<(a^+a + b^+b)/2> - S_i``
======================  ============  ==================================================

Leading axes: a batch of models adds a ``batch`` axis first; time-resolved results then have
a ``time`` axis (``(T, ...)``), steady states do not. The initial state sits at
``times[0]``. Every array is a numpy array. Stochastic methods fill ``sem`` (standard error
of the mean over independent trajectories); deterministic ones leave it empty.
"""

import equinox as eqx
import numpy as np

from ._optional import require


def _numpy(table):
    """A dict of numpy arrays (jax arrays and scalars converted; ``None``: empty)."""
    return {k: np.asarray(v) for k, v in (table or {}).items()}


def _numpy_times(times):
    return None if times is None else np.asarray(times)


class Solution(eqx.Module):
    """Result of any solver.

    Attributes:
        method: "twa", "meanfield", "cumulant2", "exact", ...
        times: ``(T,)`` saving times (``times[0]``: the initial state), or ``None`` for a
            steady state.
        mean: observable name -> estimate (numpy; see the module docstring for shapes).
        sem: observable name -> standard error of ``mean`` (stochastic methods only).
        stats: run metadata (n_traj, dt, representation, key, clip fraction, spin-length
            drift, wall time, ...), plain Python values.
        dims: observable name -> axis names (``batch``, ``time``, ``site``, ``site_j``).
        coords: coordinate name -> values (e.g. a swept parameter for the ``batch`` axis).
    """

    method: str = eqx.field(static=True)
    times: np.ndarray | None = eqx.field(converter=_numpy_times)
    mean: dict = eqx.field(converter=_numpy)
    sem: dict = eqx.field(converter=_numpy)
    stats: dict = eqx.field(static=True)
    dims: dict = eqx.field(static=True, default_factory=dict)
    coords: dict = eqx.field(default_factory=dict)

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

    def dims_of(self, name) -> tuple:
        """Axis names of ``mean[name]`` (stored, or inferred from its shape)."""
        arr = np.asarray(self[name])
        if name in self.dims and len(self.dims[name]) == arr.ndim:
            return tuple(self.dims[name])
        lead = ["time"] if self.times is not None else []
        names = (["batch"] if arr.ndim > len(lead) + 1 and self._batched() else []) + lead
        names = names + ["site", "site_j"][: max(arr.ndim - len(names), 0)]
        names = names + [f"dim_{i}" for i in range(len(names), arr.ndim)]
        return tuple(names[: arr.ndim])

    def _batched(self):
        return any("batch" in d for d in self.dims.values())

    def to_xarray(self, coords=None):
        """An ``xarray.Dataset``: every observable a variable, its standard error
        ``<name>_sem``; coordinates ``time`` and any in ``coords``/``self.coords`` (e.g.
        ``{"batch": omegas}`` or ``{"Omega": ("batch", omegas)}`` for a sweep). Complex
        observables stay complex. Needs ``xarray`` (``pip install twoqs_jax[xarray]``).

        Examples:
            >>> ds = sol.to_xarray(coords={"batch": omegas})  # doctest: +SKIP
            >>> ds["Sz"].sel(site=0)  # doctest: +SKIP
        """
        xr = require("xarray", "Solution.to_xarray")
        data = {}
        for name, value in self.mean.items():
            dims = self.dims_of(name)
            data[name] = (dims, np.asarray(value))
            if name in self.sem:
                data[f"{name}_sem"] = (dims, np.asarray(self.sem[name]))
        all_coords = {}
        if self.times is not None:
            all_coords["time"] = np.asarray(self.times)
        for k, v in {**self.coords, **(coords or {})}.items():
            all_coords[k] = v
        attrs = {"method": self.method}
        for k, v in self.stats.items():
            if isinstance(v, str | int | float | bool):
                attrs[k] = v
        return xr.Dataset(data, coords=all_coords, attrs=attrs)

    def __repr__(self):
        keys = ", ".join(sorted(self.mean))
        t = "steady state" if self.times is None else f"{len(self.times)} times"
        return f"Solution(method={self.method!r}, {t}, observables=[{keys}], stats={self.stats})"
