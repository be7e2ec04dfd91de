"""The one model description that every translation (phase space, mean field, exact) reads.

Conventions (binding for the whole package):

- hbar = 1; master equation in standard Lindblad form
  ``drho/dt = -i[H, rho] + sum_k kappa_k (L_k rho L_k^+ - 1/2 {L_k^+ L_k, rho})``.
- Site ``i`` is a collective spin of length ``S_i`` (integer or half-integer), dimension
  ``2 S_i + 1``, with ``S^pm = S_x pm i S_y``.
- Hamiltonian
  ``H = sum_i sum_a field[i, a] S_i^a + sum_e sum_ab coupling[e, a, b] S_{i_e}^a S_{j_e}^b``
  with ``a, b in (x, y, z)`` and ``(i_e, j_e) = edges[e]``. For a same-site edge ``i_e = j_e``
  the product is symmetrised, ``(S^a S^b + S^b S^a) / 2``, so that ``H`` is Hermitian.
- Jumps per site: collective decay ``L = S_i^-`` at rate ``decay[i]``, gain ``L = S_i^+`` at
  rate ``gain[i]``, dephasing ``L = S_i^z`` at rate ``dephasing[i]`` (standard rates), and any
  other jump Module (:mod:`twoqs_jax._model.jumps`), e.g. the general
  ``L = c_- S_i^- + c_+ S_i^+ + c_z S_i^z`` of :class:`twoqs_jax.SpinJump`.
"""

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike
from jaxtyping import Array, Float, Int

from .._checks import (
    check_finite,
    check_in,
    check_real,
    check_shape,
    check_spin_length,
    is_concrete,
)
from .._identity import IdentityCache
from .graphs import Graph
from .jumps import AbstractJump, Decay, Dephasing, Gain, total_rate

AXES = ("x", "y", "z")
_AXIS_INDEX = {a: i for i, a in enumerate(AXES)}


def _axis_index(name: str, axis: str) -> int:
    check_in(name, axis, AXES)
    return _AXIS_INDEX[axis]


def _pair_matrix(name: str, spec) -> Array:
    """A 3x3 coupling matrix from an array or a dict such as ``{"xx": Jx, "yz": K}``."""
    if isinstance(spec, dict):
        m = jnp.zeros((3, 3))
        for key, value in spec.items():
            if not (isinstance(key, str) and len(key) == 2 and set(key) <= set(AXES)):
                raise ValueError(
                    f"`{name}` keys must be two axis letters such as 'xx' or 'yz', got {key!r}."
                )
            check_real(f"{name}[{key!r}]", value)
            m = m.at[_AXIS_INDEX[key[0]], _AXIS_INDEX[key[1]]].add(value)
        return m
    check_real(name, spec)
    m = jnp.asarray(spec)
    if m.ndim == 3 and m.shape[1:] == (3, 3):
        return m
    check_shape(name, m, (3, 3))
    return m


class _StaticArray:
    """A read-only integer array that hashes by value, so it can be a static PyTree field.

    Graph structure (which sites an edge connects) is static: jit specialises on it and vmap
    over models batches only the continuous parameters.
    """

    __slots__ = ("array", "_hash")

    def __init__(self, array):
        a = np.array(array, dtype=np.int32)
        a.setflags(write=False)
        self.array = a
        self._hash = hash((a.shape, a.tobytes()))

    def __hash__(self):
        return self._hash

    def __eq__(self, other):
        return isinstance(other, _StaticArray) and np.array_equal(self.array, other.array)

    def __repr__(self):
        return (
            f"edges{self.array.tolist()}"
            if self.array.size <= 16
            else f"edges(shape={self.array.shape})"
        )


