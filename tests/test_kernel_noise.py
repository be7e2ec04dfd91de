"""The kernel's noise material: block increments have the moments of Wiener increments.

Gaussian: N(0, dt). Two-point: +-sqrt(dt) from one bit of a per-block word per step. Both
must be independent across steps, noise rows, sites and trajectories (each trajectory and
block has its own key), and rows a model does not drive must be absent (zeros here).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import twoqs_jax as tq
from twoqs_jax._sde.kernel import KernelConfig, block_increments, noise_layout

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


@pytest.mark.parametrize("noise", ["gaussian", "two_point"])
def test_block_increments_are_independent_wiener_increments(noise):
    cfg, n, n_keys = _cfg(noise), 3, 2000
    nb, m = noise_layout(cfg, n)
    assert (nb, m) == ((32, 1) if noise == "two_point" else (64, 1))
    keys = jax.random.split(jax.random.key(11), n_keys)
    x = jax.vmap(lambda k: block_increments(cfg, k, nb, n, jnp.float64))(keys)
    x = np.asarray(x) / np.sqrt(cfg.dt)  # (keys, nb, 5, n), unit variance expected
    assert x.shape == (n_keys, nb, 5, n)
    flat = x.reshape(n_keys, -1)
    m = flat.size
    assert abs(flat.mean()) < Z / np.sqrt(m)
    assert abs((flat**2).mean() - 1) < Z * np.sqrt(2.0 / m) + (0 if noise == "gaussian" else 1e-12)
    if noise == "two_point":
        np.testing.assert_allclose(np.abs(flat), 1.0)
    else:  # Gaussian kurtosis 3 (two-point: 1, it only matches the first three moments)
        assert abs((flat**4).mean() - 3) < Z * np.sqrt(96.0 / m)
    # no correlation between neighbouring numbers of one key (steps, rows, sites), nor
    # between the same position under two keys
    for a, b in (
        (x[:, :-1], x[:, 1:]),
        (x[:, :, :-1], x[:, :, 1:]),
        (x[..., :-1], x[..., 1:]),
        (x[:-1], x[1:]),
    ):
        c = (a * b).mean()
        assert abs(c) < Z / np.sqrt(a.size), c


def test_rows_a_model_does_not_drive_are_zero():
    n = 2
    for jumps, deph, live in ((True, False, [0, 1, 2, 3]), (False, True, [4])):
        for noise in ("gaussian", "two_point"):
            cfg = _cfg(noise, jumps, deph, block=8)
            x = np.asarray(block_increments(cfg, jax.random.key(0), 8, n, jnp.float64))
            dead = [r for r in range(5) if r not in live]
            assert np.all(x[:, dead] == 0)
            assert np.all(x[:, live] != 0)


def test_noise_windows_cut_long_blocks_and_group_short_ones():
    # long blocks are cut into windows (largest divisor that fits), short ones grouped
    assert noise_layout(_cfg("two_point", block=100, n_blocks=7), 1) == (25, 1)
    assert noise_layout(_cfg("two_point", block=1, n_blocks=1500), 1) == (30, 30)
    assert noise_layout(_cfg("two_point", block=5, n_blocks=300), 1) == (30, 6)
    assert noise_layout(_cfg("two_point", block=7, n_blocks=13), 1) == (7, 1)  # 13 is prime
    assert noise_layout(_cfg("gaussian", block=1, n_blocks=1500), 1) == (60, 60)
    # Gaussian windows also respect the memory cap of NOISE_NUMBERS numbers per trajectory
    length, m = noise_layout(_cfg("gaussian", block=1, n_blocks=1000), 100)
    assert length * 5 * 100 <= 1024 and (length, m) == (2, 2)
