r"""The first-order correction of TWOQS by the third-order term of the Wigner equation.

For closed dynamics (no jump) the Wigner function obeys ``dW/dt = {H, W}_M``, the Moyal
bracket ``{A, B}_M = 2 A sin(Lambda/2) B`` with ``A Lambda B = d_i A P_ij d_j B`` (hbar = 1).
In the real coordinates ``y = (Re alpha, Im alpha, Re beta, Im beta)`` of every site the
Poisson tensor is ``P = (1/2) [[0, 1], [-1, 0]]`` per mode (``{Re a, Im a} = 1/2``). TWOQS keeps
the first order, the Liouville flow ``dy/dt = f(y) = P grad H``; the next term is

    L3 W = -(1/24) H Lambda^3 W,   i.e.   <L3 W, g> = <W, L3* g>,
    L3* g = -(1/24) d_ikm g P_ij P_kl P_mn d_jln H.

To first order in ``L3`` (Duhamel), ``W_t = W_t^TWA + dW_t`` with
``d(dW)/dt = L1 dW + L3 W^TWA``. Carried along every trajectory of the flow, ``dW`` is a sum of
derivatives of point masses,

    <dW_t, g> = E[ A1 . grad g + A2 : grad^2 g + A3 : grad^3 g ]   at  y(t),

with symmetric tensors ``(A1, A2, A3)``, zero at ``t = 0``, transported by the derivatives of
``f`` (the pairing's time derivative must equal ``<dW, f . grad g> + <W, L3* g>``):

    dA1_l/dt = A1_i d_i f_l + A2_ij d_ij f_l + A3_ijk d_ijk f_l,
    dA2/dt   = sym[2 A2_im d_i f_l + 3 A3_ijm d_ij f_l]            (indices l m),
    dA3/dt   = sym[3 A3_ijk d_i f_l] + K(y),   K_ikm = -(1/24) P_ij P_kl P_mn d_jln H.

So the corrected average of any phase-space function ``g`` is the TWOQS average plus the
average of ``A . D g`` along the same flow: one forward pass, no second sampling of the
initial state, exact for the first order in ``L3`` (the Hamiltonians here are at most quartic
in the amplitudes, so there is no fifth-order term: the Moyal expansion of ``{H, W}_M`` stops at
``Lambda^3``; the remainder is the second order in ``L3``). Derivation and measurements:
``docs/methods/fidelity.md#third-order``.

The flow of the correction is integrated by the classical fourth-order Runge-Kutta method
(the TWOQS flow of a closed model conserves every spin length, so no projection is needed).
"""

import jax
import jax.numpy as jnp
import numpy as np

from .drift import split as real_state
from .symbols import hamiltonian_symbol


def poisson_tensor(n_sites: int, dtype) -> np.ndarray:
    """``P`` of the coordinates ``y = (ar, ai, br, bi)`` (each ``(n,)``, concatenated)."""
    n = n_sites
    p = np.zeros((4 * n, 4 * n))
    for mode in (0, 2):  # (ar, ai) and (br, bi)
        re = np.arange(mode * n, (mode + 1) * n)
        im = re + n
        p[re, im] = 0.5
        p[im, re] = -0.5
    return p.astype(dtype)


def split(y):
    """``(alpha, beta)`` of the real coordinates ``y``, ``(n,)`` each."""
    ar, ai, br, bi = jnp.split(y, 4)
    return jax.lax.complex(ar, ai), jax.lax.complex(br, bi)


def join(alpha, beta):
    """The real coordinates ``y`` of ``(alpha, beta)`` (:func:`.drift.split`, concatenated)."""
    return jnp.concatenate(real_state(alpha, beta))


def _sym2(b):
    return 0.5 * (b + b.T)


def _sym3(b):
    """Symmetrise a tensor already symmetric in its last two indices."""
    return (b + jnp.transpose(b, (1, 0, 2)) + jnp.transpose(b, (2, 1, 0))) / 3.0


