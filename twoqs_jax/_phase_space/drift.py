"""Ito drift and noise of the Schwinger-boson SDEs (paper 003, standard Lindblad rates).

Conventions: hbar = 1, ``L = S_i^-`` at rate ``kappa = decay_i``, ``L = S_i^+`` at
``gain_i``, ``L = S_i^z`` at ``dephasing_i`` (standard dissipator), representation ``k``
(0 Wigner, 1 P, -1 Q), Ito calculus, Euler-Maruyama increments of one site:

Hamiltonian (all ``k``, see :mod:`.symbols`): ``dalpha = -i dH_k/dconj(alpha) dt``.

Decay (paper 003 Eqs. 22-23 with ``Gamma/(2S) -> kappa/2``)::

    dalpha = -(kappa/2)(|beta|^2 + (1+k)/2) alpha dt
             + sqrt(kappa (1-k)/4 (|beta|^2 + (1+k)/2)) (dW1 + i dW2)
    dbeta  = +(kappa/2)(|alpha|^2 - (1-k)/2) beta dt
             + sqrt(kappa (1+k)/4 (|alpha|^2 - (1-k)/2)) (dW3 + i dW4)

Gain: the same with ``alpha <-> beta``. The Wigner (``k = 0``) square-root argument
``|alpha|^2 - 1/2`` can be negative: it is clipped at 0 and the clipped site-steps counted.
Independent complex Gaussian noises on one mode add in variance, so decay and gain share
the two complex noises of a site. This is the *paper* noise: it drops the cross diffusion
``E[dalpha dbeta] = -(kappa/2) alpha beta dt`` of the Wigner equation, an O(1) relative
error of the Bloch-vector diffusion (docs/methods/fidelity.md).

Tangential noise (``tangential=True``, Wigner only; the default of :class:`TWOQS`): one
complex increment per jump, ``xi_d = (dW1 + i dW2)/sqrt(2)`` for decay and
``xi_g = (dW3 + i dW4)/sqrt(2)`` for gain, same drift::

    dalpha += sqrt(kappa_d/2) beta xi_d - sqrt(kappa_g/2) beta conj(xi_g)
    dbeta  += -sqrt(kappa_d/2) alpha conj(xi_d) + sqrt(kappa_g/2) alpha xi_g

i.e. ``dv += sqrt(kappa/2)(M^+ v xi - M v conj(xi))`` for ``L = v^+ M v``: the whole
state-dependent second-order Wigner diffusion of the jump (both the Hermitian and the
symmetric block), without its O(1/S) vacuum part ``(kappa/4)[M^+, M]``. It is an
infinitesimal random unitary of ``v`` (tangential to ``|alpha|^2 + |beta|^2 = const``) and
needs no clipping.

Dephasing (exact in every representation)::

    dalpha = -(kappa/8) alpha dt + i sqrt(kappa/4) alpha dW5
    dbeta  = -(kappa/8) beta  dt - i sqrt(kappa/4) beta  dW5
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .symbols import hamiltonian_symbol, spin_symbols_real

N_NOISE = 5
"""Real Wiener increments per site: 4 for decay/gain (two complex), 1 for dephasing."""


def hamiltonian_drift_autodiff(model, alpha, beta, k: int = 0):
    """Reference Hamiltonian drift by Wirtinger differentiation of :func:`hamiltonian_symbol`.

    ``dH/dconj(z) = (dH/dx + i dH/dy)/2`` with ``z = x + i y``; ``dz/dt = -i dH/dconj(z)``.

    Returns:
        ``(dalpha/dt, dbeta/dt)``, each ``(n,)`` complex.
    """

    def h(ar, ai, br, bi):
        return hamiltonian_symbol(model, jax.lax.complex(ar, ai), jax.lax.complex(br, bi), k)

    g = jax.grad(h, argnums=(0, 1, 2, 3))(
        jnp.real(alpha), jnp.imag(alpha), jnp.real(beta), jnp.imag(beta)
    )
    da = -0.5j * jax.lax.complex(g[0], g[1])
    db = -0.5j * jax.lax.complex(g[2], g[3])
    return da, db


def incidence(edges: np.ndarray, n: int) -> np.ndarray:
    """``(n, D)`` static gather table of the edge ends at each site (numpy, trace time).

    Entry ``[i, d]`` indexes the stacked contributions ``[c_first (m), c_second (m), 0]``
    of :func:`spin_gradient`: ``e`` for an edge whose first end is ``i``, ``m + e`` for one
    whose second end is ``i``, and ``2m`` (a zero row) as padding up to the largest degree
    ``D``. Summing over ``d`` replaces a scatter-add, which XLA runs serially on CPU.
    """
    m = edges.shape[0]
    ends = np.concatenate([edges[:, 0], edges[:, 1]])
    order = np.argsort(ends, kind="stable")
    counts = np.bincount(ends, minlength=n)
    table = np.full((n, max(int(counts.max()), 1)), 2 * m, np.int32)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(2 * m) - np.repeat(starts, counts)
    table[ends[order], rank] = order
    return table


def spin_gradient(model, s):
    """``g_i = dH_W/ds_i`` (``(n, 3)``) for ``H_W = sum f.s + sum_e s_i^T J_e s_j``."""
    g = model.field.astype(s.dtype)
    edges = model.edges
    if edges.shape[0]:
        J = model.symmetric_coupling.astype(s.dtype)
        i, j = edges[:, 0], edges[:, 1]
        contributions = jnp.concatenate(
            [
                jnp.einsum("eab,eb->ea", J, s[j]),
                jnp.einsum("eab,ea->eb", J, s[i]),
                jnp.zeros((1, 3), s.dtype),
            ]
        )
        g = g + jnp.sum(contributions[incidence(edges, s.shape[0])], axis=1)
    return g


def _site(x, like):
    """The per-site ``(n,)`` array ``x`` shaped to broadcast against ``like``: unchanged for
    one trajectory's ``(n,)``, ``(n, 1)`` for the site-major ``(n, T)`` of ``T`` trajectories.
    """
    return x.reshape(x.shape + (1,) * (like.ndim - 1))


def coupling_mask(model) -> tuple:
    """The static ``3 x 3`` mask (nested tuples of bools) of the components of the
    symmetrised coupling tensors that are nonzero on some edge (of a concrete model, or of
    every model of a batch); :func:`spin_gradient_rows` skips the others.
    """
    # NumPy on the concrete arrays (the property's jnp ops would each compile in a new process)
    J = np.asarray(model.coupling)
    same = (model.edges[:, 0] == model.edges[:, 1])[:, None, None]
    J = np.where(same, 0.5 * (J + np.swapaxes(J, -1, -2)), J)
    nonzero = np.any(J != 0, axis=tuple(range(J.ndim - 2))) if J.size else np.zeros((3, 3), bool)
    return tuple(tuple(bool(x) for x in row) for row in nonzero)


def field_mask(model) -> tuple:
    """The static mask (three bools) of the field components that are nonzero on some site
    (of a concrete model, or of every model of a batch); :func:`spin_gradient_rows` skips
    the others.
    """
    f = np.asarray(model.field)
    return tuple(bool(x) for x in np.any(f != 0, axis=tuple(range(f.ndim - 1))))


def _fold(terms, like):
    """``sum(sign * c * x)`` over ``terms = [(sign, c, x), ...]`` from the left, skipping
    ``c is None`` (a component known to be zero); zeros shaped like ``like`` if all are.
    """
    acc = None
    for sign, c, x in terms:
        if c is None:
            continue
        t = c * x
        acc = (t if sign > 0 else -t) if acc is None else (acc + t if sign > 0 else acc - t)
    return jnp.zeros_like(like) if acc is None else acc


def spin_gradient_rows(model, s, mask=None, field=None):
    """:func:`spin_gradient` of ``T`` trajectories at once, site-major.

    ``s = (s_x, s_y, s_z)``, each ``(n, T)`` (sites on the major axis, trajectories
    contiguous). The coupling reads whole rows of ``T`` trajectories: the rows ``s[j_e]`` of
    the edge ends (one gather of rows per edge end), the contributions
    ``sum_b J_ab s_b(j)`` and ``sum_b J_ba s_b(i)`` per edge, summed per site through the
    :func:`incidence` table, as in :func:`spin_gradient`. ``mask`` (static ``3 x 3``, see
    :func:`coupling_mask`) skips the components ``J_ab`` known to be zero on every edge
    (``None``: all nine); ``field`` (static, three bools, see :func:`field_mask`) the field
    components known to be zero on every site (``None``: all three are kept).

    Returns:
        ``(g_x, g_y, g_z)``; each ``(n, T)``, or ``(n, 1)`` (the field) without edges, or
        ``None`` for a component that ``mask`` and ``field`` show to be zero.
    """
    dtype = s[0].dtype
    f = model.field.astype(dtype)
    g = [f[:, a, None] if field is None or field[a] else None for a in range(3)]
    edges = model.edges
    if not edges.shape[0]:
        return tuple(g)
    nonzero = np.ones((3, 3), bool) if mask is None else np.asarray(mask, bool)
    J = model.symmetric_coupling.astype(dtype)
    i, j = edges[:, 0], edges[:, 1]
    si = [x[i] for x in s]  # (m, T) rows of the first and second ends
    sj = [x[j] for x in s]
    table = incidence(edges, s[0].shape[0])
    zero = jnp.zeros_like(s[0][:1])
    for a in range(3):
        first = [J[:, a, b, None] * sj[b] for b in range(3) if nonzero[a, b]]
        second = [J[:, b, a, None] * si[b] for b in range(3) if nonzero[b, a]]
        if not first and not second:
            continue
        c1 = functools.reduce(jnp.add, first) if first else jnp.zeros_like(si[0])
        c2 = functools.reduce(jnp.add, second) if second else jnp.zeros_like(si[0])
        c = jnp.sum(jnp.concatenate([c1, c2, zero])[table], axis=1)
        g[a] = c if g[a] is None else g[a] + c
    return tuple(g)


def hamiltonian_drift_real(
    model, ar, ai, br, bi, k: int = 0, coupling_mask=None, scale=None, field_mask=None
):
    """:func:`hamiltonian_drift` in real arithmetic on ``alpha = ar + i ai``,
    ``beta = br + i bi`` (XLA vectorises real loops far better than complex ones on CPU).
    The components are ``(n,)`` (one trajectory) or site-major ``(n, T)`` (``T``
    trajectories; the gradient is then :func:`spin_gradient_rows`, which skips the coupling
    components outside ``coupling_mask``).

    With ``g = dH_W/ds`` (:func:`spin_gradient`)::

        Re dalpha/dt =  (g_x bi - g_y br + g_z ai) / 2
        Im dalpha/dt = -(g_x br + g_y bi + g_z ar) / 2
        Re dbeta/dt  =  (g_x ai + g_y ar - g_z bi) / 2
        Im dbeta/dt  = -(g_x ar - g_y ai - g_z br) / 2

    plus, for ``k != 0``, the same-site phase ``+i (k/4) tr(J) z`` on both modes.

    ``scale`` (site-major only; ``(n, T)`` or ``None``): the drift at the state
    ``sqrt(scale) z`` divided by ``sqrt(scale)``: the spin symbols, quadratic in ``z``, are
    multiplied by ``scale``; the rest is linear in ``z`` (see :func:`em_increment_real`).

    Returns:
        ``(Re dalpha/dt, Im dalpha/dt, Re dbeta/dt, Im dbeta/dt)``, each ``(n,)``.
    """
    if ar.ndim > 1:  # site-major (n, T): the spin rows, contiguous along trajectories
        s = spin_symbols_real(ar, ai, br, bi)
        if scale is not None:
            s = tuple(scale * x for x in s)
        gx, gy, gz = spin_gradient_rows(model, s, coupling_mask, field_mask)
        dtype = ar.dtype
    else:
        s = jnp.stack(spin_symbols_real(ar, ai, br, bi), axis=-1)
        g = spin_gradient(model, s)
        gx, gy, gz = g[:, 0], g[:, 1], g[:, 2]
        dtype = s.dtype
    # (a component of g that the static masks show to be zero is None: its terms are skipped)
    dar = 0.5 * _fold([(1, gx, bi), (-1, gy, br), (1, gz, ai)], ar)
    dai = -0.5 * _fold([(1, gx, br), (1, gy, bi), (1, gz, ar)], ar)
    dbr = 0.5 * _fold([(1, gx, ai), (1, gy, ar), (-1, gz, bi)], ar)
    dbi = -0.5 * _fold([(1, gx, ar), (-1, gy, ai), (-1, gz, br)], ar)
    edges = model.edges
    if k != 0 and edges.shape[0]:
        same = edges[:, 0] == edges[:, 1]
        if same.any():
            tr = jnp.trace(model.symmetric_coupling, axis1=-2, axis2=-1).astype(dtype)
            c = jnp.zeros(ar.shape[:1], dtype).at[edges[:, 0]].add(jnp.where(same, tr, 0.0))
            c = _site(0.25 * k * c, ar)
            dar, dai = dar - c * ai, dai + c * ar
            dbr, dbi = dbr - c * bi, dbi + c * br
    return dar, dai, dbr, dbi


def hamiltonian_drift(model, alpha, beta, k: int = 0):
    """Hand-written (fused) Hamiltonian drift, equal to :func:`hamiltonian_drift_autodiff`.

    With ``g = dH_W/ds`` and the chain rule through the symbols,
    ``dalpha/dt = -(i/2)[(g_x - i g_y) beta + g_z alpha]`` and
    ``dbeta/dt = -(i/2)[(g_x + i g_y) alpha - g_z beta]``; for ``k != 0`` a same-site
    coupling adds the common phase rotation ``+i (k/4) tr(J) z`` to both modes.
    (Computed by :func:`hamiltonian_drift_real`.)
    """
    dar, dai, dbr, dbi = hamiltonian_drift_real(
        model, jnp.real(alpha), jnp.imag(alpha), jnp.real(beta), jnp.imag(beta), k
    )
    return lax.complex(dar, dai), lax.complex(dbr, dbi)


def dissipation_drift(model, na, nb, k: int = 0, rate_mask=None):
    """``(ca, cb)``: the decay/gain/dephasing drifts ``dalpha = ca alpha dt``,
    ``dbeta = cb beta dt`` (the same for the paper and the tangential noise).
    ``rate_mask`` (static ``(decay, gain, dephasing)`` bools; ``None``: all) skips the terms
    of rates known to be zero on every site.
    """
    dt_ = na.dtype
    on = (True, True, True) if rate_mask is None else rate_mask
    kd = _site(model.decay.astype(dt_), na) / 2 if on[0] else None
    kg = _site(model.gain.astype(dt_), na) / 2 if on[1] else None
    kp = _site(model.dephasing.astype(dt_), na) / 8 if on[2] else None
    up, um = (1 + k) / 2, (1 - k) / 2
    # decay: alpha loses, beta gains; gain: exchanged
    ca = _fold([(-1, kd, nb + up), (1, kg, nb - um), (-1, kp, 1.0)], na)
    cb = _fold([(1, kd, na - um), (-1, kg, na + up), (-1, kp, 1.0)], na)
    return ca, cb


def dissipation_coefficients(model, na, nb, k: int = 0, sqrt=jnp.sqrt):
    """Real coefficients of :func:`dissipation` from ``na = |alpha|^2``, ``nb = |beta|^2``
    (the paper noise).

    Returns:
        ``(ca, cb, amp_a, amp_b, amp_phi, clipped)`` with drifts ``dalpha = ca alpha dt``,
        ``dbeta = cb beta dt`` and the noise amplitudes of :func:`dissipation`.
    """
    dt_ = na.dtype
    kd = _site(model.decay.astype(dt_), na)
    kg = _site(model.gain.astype(dt_), na)
    kp = _site(model.dephasing.astype(dt_), na)
    up, um = (1 + k) / 2, (1 - k) / 2
    ca, cb = dissipation_drift(model, na, nb, k)
    var_a = kd * (um / 2) * (nb + up)  # always >= 0
    var_b = kg * (um / 2) * (na + up)
    arg_b = na - um  # decay's beta diffusion argument (negative possible for k = 0)
    arg_a = nb - um  # gain's alpha diffusion argument
    clipped = jnp.zeros(na.shape, bool)
    if up > 0:
        clipped = ((kd > 0) & (arg_b < 0)) | ((kg > 0) & (arg_a < 0))
        var_b = var_b + kd * (up / 2) * jnp.maximum(arg_b, 0)
        var_a = var_a + kg * (up / 2) * jnp.maximum(arg_a, 0)
    return ca, cb, sqrt(var_a), sqrt(var_b), sqrt(kp / 4), clipped


def dissipation(model, alpha, beta, k: int = 0, sqrt=jnp.sqrt):
    """Drift, noise amplitudes and clip flags of decay, gain and dephasing (one trajectory).

    Returns:
        ``(da, db, amp_a, amp_b, amp_phi, clipped)``: drifts ``(n,)`` complex; ``amp_a`` and
        ``amp_b`` multiply ``(dW1 + i dW2)`` and ``(dW3 + i dW4)``; ``amp_phi = sqrt(kappa/4)``
        multiplies ``i alpha dW5`` and ``-i beta dW5``; ``clipped`` ``(n,)`` bool marks sites
        whose Wigner diffusion argument was negative (clipped at 0).
    """
    ca, cb, amp_a, amp_b, amp_phi, clipped = dissipation_coefficients(
        model, jnp.abs(alpha) ** 2, jnp.abs(beta) ** 2, k, sqrt
    )
    return (
        ca.astype(alpha.dtype) * alpha,
        cb.astype(beta.dtype) * beta,
        amp_a,
        amp_b,
        amp_phi,
        clipped,
    )


def _rate_amplitude(kappa):
    """``sqrt(kappa / 4)`` with a zero (not infinite) derivative at ``kappa = 0``: a rate that
    is zero drives no noise, also along a parameter tangent (score, pathwise gradients).
    """
    pos = kappa > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, kappa, 1.0) / 4), 0.0)


def split(alpha, beta) -> tuple:
    """The real state ``z = (Re alpha, Im alpha, Re beta, Im beta)`` of
    :func:`em_increment_real`.
    """
    return jnp.real(alpha), jnp.imag(alpha), jnp.real(beta), jnp.imag(beta)


def em_increment(
    model,
    alpha,
    beta,
    dW,
    dt,
    k: int = 0,
    fused: bool = True,
    sqrt=jnp.sqrt,
    tangential: bool = False,
):
    """One Euler-Maruyama (Ito) increment.

    Args:
        model: one parameter point.
        alpha, beta: ``(n,)`` complex state.
        dW: ``(N_NOISE, n)`` real Wiener increments of variance ``dt`` (or any weak
            increments with the same first three moments), or a sequence of ``N_NOISE``
            rows where ``dW[0]`` (then rows 0-3: no decay/gain noise) or ``dW[4]`` (no
            dephasing noise) may be ``None``, which skips those terms (with ``tangential``,
            the decay rows 0-1 and the gain rows 2-3 independently); then the rows of
            the model's other jump terms (``model.terms`` of a lowered model), if any.
        dt: time step.
        k: representation.
        fused: hand-written Hamiltonian drift (``True``) or the autodiff reference.
        sqrt: square root of the diffusion amplitudes (pathwise gradients pass one whose
            derivative is 0 where a Wigner argument is clipped, instead of inf).
        tangential: the tangential decay/gain noise (module docstring; ``k = 0`` only)
            instead of the paper noise.

    Returns:
        ``(new_alpha, new_beta, clipped)``.
    """
    (nar, nai, nbr, nbi), clipped = em_increment_real(
        model, split(alpha, beta), dW, dt, k, fused, sqrt, tangential
    )
    return lax.complex(nar, nai), lax.complex(nbr, nbi), clipped


def em_increment_real(
    model,
    z,
    dW,
    dt,
    k: int = 0,
    fused: bool = True,
    sqrt=jnp.sqrt,
    tangential: bool = False,
    coupling_mask=None,
    scale=None,
    field_mask=None,
    rate_mask=None,
):
    """:func:`em_increment` on the real components ``z = (Re alpha, Im alpha, Re beta,
    Im beta)`` (a tuple of ``(n,)`` arrays), in real arithmetic (the TWOQS kernel's step:
    XLA on CPU vectorises it, complex arithmetic it does not). ``fused=False`` takes the
    Hamiltonian drift from :func:`hamiltonian_drift_autodiff` instead.

    Site-major: with ``z`` and the ``dW`` rows ``(n, T)`` (``T`` trajectories, sites on
    the major axis) and ``fused``, one call steps all ``T`` trajectories with the same
    arithmetic (the per-site rates broadcast along the trajectories; the coupling gradient
    is :func:`spin_gradient_rows`, which skips the components outside the static
    ``coupling_mask`` and ``field_mask``; other jump terms are vmapped over the
    trajectories). ``rate_mask`` (static ``(decay, gain, dephasing)``) skips the dissipation
    drift of rates known to be zero (tangential noise only).

    ``scale`` (site-major, ``(n, T)``; ``None``: 1): the increment from the state
    ``lambda z`` divided by ``lambda``, ``lambda = sqrt(scale) > 0``, without a square root.
    Every term of the step is linear in ``z`` except through the spin symbols and the mode
    occupations, which are quadratic and are multiplied by ``scale``: the Hamiltonian drift
    (given ``g``), the dissipation drift ``c z`` (given ``c``), the tangential and the
    dephasing noise. Valid only for those terms: the paper noise (an amplitude independent of
    the phase of ``z``) and other jump terms are refused.

    Returns:
        ``(new z, clipped)``, ``clipped`` shaped like ``z[0]``.
    """
    ar, ai, br, bi = z
    if scale is not None and (not fused or ar.ndim < 2 or getattr(model, "terms", ())):
        raise ValueError("`scale` is for the fused site-major step of the built-in jumps.")
    if scale is not None and not tangential and dW[0] is not None:
        raise ValueError("`scale` needs the tangential noise of decay and gain.")
    if fused:
        har, hai, hbr, hbi = hamiltonian_drift_real(
            model, ar, ai, br, bi, k, coupling_mask, scale, field_mask
        )
    else:
        if ar.ndim > 1:
            raise ValueError("the autodiff drift (fused=False) steps one trajectory at a time.")
        ha, hb = hamiltonian_drift_autodiff(model, lax.complex(ar, ai), lax.complex(br, bi), k)
        har, hai, hbr, hbi = jnp.real(ha), jnp.imag(ha), jnp.real(hb), jnp.imag(hb)
    na, nb = ar**2 + ai**2, br**2 + bi**2
    if scale is not None:
        na, nb = scale * na, scale * nb
    if tangential:
        ca, cb = dissipation_drift(model, na, nb, k, rate_mask)
        amp_phi = _rate_amplitude(_site(model.dephasing.astype(ar.dtype), ar))
        clipped = jnp.zeros(ar.shape, bool)
    else:
        ca, cb, amp_a, amp_b, amp_phi, clipped = dissipation_coefficients(model, na, nb, k, sqrt)
    nar = ar + (har + ca * ar) * dt
    nai = ai + (hai + ca * ai) * dt
    nbr = br + (hbr + cb * br) * dt
    nbi = bi + (hbi + cb * bi) * dt
    if tangential:
        # decay: dalpha = cd beta (w0 + i w1), dbeta = -cd alpha (w0 - i w1);
        # gain: dalpha = -cg beta (w2 - i w3), dbeta = cg alpha (w2 + i w3); c = sqrt(kappa/4)
        # (a pair of rows is None where the model has no such jump: its terms are skipped)
        if dW[0] is not None:
            cd = _rate_amplitude(_site(model.decay.astype(ar.dtype), ar))
            w0, w1 = cd * dW[0], cd * dW[1]
            nar, nai = nar + (br * w0 - bi * w1), nai + (br * w1 + bi * w0)
            nbr, nbi = nbr - (ar * w0 + ai * w1), nbi - (ai * w0 - ar * w1)
        if dW[2] is not None:
            cg = _rate_amplitude(_site(model.gain.astype(ar.dtype), ar))
            w2, w3 = cg * dW[2], cg * dW[3]
            nar, nai = nar - (br * w2 + bi * w3), nai - (bi * w2 - br * w3)
            nbr, nbi = nbr + (ar * w2 - ai * w3), nbi + (ar * w3 + ai * w2)
    elif dW[0] is not None:
        nar, nai = nar + amp_a * dW[0], nai + amp_a * dW[1]
        nbr, nbi = nbr + amp_b * dW[2], nbi + amp_b * dW[3]
    if dW[4] is not None:
        pa, pb = amp_phi * dW[4], -amp_phi * dW[4]  # i amp_phi z dW5 and -i amp_phi beta dW5
        nar, nai = nar - pa * ai, nai + pa * ar
        nbr, nbi = nbr - pb * bi, nbi + pb * br
    # other jump types (registry twoqs_jax._phase_space.lowering): their own increments and
    # noise rows after the five above; a model without them runs exactly the step above
    row = N_NOISE
    for term in getattr(model, "terms", ()):
        rows = dW[row : row + term.noise_rows] if len(dW) > row else None
        rows = None if rows is None or rows[0] is None else tuple(rows)
        row += term.noise_rows
        if ar.ndim > 1:  # site-major: the term's own (per-trajectory) increment, vmapped
            dz, c = jax.vmap(
                lambda y, w, term=term: term.increment(y, w, dt, k, sqrt, tangential),
                in_axes=(1, None if rows is None else 1),
                out_axes=1,
            )(z, rows)
        else:
            dz, c = term.increment(z, rows, dt, k, sqrt, tangential)
        nar, nai, nbr, nbi = nar + dz[0], nai + dz[1], nbr + dz[2], nbi + dz[3]
        clipped = clipped | c
    return (nar, nai, nbr, nbi), clipped