class Coupling(eqx.Module):
    """A bilinear term ``sum_e w_e sum_ab matrix[a, b] S_{i_e}^a S_{j_e}^b`` on a graph.

    Attributes:
        graph: the :class:`Graph` (edges and weights ``w_e``).
        matrix: ``(3, 3)`` coupling tensor in the ``(x, y, z)`` basis, the same on every
            edge, or ``(m, 3, 3)``, one per edge.

    Examples:
        >>> g = chain(4, periodic=True)
        >>> xy = Coupling(g, {"xx": 0.5, "yy": -0.25})
    """

    graph: Graph
    matrix: Float[Array, "3 3"]

    def __init__(self, graph: Graph, matrix: ArrayLike | dict[str, ArrayLike]):
        """Store ``graph`` and the coupling ``matrix`` (a 3x3 array or an axis-pair dict)."""
        if not isinstance(graph, Graph):
            raise ValueError(f"`graph` must be a twoqs_jax.Graph, got {type(graph).__name__}.")
        self.graph = graph
        self.matrix = _pair_matrix("matrix", matrix)
        if self.matrix.ndim == 3 and self.matrix.shape[0] != graph.n_edges:
            raise ValueError(
                f"`matrix` has {self.matrix.shape[0]} per-edge tensors but the graph has "
                f"{graph.n_edges} edges."
            )
        check_finite("matrix", self.matrix)


def flip_flop(graph: Graph, strength: ArrayLike) -> Coupling:
    """Exchange ``strength (S_i^+ S_j^- + S_i^- S_j^+) = 2 strength (S_i^x S_j^x + S_i^y S_j^y)``."""
    return Coupling(graph, {"xx": 2 * strength, "yy": 2 * strength})


