"""The kernel's noise material: counter-based increments with the moments of Wiener ones.

Gaussian: N(0, dt) by Box-Muller from one Threefry-2x32-20 hash per number. Two-point:
+-sqrt(dt) from one bit of a per-window word per step. Both must be independent across
steps, noise rows, sites and trajectories, depend only on (key, trajectory, window,
position), and rows a model does not drive must be absent (zeros here). The hash itself is
checked against Random123's known-answer vectors and JAX's own threefry.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import twoqs_jax as tq
from twoqs_jax._sde import rng
from twoqs_jax._sde.kernel import KernelConfig, block_increments, noise_layout

F64 = jnp.float64
Z = 5.0  # standard errors: every check below is a mean over >= 1e5 independent numbers


def _cfg(noise, jumps=True, dephasing=True, block=64, n_blocks=1):
    return KernelConfig(
        k=0,
        scheme=tq.EulerMaruyama(0.04, noise=noise),
        block=block,
        n_blocks=n_blocks,
        save_initial=False,
        save_blocks=None,
        avg_from=0,
        primitives=("Sz",),
        linear=(),
        grouped=(),
        n_groups=1,
        chunk_size=1,
        n_traj=1,
        fock=False,
        dtype="float64",
        jumps=jumps,
        dephasing=dephasing,
    )


def _increments(cfg, key, n_traj, s0, nb, n, dtype=jnp.float64):
    """``(n_traj, nb, rows, n)`` increments / sqrt(dt) of trajectories 0 .. n_traj-1."""
    f = jax.jit(
        jax.vmap(lambda i: block_increments(cfg, key, i, s0, nb, n, dtype)),
    )
    return np.asarray(f(jnp.arange(n_traj))) / np.sqrt(cfg.dt)


@pytest.mark.parametrize("noise", ["gaussian", "two_point"])
def test_block_increments_are_independent_wiener_increments(noise):
    cfg, n, n_traj = _cfg(noise), 3, 2000
    nb, m = noise_layout(cfg, n)
    assert (nb, m) == ((32, 1) if noise == "two_point" else (64, 1))
    x = _increments(cfg, jax.random.key(11), n_traj, 0, nb, n)  # unit variance expected
    assert x.shape == (n_traj, nb, 5, n)
    flat = x.reshape(n_traj, -1)
    m = flat.size
    assert abs(flat.mean()) < Z / np.sqrt(m)
    assert abs((flat**2).mean() - 1) < Z * np.sqrt(2.0 / m) + (0 if noise == "gaussian" else 1e-12)
    if noise == "two_point":
        np.testing.assert_allclose(np.abs(flat), 1.0)
    else:  # Gaussian skewness 0, kurtosis 3 (two-point: 1, it matches three moments only)
        assert abs((flat**3).mean()) < Z * np.sqrt(15.0 / m)
        assert abs((flat**4).mean() - 3) < Z * np.sqrt(96.0 / m)
    # no correlation between neighbouring numbers of one trajectory (steps, rows, sites),
    # nor between the same position of neighbouring trajectories; nor of their squares
    # (Gaussian; two-point squares are constant)
    for a, b in (
        (x[:, :-1], x[:, 1:]),
        (x[:, :, :-1], x[:, :, 1:]),
        (x[..., :-1], x[..., 1:]),
        (x[:-1], x[1:]),
        (x[:-1, :-1], x[1:, 1:]),
    ):
        c = (a * b).mean()
        assert abs(c) < Z / np.sqrt(a.size), c
        if noise == "gaussian":
            c2 = ((a**2 - 1) * (b**2 - 1)).mean()
            assert abs(c2) < Z * 2 / np.sqrt(a.size), c2


def test_consecutive_windows_are_independent():
    for noise in ("gaussian", "two_point"):
        cfg, n, n_traj = _cfg(noise, block=32), 2, 2000
        key = jax.random.key(4)
        a = _increments(cfg, key, n_traj, 0, 32, n)
        b = _increments(cfg, key, n_traj, 32, 32, n)
        assert not np.array_equal(a, b)
        c = (a * b).mean()
        assert abs(c) < Z / np.sqrt(a.size), (noise, c)


def test_gaussian_numbers_pass_ks_and_tail_checks():
    # 2.6e5 float32 numbers of one fixed key against N(0, 1); the uniforms have 24 bits, so
    # the largest |x| is sqrt(48 ln 2) = 5.77
    cfg, n = _cfg("gaussian", jumps=True, dephasing=False), 1
    x = _increments(cfg, jax.random.key(2), 1024, 0, 64, n, jnp.float32)[:, :, :4].ravel()
    assert x.size == 1024 * 64 * 4
    assert stats.kstest(x, "norm").pvalue > 1e-3
    assert np.all(np.abs(x) <= np.sqrt(48 * np.log(2)) + 1e-5)
    for t in (2.0, 3.0):  # tail probabilities within Z binomial standard errors
        p = 2 * stats.norm.sf(t)
        assert abs(np.mean(np.abs(x) > t) - p) < Z * np.sqrt(p * (1 - p) / x.size)


def test_two_point_words_have_balanced_bits():
    # every bit position of the words (the step of the window) is 1 half of the time
    key = rng.window_key(jax.random.key(3), rng.TAG_TWO_POINT, 0)
    w = np.asarray(jax.vmap(lambda i: rng.words(key, i, 0, 64))(jnp.arange(4096)))
    bits = (w.ravel()[:, None] >> np.arange(32, dtype=np.uint32)) & 1
    m = bits.shape[0]
    assert np.all(np.abs(bits.mean(axis=0) - 0.5) < Z * 0.5 / np.sqrt(m))


def test_rows_a_model_does_not_drive_are_zero():
    n = 2
    for jumps, deph, live in ((True, False, [0, 1, 2, 3]), (False, True, [4])):
        for noise in ("gaussian", "two_point"):
            cfg = _cfg(noise, jumps, deph, block=8)
            x = np.asarray(block_increments(cfg, jax.random.key(0), 3, 0, 8, n, jnp.float64))
            dead = [r for r in range(5) if r not in live]
            assert np.all(x[:, dead] == 0)
            assert np.all(x[:, live] != 0)


def test_numbers_depend_only_on_key_trajectory_and_window():
    # a trajectory's numbers are the same drawn alone or in a batch (so for any chunk,
    # sharding or restart), and differ between keys and trajectories
    for noise in ("gaussian", "two_point"):
        cfg = _cfg(noise, block=8)
        key = jax.random.key(5)
        one = jax.jit(lambda i, cfg=cfg, key=key: block_increments(cfg, key, i, 16, 8, 2, F64))
        a, b = one(7), jax.jit(jax.vmap(one))(jnp.arange(10))
        np.testing.assert_array_equal(a, b[7])
        assert not np.array_equal(b[6], b[7])
        c = block_increments(cfg, jax.random.key(6), 7, 16, 8, 2, jnp.float64)
        assert np.mean(np.asarray(a) == np.asarray(c)) < 0.6


def test_threefry_matches_random123_and_jax():
    from jax.extend.random import threefry_2x32

    u = jnp.uint32
    # Random123 kat_vectors, threefry2x32_20
    out = [int(v) for v in rng.threefry2x32(u(0), u(0), u(0), u(0))]
    assert out == [0x6B200159, 0x99BA4EFE]
    m = u(0xFFFFFFFF)
    out = [int(v) for v in rng.threefry2x32(m, m, m, m)]
    assert out == [0x1CB996FC, 0xBB002BE7]
    k = jnp.array([0x13198A2E, 0x03707344], jnp.uint32)
    out = [int(v) for v in rng.threefry2x32(k[0], k[1], u(0x243F6A88), u(0x85A308D3))]
    assert out == [0xC4923A9C, 0x483DF7A0]
    # JAX's threefry_2x32 hashes the counter halves (x[:n/2], x[n/2:]) pairwise
    c = jnp.arange(8, dtype=jnp.uint32)
    mine = rng.threefry2x32(k[0], k[1], c[:4], c[4:])
    np.testing.assert_array_equal(np.concatenate(mine), threefry_2x32(k, c))


def test_polynomial_cosine():
    u = np.linspace(0, 1, 100001)
    got = np.asarray(rng.cos_2pi(jnp.asarray(u)))
    assert np.max(np.abs(got - np.cos(2 * np.pi * u))) < 2e-7


def test_noise_windows_cut_long_blocks_and_group_short_ones():
    # long blocks are cut into windows (largest divisor that fits), short ones grouped
    assert noise_layout(_cfg("two_point", block=100, n_blocks=7), 1) == (25, 1)
    assert noise_layout(_cfg("two_point", block=1, n_blocks=1500), 1) == (30, 30)
    assert noise_layout(_cfg("two_point", block=5, n_blocks=300), 1) == (30, 6)
    assert noise_layout(_cfg("two_point", block=7, n_blocks=13), 1) == (7, 1)  # 13 is prime
    assert noise_layout(_cfg("gaussian", block=1, n_blocks=1500), 1) == (60, 60)
    # Gaussian numbers are hashed in the step (nothing stored): windows of up to 64 steps
    assert noise_layout(_cfg("gaussian", block=1, n_blocks=1000), 100) == (50, 50)


def test_gaussian_kernel_results_do_not_depend_on_the_chunk_size():
    # the kernel with Gaussian increments (computed one step ahead and carried) gives the
    # same bits for any chunk size: every number is a function of (key, trajectory, step,
    # slot); two-point increments: tests/test_sharding.py
    noise = "gaussian"
    m = tq.one_axis_twisting(5, g=1.0, Gamma=0.3, Gamma_phi=0.2)
    save = tq.SaveAt(np.linspace(0.0, 0.8, 5))  # windows across several saving blocks
    out = []
    for chunk in (48, 16):
        with jax.numpy_dtype_promotion("standard"):  # the initial sampling mixes complex
            sol = _solve(m, save, noise, chunk)
        out.append((np.asarray(sol["Sz"]), np.asarray(sol["Sx"])))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_array_equal(out[0][1], out[1][1])
    assert np.all(np.diff(out[0][0]) != 0)


def _solve(m, save, noise, chunk):
    return tq.solve(
        m,
        tq.spin_down(),
        save,
        tq.TWOQS(tq.EulerMaruyama(0.01, noise=noise)),
        n_traj=48,
        key=3,
        observables=("Sz", "Sx"),
        options=tq.Options(chunk_size=chunk, progress=False),
    )
