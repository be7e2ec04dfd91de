"""One observable registry that every backend reads.

Every backend supplies a small fixed set of *primitive moments* per parameter point (and
time), in symmetric order (hbar = 1, ``S^pm = S_x pm i S_y``):

==================  ==========  ==================================================
primitive           shape       meaning
==================  ==========  ==================================================
``Sx Sy Sz``        ``(n,)``    ``<S_i^a>``
``Sx2 Sy2 Sz2``     ``(n,)``    ``<(S_i^a)^2>``
``SxSy SxSz SySz``  ``(n,)``    ``<(S_i^a S_i^b + S_i^b S_i^a) / 2>``
``SpSm``            ``(n, n)``  ``<S_i^+ S_j^->`` (complex)
``SzSz``            ``(n, n)``  ``<S_i^z S_j^z>`` (symmetrised on the diagonal)
``spin_drift``      ``(n,)``    ``<(a^+a + b^+b)/2> - S_i`` of the Schwinger bosons (TWOQS
                                only: zero in exact dynamics, a health monitor)
==================  ==========  ==================================================

An :class:`Observable` declares the primitives it needs, whether it is *linear* in them,
and one function ``fn(m, spin)`` that combines them (``m`` maps primitive names to arrays
with the per-point shapes above after any leading batch/time axes; ``spin`` has shape
``(..., n)`` aligned with the site primitives). TWOQS averages a linear observable per
trajectory (plain standard error over trajectories); a nonlinear one (variances, ``xi2``)
is computed from the trajectory means of its primitives, with a jackknife standard error.
The deterministic backends evaluate ``fn`` on their primitives. Adding an observable is one
call of :func:`register_observable`, and then every backend has it:

    >>> import twoqs_jax as tq
    >>> tq.register_observable("Sperp2", needs=("Sx2", "Sy2"), linear=True,
    ...                        fn=lambda m, spin: m["Sx2"] + m["Sy2"])  # doctest: +SKIP

``fn`` must work on numpy and jax arrays (linear observables run inside the TWOQS kernel on
jax arrays; everything else runs on numpy): use arithmetic operators, or pick the array
library from the inputs. Built-in names: the primitives, ``varx vary varz`` and ``xi2``.
"""

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

PRIMITIVES = {
    "Sx": "site",
    "Sy": "site",
    "Sz": "site",
    "Sx2": "site",
    "Sy2": "site",
    "Sz2": "site",
    "SxSy": "site",
    "SxSz": "site",
    "SySz": "site",
    "SpSm": "pair",
    "SzSz": "pair",
    "spin_drift": "site",
}
"""Primitive moments and their per-point kind (``site``: ``(n,)``, ``pair``: ``(n, n)``)."""

MODE_PRIMITIVES = {"a": "mode", "ada": "mode", "aa": "mode", "adadaa": "mode"}
"""Primitive moments of bosonic modes (:class:`twoqs_jax.CavityModel`), ``(M,)`` each:
``<a_k>``, ``<a_k^+ a_k>``, ``<a_k a_k>`` (complex) and ``<a_k^+ a_k^+ a_k a_k>``."""

COMPLEX_PRIMITIVES = ("SpSm", "a", "aa")
KINDS = ("site", "pair", "scalar", "mode")
DIMS = {"site": ("site",), "pair": ("site", "site_j"), "scalar": (), "mode": ("mode",)}


