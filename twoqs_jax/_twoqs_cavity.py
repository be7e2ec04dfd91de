r"""TWOQS for spins with bosonic modes and jumps shared by several sites.

A separate, plainly written truncated-Wigner integrator for the models the main kernel does
not take: a :class:`~twoqs_jax.CavityModel` (spins and modes) and a :class:`SpinModel` with a
:class:`~twoqs_jax.CorrelatedJump`. Conventions: hbar = 1, standard Lindblad form
``drho/dt = -i[H, rho] + sum_k kappa_k (L_k rho L_k^+ - 1/2 {L_k^+ L_k, rho})``, Wigner
representation, Ito calculus (docs/models/cavity.md, "TWOQS with modes and correlated jumps").

**State** of one trajectory: the Schwinger amplitudes ``v_i = (alpha_i, beta_i)`` of every site
(``s_x + i s_y = conj(alpha) beta``, ``s_z = (|alpha|^2 - |beta|^2)/2``) and one complex
amplitude ``c_k`` per mode (``a -> c``, ``x -> sqrt 2 Re c``, ``p -> sqrt 2 Im c``).

**Hamiltonian drift** from the real Weyl symbol

    H_W = H_W,spins + sum_k [omega_k (|c_k|^2 - 1/2) + 2 Re(conj(eta_k) c_k)
          + K_k (|c_k|^4 - 2 |c_k|^2 + 1/2)] + sum G[k, i, q, a] X_kq s_ia

by Wirtinger derivatives, ``dz/dt = -i dH_W/dconj(z)`` for every amplitude ``z`` (``jax.grad``
of the real function; the spin part is :func:`twoqs_jax._phase_space.symbols.hamiltonian_symbol`).

**Jumps** ``L = v^+ M v`` with ``M`` block diagonal over the sites (``M_i = [[c^z/2, c^+],
[c^-, -c^z/2]]``; decay, gain and dephasing are ``c = (1, 0, 0)``, ``(0, 1, 0)``, ``(0, 0, 1)``),
with ``l = v^+ M v`` the symbol of ``L`` and one complex increment ``xi`` per jump operator
(``E|xi|^2 = dt``, ``E xi^2 = 0``):

    dv = [(kappa/2)(conj(l) M v - l M^+ v) - (kappa/4)(M^+ M + M M^+) v] dt
         + sqrt(kappa/2) (M^+ v xi - M v conj(xi)).

A per-site jump (:class:`Decay`, :class:`Gain`, :class:`Dephasing`, :class:`SpinJump`) is one
operator per site (its own ``xi_i``, ``l`` the site's symbol); a :class:`CorrelatedJump` is
one operator for all its sites (one ``xi`` shared, ``l = sum_i v_i^+ M_i v_i``). This is the
"tangential" noise of the main kernel: the whole state-dependent second-order diffusion, without
the O(1/S) vacuum part ``(kappa/4)[M^+, M]``.

**Modes** (exact, no truncation): ``dc = [-i dH_W/dconj(c) - (loss - gain) c/2] dt
+ sqrt((loss + gain)/4) (dW_1 + i dW_2)``.

**Sampling**: spins as the main kernel's Fock sampling (``alpha0 ~ CN(0, 1/2)``,
``|beta0|^2 = 2S + Exp(1/2)``, uniform phase, rotated to the coherent state) or paper 003's
coherent sampling; modes ``c = alpha + CN(0, n_th + 1/2)``. The ``spin_length`` constraint
rescales every site's ``|alpha|^2 + |beta|^2`` to its initial value after each step.

**Statistics**: trajectory means with standard errors for observables linear in the
primitives, jackknife errors for the others (:class:`twoqs_jax._sde.statistics.RunningStats`),
the Weyl symbols of the mode primitives ``a -> c``, ``a^+a -> |c|^2 - 1/2``, ``aa -> c^2``,
``a^+a^+aa -> |c|^4 - 2|c|^2 + 1/2``. Euler-Maruyama with Gaussian or two-point increments,
``vmap`` over trajectories, ``lax.scan`` over saving intervals, chunks of trajectories.
"""