class SpinModel(eqx.Module):
    """A driven-dissipative model of collective spins (the single model description).

    The Hamiltonian and jumps are stored as a handful of arrays (vectorised over sites and
    edges), so the model is a JAX PyTree: parameters can be vmapped and differentiated.

    ``H = sum_i field_i . S_i + sum_e S_{i_e}^T coupling_e S_{j_e}`` (same-site products
    symmetrised), and the master equation is the standard Lindblad form with the jumps
    ``L = S_i^-`` (rate ``decay_i``), ``L = S_i^+`` (rate ``gain_i``), ``L = S_i^z`` (rate
    ``dephasing_i``) and any jump Modules passed in ``jumps``. hbar = 1.

    Attributes:
        spin: ``(n,)`` spin lengths ``S_i``.
        field: ``(n, 3)`` field coefficients of ``S_i^x, S_i^y, S_i^z``.
        edges: ``(m, 2)`` integer site pairs of the bilinear terms (a static, read-only numpy
            array: jit specialises on the graph, vmap batches only continuous parameters).
        coupling: ``(m, 3, 3)`` coupling tensors (edge weights already multiplied in).
        jumps: tuple of jump Modules (:class:`Decay`, :class:`Gain`, :class:`Dephasing`,
            :class:`SpinJump`, ...), each holding ``(n,)`` arrays.
        decay, gain, dephasing: ``(n,)`` read-only totals of the rates of the
            :class:`Decay`, :class:`Gain` and :class:`Dephasing` jumps (zeros if none).

    Examples:
        >>> import twoqs_jax as tq
        >>> # a driven spin S = 10: H = Omega S_x, kappa = Gamma / S
        >>> m = tq.SpinModel(10, field={"x": 1.5}, decay=1.0 / 10)
        >>> m.n_sites
        1
    """

    spin: Float[Array, " n"]
    field: Float[Array, "n 3"]
    _edges: _StaticArray = eqx.field(static=True)
    coupling: Float[Array, "m 3 3"]
    jumps: tuple

    def __init__(
        self,
        spin: ArrayLike,
        *,
        n_sites: int | None = None,
        field: ArrayLike | dict[str, ArrayLike] | None = None,
        couplings: Coupling | Sequence[Coupling] = (),
        decay: ArrayLike | None = None,
        gain: ArrayLike | None = None,
        dephasing: ArrayLike | None = None,
        jumps: Sequence[AbstractJump] = (),
    ):
        """Build a model.

        Args:
            spin: spin length ``S`` (scalar, same on every site) or one per site.
            n_sites: number of sites; inferred from ``spin`` or from the couplings' graphs.
            field: ``(n, 3)`` array, or a dict ``{"x": h_x, "z": h_z}`` whose values are
                scalars or ``(n,)`` arrays (real).
            couplings: a :class:`Coupling` or a sequence of them.
            decay, gain, dephasing: standard Lindblad rates of ``S_i^-``, ``S_i^+``,
                ``S_i^z``, scalar or ``(n,)`` (default 0). The model always holds these three
                jumps first, so that models of different presets share one PyTree structure
                and can be stacked into a batch.
            jumps: further jump Modules (scalars in them are broadcast to the ``n`` sites).
        """
        if isinstance(couplings, Coupling):
            couplings = (couplings,)
        couplings = tuple(couplings)
        for c in couplings:
            if not isinstance(c, Coupling):
                raise ValueError(f"`couplings` must hold Coupling objects, got {type(c).__name__}.")
        spin_arr = np.asarray(spin) if not hasattr(spin, "aval") else spin
        if n_sites is None:
            if np.ndim(spin_arr) == 1:
                n_sites = int(np.shape(spin_arr)[0])
            elif couplings:
                n_sites = couplings[0].graph.n_sites
            else:
                n_sites = 1
        if isinstance(n_sites, bool) or int(n_sites) != n_sites or n_sites < 1:
            raise ValueError(f"`n_sites` must be a positive integer, got {n_sites!r}.")
        n = int(n_sites)
        if np.ndim(spin_arr) not in (0, 1) or (
            np.ndim(spin_arr) == 1 and np.shape(spin_arr)[0] != n
        ):
            raise ValueError(
                f"`spin` must be a scalar or have shape ({n},), got shape {np.shape(spin_arr)}."
            )
        check_spin_length("spin", spin_arr)
        self.spin = jnp.broadcast_to(jnp.asarray(spin_arr, dtype=float), (n,))

        if field is None:
            self.field = jnp.zeros((n, 3))
        elif isinstance(field, dict):
            f = jnp.zeros((n, 3))
            for axis, value in field.items():
                k = _axis_index("field", axis)
                check_real(f"field[{axis!r}]", value)
                value = jnp.asarray(value)
                if value.ndim not in (0, 1) or (value.ndim == 1 and value.shape[0] != n):
                    raise ValueError(
                        f"`field[{axis!r}]` must be a scalar or have shape ({n},), "
                        f"got shape {value.shape}."
                    )
                f = f.at[:, k].add(value)
            self.field = f
        else:
            check_real("field", field)
            f = jnp.asarray(field)
            if f.shape == (3,):
                f = jnp.broadcast_to(f, (n, 3))
            check_shape("field", f, (n, 3))
            self.field = f
        check_finite("field", self.field)

        edges, mats = [], []
        for c in couplings:
            if c.graph.n_sites != n:
                raise ValueError(
                    f"coupling graph has `n_sites`={c.graph.n_sites} but the model has {n} sites."
                )
            edges.append(c.graph.edges)
            mat = c.matrix if c.matrix.ndim == 3 else c.matrix[None]
            mats.append(jnp.asarray(c.graph.weights)[:, None, None] * mat)
        self._edges = _StaticArray(
            np.concatenate(edges, axis=0) if edges else np.zeros((0, 2), np.int32)
        )
        self.coupling = jnp.concatenate(mats, axis=0) if mats else jnp.zeros((0, 3, 3))
        check_finite("couplings", self.coupling)

        bound = []
        for name, cls, value in (
            ("decay", Decay, decay),
            ("gain", Gain, gain),
            ("dephasing", Dephasing, dephasing),
        ):
            if value is None:  # always present, so that models of any preset stack
                value = 0.0
            check_real(name, value)
            v = jnp.asarray(value)
            if v.ndim not in (0, 1) or (v.ndim == 1 and v.shape[0] != n):
                raise ValueError(
                    f"`{name}` must be a scalar or have shape ({n},), got shape {v.shape}."
                )
            try:
                bound.append(cls(v).bind(n))
            except ValueError as err:  # name the argument the user passed
                raise ValueError(
                    str(err)
                    .replace(f"`{cls.__name__}.rate`", f"`{name}`")
                    .replace("`rate`", f"`{name}`")
                ) from None
        if isinstance(jumps, AbstractJump):
            jumps = (jumps,)
        for j in tuple(jumps):
            if not isinstance(j, AbstractJump):
                raise ValueError(
                    f"`jumps` must hold jump Modules (twoqs_jax.Decay, ..., SpinJump), got "
                    f"{type(j).__name__}."
                )
            bound.append(j.bind(n))
        self.jumps = tuple(bound)

    @classmethod
    def from_arrays(
        cls,
        spin: ArrayLike,
        field: ArrayLike,
        edges: ArrayLike,
        coupling: ArrayLike,
        decay: ArrayLike | None = None,
        gain: ArrayLike | None = None,
        dephasing: ArrayLike | None = None,
        jumps: Sequence[AbstractJump] = (),
    ) -> "SpinModel":
        """Rebuild a model from its stored arrays (the inverse of reading its attributes)."""
        n = int(np.shape(spin)[-1])
        edges = np.asarray(edges).reshape(-1, 2)
        couplings = ()
        if edges.shape[0]:
            couplings = Coupling(
                Graph(edges=edges, weights=np.ones(edges.shape[0]), n_sites=n), coupling
            )
        return cls(
            spin,
            n_sites=n,
            field=field,
            couplings=couplings,
            decay=decay,
            gain=gain,
            dephasing=dephasing,
            jumps=jumps,
        )

    @property
    def decay(self) -> Float[Array, " n"]:
        """Total standard rate of the :class:`Decay` jumps ``L = S_i^-`` (zeros if none)."""
        return total_rate(self.jumps, Decay, self.spin)

    @property
    def gain(self) -> Float[Array, " n"]:
        """Total standard rate of the :class:`Gain` jumps ``L = S_i^+`` (zeros if none)."""
        return total_rate(self.jumps, Gain, self.spin)

    @property
    def dephasing(self) -> Float[Array, " n"]:
        """Total standard rate of the :class:`Dephasing` jumps ``L = S_i^z`` (zeros if none)."""
        return total_rate(self.jumps, Dephasing, self.spin)

    @property
    def batch_shape(self) -> tuple:
        """Leading parameter axes of a batch of models (``()`` for one model)."""
        return tuple(np.shape(self.spin)[:-1])

    def validate(self) -> None:
        """Check every value on concrete arrays, one parameter point at a time.

        Spin lengths must be positive multiples of 1/2, fields and couplings finite and
        rates non-negative. Models built under ``jax.vmap`` skip the value checks while
        tracing; every solver calls this at its entry, and the message of a batch names the
        batch index. Raises ``ValueError`` naming the parameter and its value. A model
        object that passed is remembered while it lives (:mod:`twoqs_jax._identity`).
        """
        if not is_concrete(self):
            raise ValueError(
                "`model` holds traced values (inside jit/vmap/grad); the solvers need a "
                "concrete model: build it outside the transformation (a batch of models from "
                "jax.vmap is concrete once built)."
            )
        if _VALID.get(self):
            return  # this (immutable) model object passed before
        batch = self.batch_shape
        for index in np.ndindex(*batch) if batch else [()]:
            where = f" at batch index {index[0] if len(index) == 1 else index}" if batch else ""
            point = _take(self, index)
            check_spin_length("spin", point.spin, where)
            check_finite("field", point.field, where)
            check_finite("couplings", point.coupling, where)
            for j in point.jumps:
                j.validate(where)
        _VALID.put(self, True)

    @property
    def edges(self) -> Int[np.ndarray, "m 2"]:
        """``(m, 2)`` site pairs of the bilinear terms (static, read-only numpy array)."""
        return self._edges.array

    @property
    def n_sites(self) -> int:
        """Number of sites."""
        return int(self.spin.shape[-1])

    @property
    def n_edges(self) -> int:
        """Number of bilinear terms (edges, including same-site ones)."""
        return int(self.edges.shape[0])

    @property
    def dimension(self) -> int:
        """Hilbert-space dimension ``prod_i (2 S_i + 1)`` (needs concrete ``spin``)."""
        return int(np.prod(np.round(2 * np.asarray(self.spin)).astype(np.int64) + 1))

    @property
    def symmetric_coupling(self) -> Float[Array, "m 3 3"]:
        """Coupling tensors with same-site edges symmetrised (only the symmetric part acts)."""
        same = jnp.asarray(self.edges[:, 0] == self.edges[:, 1])[:, None, None]
        sym = 0.5 * (self.coupling + jnp.swapaxes(self.coupling, -1, -2))
        return jnp.where(same, sym, self.coupling)


_VALID = IdentityCache()  # models that passed validate()


def _take(tree, index: tuple):
    """One point ``tree[index]`` of a batch of models (every array leaf indexed)."""
    if not index:
        return tree
    return jax.tree.map(lambda x: x[index], tree)