@dataclasses.dataclass(frozen=True)
class Observable:
    """A registered observable (see the module docstring).

    Attributes:
        name: its name in results (``sol[name]``).
        needs: primitive moments it combines.
        fn: ``fn(m, spin) -> array``.
        linear: linear in the primitives (TWOQS then averages it per trajectory).
        kind: per-point shape, ``"site"`` ``(n,)``, ``"pair"`` ``(n, n)`` or ``"scalar"``.
        doc: one line of documentation.
    """

    name: str
    needs: tuple
    fn: Callable
    linear: bool
    kind: str = "site"
    doc: str = ""

    def __post_init__(self):
        if not (isinstance(self.name, str) and self.name.isidentifier()):
            raise ValueError(f"`name` must be an identifier string, got {self.name!r}.")
        needs = (self.needs,) if isinstance(self.needs, str) else tuple(self.needs)
        for p in needs:
            if p not in PRIMITIVES and p not in MODE_PRIMITIVES:
                raise ValueError(
                    f"`needs` of observable {self.name!r} holds {p!r}, which is not a "
                    f"primitive moment; primitives: {list(PRIMITIVES) + list(MODE_PRIMITIVES)}."
                )
        if not needs:
            raise ValueError(f"observable {self.name!r} must need at least one primitive.")
        object.__setattr__(self, "needs", needs)
        if not callable(self.fn):
            raise ValueError(f"`fn` of observable {self.name!r} must be callable.")
        if self.kind not in KINDS:
            raise ValueError(f"`kind` must be one of {list(KINDS)}, got {self.kind!r}.")
        if self.name in {**PRIMITIVES, **MODE_PRIMITIVES} and _is_identity(self) is False:
            raise ValueError(f"the name {self.name!r} is a primitive moment; choose another.")

    def __call__(self, m, spin):
        """``fn(m, spin)``."""
        return self.fn(m, spin)


def _is_identity(obs) -> bool | None:
    return getattr(obs.fn, "_primitive", None) == obs.name


@dataclasses.dataclass(frozen=True)
class PhaseSpaceFunction:
    """A user function of one trajectory's amplitudes, averaged over trajectories (TWOQS).

    ``fn(alpha, beta)`` gets the ``(n,)`` complex Schwinger amplitudes of one trajectory and
    returns an array; its trajectory average (with a standard error) is ``sol[name]``. The
    caller chooses the ordering of the symbols (e.g. the Weyl symbol for the Wigner
    representation). Only TWOQS accepts it.

    Examples:
        >>> import jax.numpy as jnp, twoqs_jax as tq
        >>> f = tq.PhaseSpaceFunction("nb", lambda a, b: jnp.abs(b) ** 2)
    """

    name: str
    fn: Callable

    def __post_init__(self):
        if not (isinstance(self.name, str) and self.name.isidentifier()):
            raise ValueError(f"`name` must be an identifier string, got {self.name!r}.")
        if not callable(self.fn):
            raise ValueError(f"`fn` of PhaseSpaceFunction {self.name!r} must be callable.")


OBSERVABLES: dict[str, Observable] = {}


def register_observable(
    name: str,
    needs: Sequence[str],
    fn: Callable[..., Any],
    *,
    linear: bool,
    kind: str = "site",
    doc: str = "",
    overwrite: bool = False,
) -> Observable:
    """Register an observable for every backend (see the module docstring).

    Args:
        name: result name (an identifier, not a primitive's name).
        needs: primitive moments ``fn`` reads.
        fn: ``fn(m, spin) -> array``.
        linear: whether ``fn`` is linear in the primitives.
        kind: ``"site"``, ``"pair"`` or ``"scalar"`` (per-point shape, for result axes).
        doc: one line of documentation.
        overwrite: replace an observable of the same name.

    Returns:
        The :class:`Observable`.
    """
    obs = Observable(name, needs, fn, bool(linear), kind, doc)
    if name in OBSERVABLES and not overwrite:
        raise ValueError(
            f"an observable named {name!r} is registered already; pass overwrite=True."
        )
    OBSERVABLES[name] = obs
    return obs


def _primitive(name):
    def fn(m, spin):
        return m[name]

    fn._primitive = name
    return fn