import dataclasses
import time
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._checks import check_int
from ._jumps.correlated import CorrelatedJump
from ._jumps.spin_jump import SpinJump
from ._keys import key_info, resolve_key
from ._model.jumps import Decay, Dephasing, Gain, is_active
from ._model.model import SpinModel
from ._observables import (
    PRIMITIVES,
    PhaseSpaceFunction,
    dims_of,
    needed_primitives,
    resolve,
)
from ._options import DEFAULT_CHUNK, Options
from ._phase_space.observables import trajectory_primitives
from ._phase_space.symbols import hamiltonian_symbol
from ._saveat import SaveAt, steps_of
from ._sde.statistics import RunningStats
from ._solution import Solution

SQRT2 = float(np.sqrt(2.0))

_LOCAL = {
    Decay: (1.0, 0.0, 0.0),
    Gain: (0.0, 1.0, 0.0),
    Dephasing: (0.0, 0.0, 1.0),
}


def m_matrix(c_minus, c_plus, c_z):
    """``(..., 2, 2)`` complex ``M`` of ``L = v^+ M v`` (``S^+ = a^+ b``, ``S^- = b^+ a``)."""
    half = c_z / 2
    return jnp.stack(
        [jnp.stack([half, c_plus], axis=-1), jnp.stack([c_minus, -half], axis=-1)], axis=-2
    )


class CavityPhaseSpace(eqx.Module):
    """A model lowered to the arrays of this integrator.

    Attributes:
        spins: the :class:`SpinModel` (its Hamiltonian), or ``None``.
        spin: ``(n,)`` spin lengths.
        local_m, local_rate: ``(J, n, 2, 2)`` and ``(J, n)``: per-site jumps, one operator per
            site and entry.
        corr_m, corr_rate: ``(C, n, 2, 2)`` and ``(C,)``: correlated jumps, one operator each.
        frequency, drive, kerr, loss, gain: ``(M,)`` mode arrays; coupling ``(M, n, 2, 3)``.
    """

    spins: SpinModel | None
    spin: jax.Array
    local_m: jax.Array
    local_rate: jax.Array
    corr_m: jax.Array
    corr_rate: jax.Array
    frequency: jax.Array
    drive: jax.Array
    kerr: jax.Array
    loss: jax.Array
    gain: jax.Array
    coupling: jax.Array

    @property
    def n_sites(self) -> int:
        """Number of sites."""
        return int(self.spin.shape[0])

    @property
    def n_modes(self) -> int:
        """Number of modes."""
        return int(self.frequency.shape[0])

    @property
    def n_noise(self) -> int:
        """Real Wiener increments per step: 2 per site and per-site jump, 2 per correlated
        jump, 2 per mode.
        """
        return 2 * (self.local_m.shape[0] * self.n_sites + self.corr_m.shape[0] + self.n_modes)


def lower_cavity(model) -> CavityPhaseSpace:
    """``model`` (a concrete :class:`CavityModel` or :class:`SpinModel`) as a
    :class:`CavityPhaseSpace`; jumps whose rates are all zero are left out, a jump type without
    a Wigner form here is refused by name.
    """
    from ._model.cavity import CavityModel

    if isinstance(model, CavityModel):
        spins, modes = model.spins, model
    else:
        spins, modes = model, None
    n = 0 if spins is None else spins.n_sites
    local_m, local_rate, corr_m, corr_rate = [], [], [], []
    for jump in () if spins is None else spins.jumps:
        if isinstance(jump, Decay | Gain | Dephasing | SpinJump | CorrelatedJump) and not (
            is_active(jump)
        ):
            continue  # a zero rate draws no noise (presets carry zero-rate jumps)
        if type(jump) in _LOCAL:
            c = [jnp.full((n,), complex(x)) for x in _LOCAL[type(jump)]]
            local_m.append(m_matrix(*c))
            local_rate.append(jnp.broadcast_to(1.0 * jnp.asarray(jump.rate), (n,)))
        elif isinstance(jump, SpinJump):
            c = [(1 + 0j) * jnp.asarray(getattr(jump, f)) for f in jump.complex_fields]
            local_m.append(m_matrix(*[jnp.broadcast_to(x, (n,)) for x in c]))
            local_rate.append(jnp.broadcast_to(1.0 * jnp.asarray(jump.rate), (n,)))
        elif isinstance(jump, CorrelatedJump):
            c = (1 + 0j) * jnp.asarray(jump.coefficients())
            corr_m.append(m_matrix(c[:, 0], c[:, 1], c[:, 2]))
            corr_rate.append(1.0 * jnp.asarray(jump.rate))
        else:
            raise ValueError(
                f"TWOQS with modes or correlated jumps does not support the jump "
                f"{type(jump).__name__} (supported: Decay, Gain, Dephasing, SpinJump, "
                "CorrelatedJump)."
            )

    def stack(items, shape, dtype):
        return jnp.stack(items) if items else np.zeros(shape, dtype)

    if modes is None:
        mode = dict(
            frequency=jnp.zeros((0,)),
            drive=np.zeros((0,), complex),
            kerr=jnp.zeros((0,)),
            loss=jnp.zeros((0,)),
            gain=jnp.zeros((0,)),
            coupling=jnp.zeros((0, n, 2, 3)),
        )
    else:
        mode = {
            f: getattr(modes, f) for f in ("frequency", "drive", "kerr", "loss", "gain", "coupling")
        }
    return CavityPhaseSpace(
        spins=spins,
        spin=jnp.zeros((0,)) if spins is None else 1.0 * jnp.asarray(spins.spin),
        local_m=stack(local_m, (0, n, 2, 2), complex),
        local_rate=stack(local_rate, (0, n), float),
        corr_m=stack(corr_m, (0, n, 2, 2), complex),
        corr_rate=stack(corr_rate, (0,), float),
        **mode,
    )