def derivatives(fn, y, order: int, scalar: bool = False) -> tuple:
    """``(fn, D fn, ..., D^order fn)`` at ``y`` (``fn`` pytree-valued) by one chain of
    derivatives: each order differentiates the previous one and carries the lower ones along,
    so nothing is computed twice. The first is a gradient (one reverse pass) for a ``scalar``
    ``fn``, the others forward derivatives.
    """

    def chain(k):  # x -> (D^k fn, (D^k fn, ..., fn))
        def g(x):
            if k == 0:
                value = fn(x)
                return value, (value,)
            first = jax.grad if k == 1 and scalar else jax.jacfwd
            d, lower = first(chain(k - 1), has_aux=True)(x)
            return d, (d, *lower)

        return g

    return tuple(reversed(chain(order)(y)[1]))


def jet_field(model, p):
    """The right-hand side of ``(y, A1, A2, A3)`` (module docstring) for one trajectory."""

    def h(y):
        alpha, beta = split(y)
        return hamiltonian_symbol(model, alpha, beta, 0)

    def rhs(state):
        y, a1, a2, a3 = state
        _, h1, h2, h3, h4 = derivatives(h, y, 4, scalar=True)
        # f = P grad H and its derivatives [l, i], [l, i, j], [l, i, j, k]
        f0 = p @ h1
        f1 = p @ h2
        f2 = jnp.tensordot(p, h3, axes=1)
        f3 = jnp.tensordot(p, h4, axes=1)
        da1 = f1 @ a1 + jnp.einsum("ij,lij->l", a2, f2) + jnp.einsum("ijk,lijk->l", a3, f3)
        da2 = _sym2(2 * jnp.einsum("im,li->lm", a2, f1) + 3 * jnp.einsum("ijm,lij->lm", a3, f2))
        # K_ikm = -(1/24) P_ij P_kl P_mn h3_jln; P is antisymmetric, so P_ij h_j.. = -(h P)_i..
        k3 = jnp.einsum("ij,kl,mn,jln->ikm", p, p, p, h3) / -24.0
        da3 = _sym3(3 * jnp.einsum("ijk,li->ljk", a3, f1)) + k3
        return f0, da1, da2, da3

    return rhs


def rk4_step(rhs, state, dt):
    """One classical Runge-Kutta step of the tuple ``state``."""

    def add(s, k, c):
        return tuple(a + c * b for a, b in zip(s, k))

    k1 = rhs(state)
    k2 = rhs(add(state, k1, dt / 2))
    k3 = rhs(add(state, k2, dt / 2))
    k4 = rhs(add(state, k3, dt))
    return tuple(
        s + (dt / 6) * (a + 2 * b + 2 * c + d) for s, a, b, c, d in zip(state, k1, k2, k3, k4)
    )


def pair(fn, y, a1, a2, a3):
    """``(fn(y), A1 . D fn + A2 : D^2 fn + A3 : D^3 fn)`` for a pytree-valued ``fn`` of ``y``."""
    value, g1, g2, g3 = derivatives(fn, y, 3)

    def contract(x1, x2, x3):
        lead = x1.shape[:-1]
        return (
            jnp.tensordot(x1, a1, axes=1)
            + jnp.tensordot(x2, a2, axes=2)
            + jnp.tensordot(x3, a3, axes=3)
        ).reshape(lead)

    return value, jax.tree.map(contract, g1, g2, g3)


def correction_run(model, fn, y0, dt, steps):
    """The first-order third-order corrections of ``fn`` (a pytree-valued function of ``y``)
    after each interval of ``steps`` (an integer array, RK4 steps of ``dt`` per interval)
    from ``y0``: a pytree whose leaves have a leading axis of ``len(steps)``. One trajectory.
    """
    d = y0.shape[0]
    p = jnp.asarray(poisson_tensor(d // 4, y0.dtype))
    rhs = jet_field(model, p)
    zeros = (jnp.zeros(d), jnp.zeros((d, d)), jnp.zeros((d,) * 3))
    state = (y0, *(z.astype(y0.dtype) for z in zeros))

    def body(_, s):
        return rk4_step(rhs, s, dt)

    def interval(state, m):
        state = jax.lax.fori_loop(0, m, body, state)
        return state, pair(fn, *state)[1]

    return jax.lax.scan(interval, state, jnp.asarray(steps))[1]