_DOCS = {
    "Sx": "<S_i^x>",
    "Sy": "<S_i^y>",
    "Sz": "<S_i^z>",
    "Sx2": "<(S_i^x)^2>",
    "Sy2": "<(S_i^y)^2>",
    "Sz2": "<(S_i^z)^2>",
    "SxSy": "<(S_i^x S_i^y + S_i^y S_i^x)/2>",
    "SxSz": "<(S_i^x S_i^z + S_i^z S_i^x)/2>",
    "SySz": "<(S_i^y S_i^z + S_i^z S_i^y)/2>",
    "SpSm": "<S_i^+ S_j^-> (complex)",
    "SzSz": "<S_i^z S_j^z>",
    "spin_drift": "<(a^+a + b^+b)/2> - S_i (TWOQS health monitor, zero in exact dynamics)",
    "a": "<a_k> of mode k (complex)",
    "ada": "<a_k^+ a_k>, the mode occupation",
    "aa": "<a_k a_k> (complex)",
    "adadaa": "<a_k^+ a_k^+ a_k a_k>",
}
for _name, _kind in {**PRIMITIVES, **MODE_PRIMITIVES}.items():
    OBSERVABLES[_name] = Observable(_name, (_name,), _primitive(_name), True, _kind, _DOCS[_name])


def _mode_observables():
    """Quadrature variances and g2(0) of every mode (``x = (a + a^+)/sqrt 2``,
    ``p = -i (a - a^+)/sqrt 2``; vacuum variance 1/2).
    """

    def var_x(m, spin):  # <x^2> = Re<aa> + <a^+a> + 1/2, <x> = sqrt 2 Re<a>
        return (m["aa"].real + m["ada"] + 0.5) - 2 * m["a"].real ** 2

    def var_p(m, spin):
        return (-m["aa"].real + m["ada"] + 0.5) - 2 * m["a"].imag ** 2

    def g2(m, spin):
        return m["adadaa"] / (m["ada"] * m["ada"])

    for name, needs, fn, doc in (
        ("var_xq", ("a", "aa", "ada"), var_x, "Var(x_k), x = (a + a^+)/sqrt 2"),
        ("var_pq", ("a", "aa", "ada"), var_p, "Var(p_k), p = -i (a - a^+)/sqrt 2"),
        ("g2", ("ada", "adadaa"), g2, "g2(0) = <a^+a^+aa>/<a^+a>^2 of mode k"),
    ):
        register_observable(name, needs, fn, linear=False, kind="mode", doc=doc)


DEFAULT_MODE_OBSERVABLES = ("a", "ada", "var_xq", "var_pq", "g2")


def _variance(a):
    def fn(m, spin):
        return m[f"S{a}2"] - m[f"S{a}"] * m[f"S{a}"]

    return fn


for _a in "xyz":
    register_observable(
        f"var{_a}", (f"S{_a}", f"S{_a}2"), _variance(_a), linear=False, doc=f"Var(S_i^{_a})"
    )


def squeezing(m, spin):
    """``xi^2 = 2S min_phi Var(S_phi) / <S_z>^2`` of site 0 (paper 003 Eq. 33).

    ``S_phi = cos(phi) S_x + sin(phi) S_y`` lies in the x-y plane (a mean spin along +-z, as
    in the paper's squeezing runs from ``m = -S``); the minimum over ``phi`` is the smaller
    eigenvalue of the symmetrised x-y covariance matrix. NaN where ``<S_z> = 0``.
    """
    xp = np if isinstance(m["Sx"], np.ndarray | np.generic | float) else _jnp()
    vx = m["Sx2"][..., 0] - m["Sx"][..., 0] ** 2
    vy = m["Sy2"][..., 0] - m["Sy"][..., 0] ** 2
    cxy = m["SxSy"][..., 0] - m["Sx"][..., 0] * m["Sy"][..., 0]
    lam = 0.5 * (vx + vy) - xp.sqrt(0.25 * (vx - vy) ** 2 + cxy**2)
    sz = m["Sz"][..., 0]
    safe = xp.where(sz != 0, sz, 1.0)
    return xp.where(sz != 0, 2 * spin[..., 0] * lam / safe**2, np.nan)


def _jnp():
    import jax.numpy as jnp

    return jnp