# ---------------------------------------------------------------------------- the SDE
def weyl_hamiltonian(lm: CavityPhaseSpace, a, b, c):
    """The real Weyl symbol ``H_W(alpha, beta, c)`` (module docstring)."""
    rdt = jnp.real(a).dtype if a.shape[0] else jnp.real(c).dtype
    h = jnp.zeros((), rdt)
    if lm.n_sites:
        h = h + hamiltonian_symbol(lm.spins, a, b, 0)
    if lm.n_modes:
        nc = jnp.abs(c) ** 2
        h = h + jnp.sum(lm.frequency.astype(rdt) * (nc - 0.5))
        h = h + 2 * jnp.sum(jnp.real(jnp.conj(lm.drive.astype(c.dtype)) * c))
        h = h + jnp.sum(lm.kerr.astype(rdt) * (nc * nc - 2 * nc + 0.5))
        if lm.n_sites:
            sp = jnp.conj(a) * b
            s = jnp.stack([jnp.real(sp), jnp.imag(sp), 0.5 * (jnp.abs(a) ** 2 - jnp.abs(b) ** 2)])
            x = SQRT2 * jnp.stack([jnp.real(c), jnp.imag(c)])  # (2, M)
            h = h + jnp.einsum("kiqa,qk,ai->", lm.coupling.astype(rdt), x, s)
    return h


def hamiltonian_drift(lm, a, b, c):
    """``(da, db, dc)/dt = -i dH_W/dconj(z)`` by Wirtinger differentiation (``jax.grad``)."""

    def h(ar, ai, br, bi, cr, ci):
        return weyl_hamiltonian(lm, ar + 1j * ai, br + 1j * bi, cr + 1j * ci)

    parts = (jnp.real(a), jnp.imag(a), jnp.real(b), jnp.imag(b), jnp.real(c), jnp.imag(c))
    g = jax.grad(h, argnums=(0, 1, 2, 3, 4, 5))(*parts)
    return tuple(-0.5j * (g[2 * i] + 1j * g[2 * i + 1]) for i in range(3))


def bilinear_jump(v, M, rate, xi, shared: bool):
    """Drift (per unit time) and noise of the jumps ``L = v^+ M v`` (module docstring).

    Args:
        v: ``(n, 2)`` amplitudes ``(alpha_i, beta_i)``.
        M: ``(J, n, 2, 2)`` blocks of ``J`` jumps.
        rate: ``(J, n)`` per-site rates (``shared=False``: one operator per site) or ``(J,)``
            (``shared=True``: one operator over all sites).
        xi: complex increments, shaped like ``rate``.

    Returns:
        ``(drift, noise)``, each ``(n, 2)`` summed over the jumps.
    """
    Md = jnp.conj(jnp.swapaxes(M, -1, -2))
    g = jnp.einsum("jnab,nb->jna", M, v)
    h = jnp.einsum("jnab,nb->jna", Md, v)
    ell = jnp.sum(jnp.conj(v)[None] * g, axis=-1)  # (J, n): each site's symbol
    if shared:
        ell = jnp.broadcast_to(jnp.sum(ell, axis=-1, keepdims=True), g.shape[:2])
        kap = jnp.broadcast_to(rate[:, None], g.shape[:2])
        xi = jnp.broadcast_to(xi[:, None], g.shape[:2])
    else:
        kap = rate
    kap, xi, ell = kap[..., None], xi[..., None], ell[..., None]
    herm = jnp.einsum("jnab,nb->jna", Md @ M + M @ Md, v)
    drift = (kap / 2) * (jnp.conj(ell) * g - ell * h) - (kap / 4) * herm
    noise = jnp.sqrt(kap / 2) * (h * xi - g * jnp.conj(xi))
    return jnp.sum(drift, axis=0), jnp.sum(noise, axis=0)


