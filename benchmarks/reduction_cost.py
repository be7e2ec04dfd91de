"""Paired micro-benchmark of the TWOQS statistics reduction alone.

Old (``jnp.sum`` over the chunk + ``segment_sum`` over 32 jackknife groups) against new (per
block of 64 trajectories, a fixed pairwise tree, :func:`twoqs_jax._sde.kernel._chunk_moments`),
float32, 65536 trajectories, 8 observables (3 grouped); minimum and median over 200
alternating calls. Run on one core::

    PYTHONPATH=. XLA_FLAGS=--xla_force_host_platform_device_count=1 \
        taskset -c 1 python benchmarks/reduction_cost.py
"""

import time

import jax
import jax.numpy as jnp
import numpy as np

from twoqs_jax._sde import kernel

N, NOBS, GROUPS = 65536, 8, 32


class Cfg:
    grouped = ("a0", "a1", "a2")
    n_groups = GROUPS
    traj_block = 64


def old(q, weight, groups):
    n_c = jnp.sum(weight)
    mean, m2, gsum = {}, {}, {}
    for name, v in q.items():
        w = weight.reshape((-1,) + (1,) * (v.ndim - 1)).astype(v.dtype)
        v = jnp.where(w > 0, v, jnp.zeros_like(v))
        mu = jnp.sum(v, axis=0) / n_c
        mean[name] = mu
        m2[name] = jnp.sum(jnp.where(w > 0, (v - mu) ** 2, 0), axis=0)
        if name in Cfg.grouped:
            gsum[name] = jax.ops.segment_sum(v, groups, num_segments=GROUPS)
    return mean, m2, gsum


def main():
    new = jax.jit(lambda q, w: kernel._chunk_moments(Cfg, q, w))
    oldj = jax.jit(old)
    key = jax.random.PRNGKey(0)
    q = {
        f"a{i}": jax.random.normal(jax.random.fold_in(key, i), (N,), jnp.float32)
        for i in range(NOBS)
    }
    w = jnp.ones(N, jnp.float32)
    g = jnp.arange(N) % GROUPS
    jax.block_until_ready(new(q, w))
    jax.block_until_ready(oldj(q, w, g))
    t_old, t_new = [], []
    for _ in range(200):
        t = time.perf_counter()
        jax.block_until_ready(oldj(q, w, g))
        t_old.append(time.perf_counter() - t)
        t = time.perf_counter()
        jax.block_until_ready(new(q, w))
        t_new.append(time.perf_counter() - t)
    print(
        f"{N} trajectories x {NOBS} observables: old min {min(t_old) * 1e6:.0f} us, median "
        f"{np.median(t_old) * 1e6:.0f} us; new min {min(t_new) * 1e6:.0f} us, median "
        f"{np.median(t_new) * 1e6:.0f} us; ratio of minima {min(t_new) / min(t_old):.2f}"
    )


if __name__ == "__main__":
    main()