_mode_observables()
register_observable(
    "xi2",
    ("Sx", "Sy", "Sz", "Sx2", "Sy2", "SxSy"),
    squeezing,
    linear=False,
    kind="scalar",
    doc="squeezing min_phi 2S Var(S_phi)/<S_z>^2 of site 0 (paper 003 Eq. 33)",
)


def default_observables(n_sites: int, backend: str = "") -> tuple:
    """The default names: single-site moments, variances and ``xi2``; the two-site ``SpSm``
    and ``SzSz`` for up to 10 sites; and ``spin_drift`` for TWOQS.
    """
    names = ["Sx", "Sy", "Sz", "Sx2", "Sy2", "Sz2", "SxSy", "SxSz", "SySz"]
    names += ["varx", "vary", "varz", "xi2"]
    if n_sites <= 10:
        names += ["SpSm", "SzSz"]
    if backend == "twoqs":
        names += ["spin_drift"]
    return tuple(names)


def resolve(observables, n_sites: int, backend: str, available) -> tuple:
    """Validated tuple of :class:`Observable` and :class:`PhaseSpaceFunction` objects.

    Args:
        observables: ``None`` (defaults), a name, or a sequence of names, :class:`Observable`
            and (TWOQS only) :class:`PhaseSpaceFunction` objects.
        n_sites: number of sites (for the defaults).
        backend: name of the backend (for messages and defaults).
        available: the primitives the backend provides.
    """
    if observables is None:
        observables = default_observables(n_sites, backend)
    elif isinstance(observables, str | Observable | PhaseSpaceFunction):
        observables = (observables,)
    try:
        observables = tuple(observables)
    except TypeError:
        raise ValueError(
            f"`observables` must be None, a name or a sequence of names and Observable "
            f"objects, got {observables!r}."
        ) from None
    if not observables:
        raise ValueError("`observables` must name at least one observable, got an empty list.")
    out, seen = [], set()
    for o in observables:
        if isinstance(o, str):
            if o not in OBSERVABLES:
                raise ValueError(
                    f"unknown observable {o!r} in `observables`; registered: "
                    f"{sorted(OBSERVABLES)} (tq.register_observable adds one)."
                )
            o = OBSERVABLES[o]
        elif isinstance(o, PhaseSpaceFunction):
            if backend != "twoqs":
                raise ValueError(
                    f"`observables` holds the PhaseSpaceFunction {o.name!r}: phase-space "
                    f"functions are TWOQS trajectory averages; the {backend} solver cannot "
                    "evaluate them."
                )
        elif not isinstance(o, Observable):
            raise ValueError(
                f"`observables` entries must be names, Observable or PhaseSpaceFunction "
                f"objects, got {type(o).__name__}."
            )
        if isinstance(o, Observable):
            missing = [p for p in o.needs if p not in available]
            if missing:
                raise ValueError(
                    f"observable {o.name!r} needs the primitive moments {missing}, which the "
                    f"{backend} solver does not provide (it provides {sorted(available)})."
                )
        if o.name in seen:
            raise ValueError(f"`observables` names {o.name!r} twice.")
        seen.add(o.name)
        out.append(o)
    return tuple(out)


def needed_primitives(observables) -> tuple:
    """Primitive names the :class:`Observable` entries need, in registry order."""
    need = {p for o in observables if isinstance(o, Observable) for p in o.needs}
    return tuple(p for p in {**PRIMITIVES, **MODE_PRIMITIVES} if p in need)


def dims_of(obs, lead: tuple) -> tuple:
    """Axis names of an observable's result: ``lead`` (e.g. ``("batch", "time")``), then its
    per-point axes.
    """
    if isinstance(obs, Observable):
        return tuple(lead) + DIMS[obs.kind]
    return tuple(lead)


def evaluate(observables, prims: dict, spin) -> dict:
    """Deterministic backends: ``{name: fn(prims, spin)}`` as numpy arrays (NaN where a
    ratio is undefined, without a warning).
    """
    out = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for o in observables:
            out[o.name] = np.asarray(o.fn(prims, spin))
    return out