def em_step(lm, a, b, c, w, dt):
    """One Euler-Maruyama step; ``w``: ``(lm.n_noise,)`` real increments of variance ``dt``."""
    n, jl, jc, m = lm.n_sites, lm.local_m.shape[0], lm.corr_m.shape[0], lm.n_modes
    cplx = a.dtype if n else c.dtype
    da, db, dc = hamiltonian_drift(lm, a, b, c)
    if n and (jl or jc):
        v = jnp.stack([a, b], axis=-1)
        xl = w[: 2 * jl * n].reshape(2, jl, n)
        xc = w[2 * jl * n : 2 * jl * n + 2 * jc].reshape(2, jc)
        dv, nv = jnp.zeros_like(v), jnp.zeros_like(v)
        for M, rate, x, shared in (
            (lm.local_m, lm.local_rate, xl, False),
            (lm.corr_m, lm.corr_rate, xc, True),
        ):
            if M.shape[0]:
                xi = ((x[0] + 1j * x[1]) / SQRT2).astype(cplx)
                d, z = bilinear_jump(v, M.astype(cplx), rate.astype(w.dtype), xi, shared)
                dv, nv = dv + d, nv + z
        a = a + (da + dv[:, 0]) * dt + nv[:, 0]
        b = b + (db + dv[:, 1]) * dt + nv[:, 1]
    else:
        a, b = a + da * dt, b + db * dt
    if m:
        xm = w[2 * (jl * n + jc) :].reshape(2, m)
        damp = 0.5 * (lm.loss - lm.gain).astype(w.dtype)
        amp = jnp.sqrt((lm.loss + lm.gain).astype(w.dtype) / 4)
        c = c + (dc - damp * c) * dt + amp * (xm[0] + 1j * xm[1])
    return a, b, c


# ---------------------------------------------------------------------------- sampling
def sample_initial(key, lm, theta, phi, alpha, n_thermal, sampling, dtype):
    """One trajectory's initial ``(a, b, c)`` (module docstring)."""
    n, m = lm.n_sites, lm.n_modes
    x = jax.random.normal(key, (6 * n + 2 * m,), dtype)
    xs, xm = x[: 6 * n].reshape(6, n), x[6 * n :].reshape(2, m)
    two_s = (2 * lm.spin).astype(dtype)
    a0 = 0.5 * (xs[0] + 1j * xs[1])  # CN(0, 1/2)
    if sampling == "coherent":
        b0 = jnp.sqrt(two_s) + 0.5 * (xs[2] + 1j * xs[3])
    else:
        zp = xs[4] + 1j * xs[5]
        b0 = jnp.sqrt(two_s + 0.25 * (xs[2] ** 2 + xs[3] ** 2)) * zp / jnp.abs(zp)
    th, ph = theta.astype(dtype), phi.astype(dtype)
    co, si = jnp.cos(th / 2), jnp.sin(th / 2)
    a = -si * jnp.exp(-1j * ph) * a0 + co * b0
    b = co * a0 + si * jnp.exp(1j * ph) * b0
    sd = jnp.sqrt(n_thermal.astype(dtype) + 0.5)
    c = alpha.astype(a.dtype) + sd * (xm[0] + 1j * xm[1]) / SQRT2
    return a, b, c


# ---------------------------------------------------------------------------- observables
def mode_primitives(c) -> dict:
    """Weyl symbols of the mode primitives (``(M,)`` each)."""
    nc = jnp.abs(c) ** 2
    return {"a": c, "ada": nc - 0.5, "aa": c * c, "adadaa": nc * nc - 2 * nc + 0.5}


