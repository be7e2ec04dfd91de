"""Variance of the LMG dimer's stationary derivative with and without the spin-length
control variate (paired: the same trajectories, so the ratio is measured without noise
from different runs).

LMG dimer S = 10, J = 0, lambda = 1 (paper 000; exact dZ_A/dlambda = +0.0621), spin down on
A and up on B, dt = 0.01, the tapered likelihood ratio with the rule's memory
(m0, width) = (52.8, 26.4), t_burn = 140. Prints one JSON line: both estimates, their
variances per trajectory, the ratio (the gain in variance per unit cost: the control variate
is a post-processing of the same run) and the R^2 of the window means on the lengths.

    python benchmarks/lmg_control_variate.py --n-traj 512 --t-avg 100 --key 3
"""

import argparse
import json
import time

import jax
import numpy as np

EXACT = 0.0621


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-traj", type=int, default=512)
    parser.add_argument("--t-avg", type=float, default=100.0)
    parser.add_argument("--key", type=int, default=3)
    args = parser.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    import twoqs_jax as tq
    from twoqs_jax._estimators import length_control, lr_tapered
    from twoqs_jax._gradient import _cached, _flat_params, _memory_blocks, _Run
    from twoqs_jax._keys import resolve_key
    from twoqs_jax._observables import PRIMITIVES, resolve
    from twoqs_jax._score import compiled_lr
    from twoqs_jax._twoqs import resolve_dtype

    S, N, memory = 10, args.n_traj, (52.8, 26.4)

    def make(lam):
        return tq.lmg_dimer(S, 0.0, lam)

    state = tq.SpinCoherentState(theta=np.array([np.pi, 0.0]), phi=np.zeros(2))
    _, vec, _, leaves, treedef = _flat_params(1.0)
    window = tq.SteadyState(t_burn=140.0, t_avg=args.t_avg, every=0.1)
    method = tq.TWOQS(tq.EulerMaruyama(dt=0.01))
    run = _Run(make, vec, leaves, treedef, state, window, method, resolve_dtype(None), make(1.0))
    cfg = run.config(resolve(("Sz", "spin_drift"), 2, "twoqs", PRIMITIVES), N, N)
    fn = _cached(compiled_lr, (cfg, make, treedef, ((),), run._record(cfg, memory)))
    t0 = time.perf_counter()
    vals, Ws, _ = jax.device_get(
        fn(run.vec, run.theta, run.phi, resolve_key(args.key), jnp.arange(N, dtype=jnp.int32))
    )
    wall = time.perf_counter() - t0
    f = np.asarray(vals["Sz"], float)[:, 1:, 0] / S  # Z_A at the recorded samples
    lengths = np.asarray(vals["spin_drift"], float)[:, 1]
    W = np.asarray(Ws, float)[:, 1:]
    m0, width, n_skip, _ = _memory_blocks(run, cfg, memory)
    plain = lr_tapered(f, W, n_skip, m0, width)[:, 0]
    cv = lr_tapered(length_control(f, lengths, n_skip), W, n_skip, m0, width)[:, 0]
    means = f[:, n_skip:].mean(1)
    X = lengths - lengths.mean(0)
    resid = means - means.mean() - X @ np.linalg.lstsq(X, means - means.mean(), rcond=None)[0]
    out = {"n_traj": N, "t_avg": args.t_avg, "key": args.key, "exact": EXACT, "wall_s": wall}
    out["r2_lengths"] = float(1 - resid.var() / means.var())
    for name, x in (("plain", plain), ("control_variate", cv)):
        sem = float(x.std(ddof=1) / np.sqrt(N))
        out[name] = {
            "grad": float(x.mean()),
            "sem": sem,
            "var": float(x.var(ddof=1)),
            "sem_at_1e4_over_exact": sem * np.sqrt(N / 1e4) / EXACT,
        }
    out["variance_ratio"] = out["control_variate"]["var"] / out["plain"]["var"]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
