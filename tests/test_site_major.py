"""The site-major step loop against the vmapped per-trajectory step (the same numbers).

The kernel's default path steps a whole chunk at once on ``(n, chunk)`` arrays
(:func:`twoqs_jax._sde.kernel.site_major_step`); the reference is the vmapped
:func:`twoqs_jax._sde.kernel.trajectory_step` on ``(chunk, n)``. Both read the same
counter-based numbers, so every statistic of a chunk must agree to float64 round-off.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import twoqs_jax as tq
from twoqs_jax._methods import TWOQS
from twoqs_jax._observables import resolve
from twoqs_jax._phase_space.drift import coupling_mask
from twoqs_jax._phase_space.lowering import lower
from twoqs_jax._sde.config import kernel_config
from twoqs_jax._sde.kernel import (
    project,
    projection_as_scale,
    run_chunk,
    site_major_step,
    traced_config,
    trajectory_step,
)
from twoqs_jax._twoqs import PRIMITIVES

N_TRAJ = 32


def _ring(jumps=()):
    # XYZ ring with fields, an on-site twist (same-site edges) and every ladder jump
    n = 5
    return tq.SpinModel(
        np.array([3.0, 4.0, 3.5, 5.0, 4.5]),
        field={"x": 0.7, "z": -0.3},
        decay=0.2,
        gain=0.05,
        dephasing=0.1,
        couplings=[
            tq.Coupling(tq.ring(n), {"xx": 0.5, "yy": -0.3, "zz": 0.2, "xy": 0.1}),
            tq.Coupling(tq.on_site(n), {"zz": 0.15}),
        ],
        jumps=list(jumps),
    )


MODELS = {
    "single_spin": lambda: tq.driven_spin(20, Omega=1.5, Gamma=1.0),
    "dimer": lambda: tq.lmg_dimer(6, J=1.0, lam=0.7, g=0.5, gamma=0.4),
    "ring": _ring,
}


def _run(model, method, site_major, observables=("Sz", "SzSz")):
    lowered = lower(model)
    obs = resolve(observables, model.n_sites, "twoqs", PRIMITIVES)
    saveat = tq.SaveAt(np.linspace(0.0, 0.4, 5))
    cfg, _ = kernel_config(lowered, saveat, method, obs, N_TRAJ, N_TRAJ, "float64")
    assert cfg.site_major  # the default path of these methods
    cfg = traced_config(dataclasses.replace(cfg, site_major=site_major))
    state = tq.along_x(model.n_sites)
    return _run_chunk(cfg, lowered, state.theta, state.phi, "float64", N_TRAJ, 7)


def _run_chunk(cfg, lowered, theta, phi, dtype, n_traj, key):
    # the jitted chunk function of (traced) `cfg`, traced anew on every call
    theta, phi = (jnp.asarray(x, dtype) for x in (theta, phi))
    fn = jax.jit(lambda m, t, p, k: run_chunk(cfg, m, t, p, k, jnp.int32(0), jnp.int32(n_traj)))
    return jax.device_get(fn(lowered, theta, phi, jax.random.key(key)))


def _one_step_config(make):
    # the lowered model of `make` and the kernel config of a 0.1-long run, dt = 0.05
    with jax.numpy_dtype_promotion("standard"):
        model = lower(make())
        obs = resolve(("Sz",), model.n_sites, "twoqs", PRIMITIVES)
        cfg, _ = kernel_config(
            model, tq.SaveAt([0.0, 0.1]), TWOQS(tq.EulerMaruyama(0.05)), obs, 8, 8, "float64"
        )
    return model, cfg


def _both_steps(cfg, model, z, dw, r0):
    # one step of `(T, n)` trajectories: the vmapped one-trajectory step on (T, n), and the
    # site-major step on (n, T) (its results transposed back to (T, n))
    old_z, old_c = jax.jit(jax.vmap(lambda z, w, r: trajectory_step(cfg, model, z, w, r)))(
        z, dw, r0
    )
    new_z, new_c = jax.jit(lambda z, w, r: site_major_step(cfg, model, z, w, r))(
        tuple(x.T for x in z), tuple(None if x is None else x.T for x in dw), r0.T
    )
    return old_z, old_c, tuple(np.asarray(x).T for x in new_z), new_c


def _assert_same(a, b):
    flat_a, tree_a = jax.tree.flatten(a)
    flat_b, tree_b = jax.tree.flatten(b)
    assert tree_a == tree_b
    for x, y in zip(flat_a, flat_b, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-10)


def _ring_with_spin_jump():
    # a general SpinJump (L = c_- S^- + c_+ S^+ + c_z S_z): a jump term the site-major step
    # vmaps over the sites instead of writing it on whole arrays
    return _ring([tq.SpinJump(0.1, 0.6, 0.3, 0.2)])


@pytest.mark.parametrize(
    ("k", "tangential", "make"),
    [(0, True, _ring), (0, False, _ring), (1, False, _ring), (0, True, _ring_with_spin_jump)],
    ids=["W-tangential", "W-paper", "P", "W-tangential-SpinJump"],
)
def test_site_major_step_matches_the_vmapped_step(k, tangential, make):
    # one step of 8 random trajectories of the coupled ring with every ladder jump: the
    # site-major step on (n, T) against the vmapped one-trajectory step on (T, n) (the
    # default-suite companion of the whole-loop comparisons below)
    model, cfg = _one_step_config(make)
    cfg = dataclasses.replace(cfg, k=k, tangential=tangential)
    rng = np.random.default_rng(3)
    n, t = model.n_sites, 8
    z = tuple(jnp.asarray(rng.normal(size=(t, n)) * 2.0) for _ in range(4))
    dw = tuple(jnp.asarray(rng.normal(size=(t, n)) * 0.2) for _ in range(5))
    r0 = jnp.asarray(0.5 * np.abs(rng.normal(size=(t, n))) + 0.8)  # small: some clips
    old_z, old_c, new_z, new_c = _both_steps(cfg, model, z, dw, r0)
    for a, b in zip(old_z, new_z, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(new_c, old_c)
    if not tangential:
        assert np.any(np.asarray(old_c) > 0) or k == 1  # W: some Wigner arguments clip


def _sites_with_twist():
    # three uncoupled sites of different lengths with fields, a same-site twist and every
    # ladder jump: no inter-site edge, so the site-major step takes the projection as a scale
    n = 3
    return tq.SpinModel(
        np.array([3.0, 4.0, 5.0]),
        field={"x": 0.7, "z": -0.3},
        decay=0.2,
        gain=0.05,
        dephasing=0.1,
        couplings=tq.Coupling(tq.on_site(n), {"zz": 0.15, "xx": -0.2, "xy": 0.1}),
    )


def _dephasing_twist():
    # uncoupled sites, fields, a same-site twist and dephasing only: no decay or gain, so the
    # scale is taken also with paper 003's noise, and for P (k = 1, same-site phase term)
    return tq.SpinModel(
        np.array([3.0, 4.0]),
        field={"y": 0.4, "z": 0.3},
        dephasing=0.2,
        couplings=tq.Coupling(tq.on_site(2), {"zz": 0.15, "xx": -0.2}),
    )


@pytest.mark.parametrize(
    ("make", "k", "tangential"),
    [
        (_sites_with_twist, 0, True),
        (MODELS["single_spin"], 0, True),
        (_dephasing_twist, 1, False),
        (_dephasing_twist, 0, False),
    ],
    ids=["sites-twist-W", "single-spin-W", "dephasing-twist-P", "dephasing-twist-W-paper"],
)
def test_scaled_step_is_a_positive_multiple_of_the_projected_step(make, k, tangential):
    # the site-major step without the projection's square root (kernel.site_major_step):
    # it returns F(P(y)) / lambda with lambda = r0 / |y| > 0 per site, so lambda times it is
    # the vmapped "project, then step" F(P(y)), and its projection is P(F(P(y)))
    model, cfg = _one_step_config(make)
    cfg = dataclasses.replace(cfg, k=k, tangential=tangential)
    assert projection_as_scale(cfg, model)
    # decay or gain with paper 003's noise, inter-site couplings: projected
    assert projection_as_scale(dataclasses.replace(cfg, tangential=False), model) == (not cfg.jumps)
    assert not projection_as_scale(cfg, lower(_ring()))
    # the static masks skip what is zero on every site (the vmapped reference skips nothing)
    masks = {
        _sites_with_twist: ((True, False, True), (True, True, True)),
        MODELS["single_spin"]: ((True, False, False), (True, False, False)),
        _dephasing_twist: ((False, True, True), (False, False, True)),
    }[make]
    assert (cfg.field_mask, (*cfg.ladder, cfg.dephasing)) == masks
    rng = np.random.default_rng(5)
    n, t = model.n_sites, 8
    z = tuple(jnp.asarray(rng.normal(size=(t, n)) * 2.0) for _ in range(4))
    # the rows the kernel drives (step_increments): decay/gain rows only with such jumps
    driven = [cfg.jumps] * 4 + [cfg.dephasing]
    dw = tuple(jnp.asarray(rng.normal(size=(t, n)) * 0.2) if d else None for d in driven)
    r0 = jnp.asarray(0.5 * np.abs(rng.normal(size=(t, n))) + 2.0)
    old_z, old_c, new_z, new_c = _both_steps(cfg, model, z, dw, r0)
    lam = np.asarray(r0) / np.sqrt(sum(np.asarray(x) ** 2 for x in z))
    assert np.ptp(lam) > 0.1  # the scales differ between sites and trajectories
    for a, b in zip(old_z, new_z, strict=True):
        np.testing.assert_allclose(lam * b, a, rtol=1e-12, atol=1e-12)
    for a, b in zip(project(cfg, old_z, r0), project(cfg, new_z, r0), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(new_c, old_c)


def test_scale_is_refused_where_the_step_is_not_linear():
    # the scaled step is valid only for the fused site-major step of the built-in terms
    from twoqs_jax._phase_space.drift import em_increment_real

    model = lower(tq.driven_spin(5, 1.0))
    z = tuple(jnp.ones((1, 4)) for _ in range(4))
    dw = (jnp.ones((1, 4)),) * 4 + (None,)
    q = jnp.ones((1, 4))
    with pytest.raises(ValueError, match="fused site-major"):
        em_increment_real(model, tuple(x[0] for x in z), dw, 0.1, scale=q[0], tangential=True)
    with pytest.raises(ValueError, match="tangential"):
        em_increment_real(model, z, dw, 0.1, scale=q, tangential=False)


def test_scaled_loop_stays_finite_and_equal_where_the_norm_grows(monkeypatch):
    # float32, no noise, |field| dt = 1: each Euler step multiplies the carried norm by
    # sqrt(2), so 512 steps would overflow (2^256) without the projection once per noise
    # window (32 steps); the scaled loop must match the projected one and stay finite
    from twoqs_jax._sde import kernel

    model = lower(tq.SpinModel(10.0, field={"x": 200.0}))
    obs = resolve(("Sz", "Sy"), 1, "twoqs", PRIMITIVES)
    method = TWOQS(tq.EulerMaruyama(0.01))
    cfg, _ = kernel_config(model, tq.SaveAt([0.0, 5.12]), method, obs, 8, 8, "float32")
    cfg = traced_config(cfg)

    def run():
        return _run_chunk(cfg, model, [0.3], [0.2], "float32", 8, 1)

    assert projection_as_scale(cfg, model)
    scaled = run()
    monkeypatch.setattr(kernel, "projection_as_scale", lambda cfg, model: False)
    projected = run()
    assert int(np.sum(scaled["bad"])) == 0 and int(np.sum(projected["bad"])) == 0
    for name in ("Sz", "Sy"):
        a, b = (np.asarray(r["saved"]["mean"][name]) for r in (scaled, projected))
        assert np.all(np.isfinite(a)) and np.ptp(a) > 1.0  # the spin turned
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-3 * 10.0)


# each case compiles two whole chunk functions (tens of seconds): --slow
@pytest.mark.slow
@pytest.mark.parametrize("noise", ["two_point", "gaussian"])
@pytest.mark.parametrize("name", list(MODELS))
def test_site_major_loop_matches_the_vmapped_step(name, noise):
    with jax.numpy_dtype_promotion("standard"):  # the initial sampling mixes complex
        model = MODELS[name]()
        method = TWOQS(tq.EulerMaruyama(0.02, noise=noise))
        new, old = (_run(model, method, sm) for sm in (True, False))
    _assert_same(new, old)
    saved = new["saved"]["mean"]["Sz"]
    assert np.all(np.isfinite(saved)) and np.ptp(saved[:, 0]) > 0  # the states moved


@pytest.mark.slow
@pytest.mark.parametrize("representation", ["W", "P"])
def test_site_major_loop_matches_with_the_paper_noise(representation):
    # paper 003's noise (clipped Wigner square roots, counted) and the P representation
    # (same-site phase term): the other branches of the fused step
    with jax.numpy_dtype_promotion("standard"):
        model = _ring()
        method = TWOQS(
            tq.EulerMaruyama(0.02),
            representation=representation,
            diffusion="paper",
            constraint=None,
            sampling="coherent" if representation == "P" else "fock",
        )
        new, old = (_run(model, method, sm) for sm in (True, False))
    _assert_same(new, old)


def test_coupling_mask_reads_the_symmetrised_components():
    m = lower(_ring())
    mask = np.asarray(coupling_mask(m))
    expected = np.zeros((3, 3), bool)
    expected[0, 0] = expected[1, 1] = expected[2, 2] = expected[0, 1] = True
    np.testing.assert_array_equal(mask, expected)
    assert not np.any(coupling_mask(lower(tq.driven_spin(5, 1.0))))