def trajectory_values(lm, observables, a, b, c) -> tuple:
    """``(linear, grouped)``: per-trajectory values of the linear observables and
    phase-space functions, and of the primitives the nonlinear observables need (complex
    values split into ``name__re``/``name__im``).
    """
    need = set(needed_primitives(observables))
    spin_names = tuple(p for p in PRIMITIVES if p in need)
    prims = {}
    if spin_names:
        prims.update(trajectory_primitives(a, b, lm.spin.astype(jnp.real(a).dtype), 0, spin_names))
    prims.update({k: v for k, v in mode_primitives(c).items() if k in need})
    spin = lm.spin.astype(jnp.real(c).dtype if lm.n_modes else jnp.real(a).dtype)
    linear, grouped = {}, {}

    def put(table, name, value):
        value = jnp.asarray(value)
        if jnp.iscomplexobj(value):
            table[name + "__re"], table[name + "__im"] = jnp.real(value), jnp.imag(value)
        else:
            table[name] = value

    for o in observables:
        if isinstance(o, PhaseSpaceFunction):
            put(linear, o.name, o.fn(a, b))
        elif o.linear:
            put(linear, o.name, o.fn(prims, spin))
        else:
            for p in o.needs:
                put(grouped, p, prims[p])
    return linear, grouped


# ---------------------------------------------------------------------------- run
@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Static settings of one run."""

    dt: float
    steps: tuple  # steps between consecutive saving times (SaveAt)
    window: tuple | None  # (burn steps, sample every (steps), samples) (SteadyState)
    sampling: str
    constraint: str | None
    gaussian: bool
    n_groups: int
    dtype: str


def _increments(key, shape, gaussian, dtype, dt):
    if gaussian:
        return jnp.sqrt(dt) * jax.random.normal(key, shape, dtype)
    return jnp.sqrt(dt) * jax.random.rademacher(key, shape, dtype)


def _trajectory(cfg, lm, observables, theta, phi, alpha, n_thermal, key):
    """Values of one trajectory: ``(linear, grouped)`` with a leading time axis (saved
    times) or time averages (steady state), and whether the state stayed finite.
    """
    dtype = jnp.dtype(cfg.dtype)
    a, b, c = sample_initial(
        jax.random.fold_in(key, 0), lm, theta, phi, alpha, n_thermal, cfg.sampling, dtype
    )
    norm0 = jnp.abs(a) ** 2 + jnp.abs(b) ** 2
    knoise = jax.random.fold_in(key, 1)

    def step(i, state):
        a, b, c, s = state
        w = _increments(jax.random.fold_in(knoise, s), (lm.n_noise,), cfg.gaussian, dtype, cfg.dt)
        a, b, c = em_step(lm, a, b, c, w, cfg.dt)
        if cfg.constraint == "spin_length" and lm.n_sites:
            r = jnp.sqrt(norm0 / (jnp.abs(a) ** 2 + jnp.abs(b) ** 2))
            a, b = a * r, b * r
        return a, b, c, s + 1

    def advance(state, n_steps):
        return lax.fori_loop(0, n_steps, step, state)

    state = (a, b, c, jnp.zeros((), jnp.uint32))
    values = lambda st: trajectory_values(lm, observables, st[0], st[1], st[2])  # noqa: E731
    if cfg.window is None:
        first = values(state)

        def save(st, n_steps):
            st = advance(st, n_steps)
            return st, values(st)

        state, rest = lax.scan(save, state, jnp.asarray(cfg.steps, jnp.int32))
        out = jax.tree.map(lambda x0, xs: jnp.concatenate([x0[None], xs]), first, rest)
    else:
        burn, every, n_samples = cfg.window
        state = advance(state, burn)

        def sample(carry, _):
            st, acc = carry
            st = advance(st, every)
            acc = jax.tree.map(jnp.add, acc, values(st))
            return (st, acc), None

        zero = jax.tree.map(jnp.zeros_like, values(state))
        (state, acc), _ = lax.scan(sample, (state, zero), None, length=n_samples)
        out = jax.tree.map(lambda x: x / n_samples, acc)
    finite = jnp.all(jnp.isfinite(jnp.concatenate([state[0], state[1], state[2]])))
    return out, finite


def _chunk_moments(cfg, lm, observables, theta, phi, alpha, n_thermal, key, index):
    """Means, squared deviations and group sums over one chunk of trajectories."""
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(index)
    run = jax.vmap(_trajectory, in_axes=(None, None, None, None, None, None, None, 0))
    (linear, grouped), finite = run(cfg, lm, observables, theta, phi, alpha, n_thermal, keys)
    mean = jax.tree.map(lambda x: jnp.mean(x, axis=0), linear)
    m2 = jax.tree.map(lambda x, mu: jnp.sum((x - mu) ** 2, axis=0), linear, mean)
    group = index % cfg.n_groups
    gsum = jax.tree.map(lambda x: jax.ops.segment_sum(x, group, num_segments=cfg.n_groups), grouped)
    gcount = jax.ops.segment_sum(jnp.ones(index.shape), group, num_segments=cfg.n_groups)
    return mean, m2, gsum, gcount, jnp.sum(~finite)


_chunk_jit = jax.jit(_chunk_moments, static_argnums=(0, 2))


def _merge(acc, part):
    return part if acc is None else acc.merge(part)


def run(cfg, lm, observables, theta, phi, alpha, n_thermal, key, n_traj, chunk):
    """All chunks: ``(RunningStats, nonfinite trajectories, compile time, wall time)``."""
    acc, bad, t_compile = None, 0, 0.0
    t0 = time.perf_counter()
    for start in range(0, n_traj, chunk):
        index = jnp.arange(start, min(start + chunk, n_traj), dtype=jnp.uint32)
        t1 = time.perf_counter()
        out = _chunk_jit(cfg, lm, observables, theta, phi, alpha, n_thermal, key, index)
        mean, m2, gsum, gcount, nbad = jax.device_get(out)
        if start == 0:
            t_compile = time.perf_counter() - t1
        part = RunningStats(
            count=float(index.shape[0]),
            mean={k: np.asarray(v, np.float64) for k, v in mean.items()},
            m2={k: np.asarray(v, np.float64) for k, v in m2.items()},
            group_count=np.asarray(gcount, np.float64),
            group_sum={k: np.asarray(v, np.float64) for k, v in gsum.items()},
            clipped=0.0,
            nonfinite=float(nbad),
        )
        acc = _merge(acc, part)
        bad += int(nbad)
    return acc, bad, t_compile, time.perf_counter() - t0


# ---------------------------------------------------------------------------- solve
def _check_method(method, options):
    from ._sde.schemes.euler_maruyama import EulerMaruyama

    if not isinstance(method.scheme, EulerMaruyama):
        raise ValueError(
            f"TWOQS with modes or correlated jumps integrates with tq.EulerMaruyama only, got "
            f"`scheme` = {type(method.scheme).__name__}."
        )
    if method.representation != "W":
        raise ValueError(
            "TWOQS with modes or correlated jumps runs the Wigner representation only, got "
            f"`representation` = {method.representation!r}."
        )
    if method.resolved_diffusion != "tangential":
        raise ValueError(
            "TWOQS with modes or correlated jumps uses the tangential noise only, got "
            f"`diffusion` = {method.diffusion!r}."
        )
    unsupported = {
        "devices": options.devices is not None,
        "shard": bool(options.shard),
        "progress": bool(options.progress),
        "checkpoint": options.checkpoint is not None,
        "resume": options.resume,
    }
    bad = [k for k, v in unsupported.items() if v]
    if bad:
        raise ValueError(
            f"TWOQS with modes or correlated jumps does not support the options {bad} "
            f"(got {', '.join(f'{k}={getattr(options, k)!r}' for k in bad)}); leave them at "
            "their defaults."
        )


def _grid(saveat, dt):
    if isinstance(saveat, SaveAt):
        ts = saveat.ts
        marks = [steps_of(f"ts[{i}] - ts[0]", float(t - ts[0]), dt) for i, t in enumerate(ts)]
        return tuple(int(d) for d in np.diff(marks)), None, ts
    saveat.require_window("TWOQS")
    every = saveat.every if saveat.every is not None else dt
    burn = steps_of("t_burn", float(saveat.t_burn), dt)
    every_steps = steps_of("every", float(every), dt)
    n = steps_of("t_avg", float(saveat.t_avg), float(every), "every")
    return (), (burn, every_steps, n), None


def solve_twoqs_cavity(
    model, state, saveat, method, *, n_traj, key, observables=None, options=None
) -> Solution:
    """TWOQS trajectories of a :class:`CavityModel`, or of a :class:`SpinModel` with a
    :class:`CorrelatedJump` (module docstring; see :func:`twoqs_jax.solve`).
    """
    from ._model.cavity import CavityModel, check_cavity, resolve_cavity
    from ._twoqs import TrajectoryBlowUp, check_state, finalize, resolve_dtype

    options = Options() if options is None else options
    if method.correction == "third_order":
        raise ValueError(
            "`correction`='third_order' is derived for spin models without modes or correlated "
            "jumps; use correction='auto' or None."
        )
    if isinstance(model, CavityModel):
        check_cavity(model, state)
        spins_state = state.spins
        alpha, n_thermal = state.alpha, state.n_thermal
        available = tuple(PRIMITIVES)
        observables = resolve_cavity(observables, model, "twoqs", available)
    elif isinstance(model, SpinModel):
        model.validate()
        if model.batch_shape:
            raise ValueError(
                "TWOQS with a CorrelatedJump takes one model at a time, got a batch of shape "
                f"{model.batch_shape}; loop over the batch."
            )
        check_state(model, state)
        spins_state = state
        alpha, n_thermal = np.zeros((0,), complex), np.zeros((0,))
        observables = resolve(observables, model.n_sites, "twoqs", PRIMITIVES)
    else:
        raise ValueError(
            f"`model` must be a CavityModel or a SpinModel, got {type(model).__name__}."
        )
    _check_method(method, options)
    n_traj = check_int("n_traj", n_traj, minimum=2)
    seed = key if isinstance(key, int | np.integer) and not isinstance(key, bool) else None
    key = resolve_key(key)
    chunk = options.chunk_size if options.chunk_size is not None else DEFAULT_CHUNK
    chunk = min(check_int("chunk_size", chunk, minimum=1), n_traj)
    dtype = resolve_dtype(options.dtype)
    dt = method.scheme.dt
    steps, window, times = _grid(saveat, dt)
    cfg = RunConfig(
        dt=dt,
        steps=steps,
        window=window,
        sampling=method.sampling,
        constraint=method.constraint,
        gaussian=method.scheme.noise == "gaussian",
        n_groups=min(method.n_groups, n_traj),
        dtype=dtype,
    )
    lm = lower_cavity(model)
    n = lm.n_sites
    theta = jnp.zeros((0,)) if spins_state is None else jnp.asarray(spins_state.theta)
    phi = jnp.zeros((0,)) if spins_state is None else jnp.asarray(spins_state.phi)
    stats, bad, t_compile, wall = run(
        cfg, lm, tuple(observables), theta, phi, alpha, n_thermal, key, n_traj, chunk
    )
    if bad and options.throw:
        raise TrajectoryBlowUp(
            f"TWOQS trajectories blew up: {bad} of {n_traj} reached NaN or inf (likely cause: "
            f"the step dt = {dt:g} is too large for the model's rates, frequencies and "
            "couplings; halve `dt`)."
        )
    spin = np.asarray(lm.spin, np.float64)
    mean, sem = finalize(stats, cfg, observables, spin, times is not None)
    lead = ("time",) if times is not None else ()
    dims = {o.name: dims_of(o, lead) for o in observables}
    n_steps = sum(steps) if window is None else window[0] + window[1] * window[2]
    info = {
        "n_traj": n_traj,
        "dt": dt,
        "n_steps": n_steps,
        "integrator": "cavity",
        "representation": "W",
        "sampling": method.sampling,
        "third_order": {
            "applied": False,
            "reason": "modes or correlated jumps (the correction is derived for spin models)",
        },
        "constraint": method.constraint,
        "diffusion": "tangential",
        "scheme": type(method.scheme).__name__,
        "noise": method.scheme.noise,
        "key": key_info(key, seed),
        "n_sites": n,
        "n_modes": lm.n_modes,
        "noise_rows": lm.n_noise,
        "nonfinite_trajectories": float(bad),
        "clip_fraction": 0.0,
        "flags": [],
        "chunk_size": chunk,
        "dtype": dtype,
        "compile_time": t_compile,
        "wall_time": wall,
        "device": str(jax.devices()[0]),
    }
    if "spin_drift" in mean:
        info["spin_drift_max"] = float(np.nanmax(np.abs(mean["spin_drift"])))
    if window is not None:
        info.update(t_burn=float(saveat.t_burn), t_avg=float(saveat.t_avg))
    if bad:
        warnings.warn(
            f"TWOQS: {bad} of {n_traj} trajectories reached NaN or inf; the results are NaN "
            "(halve `dt`).",
            RuntimeWarning,
            stacklevel=3,
        )
    return Solution(
        method="twa",
        times=times,
        mean=mean,
        sem=sem,
        stats=info,
        dims=dims,
    )
