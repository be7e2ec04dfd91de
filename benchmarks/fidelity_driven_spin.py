"""Errors of TWOQS on the driven spin against its closed-form steady state, one batch.

Run: ``python benchmarks/fidelity_driven_spin.py N_TRAJ DT T_BURN T_AVG [DIFFUSION] [KEY]``
(e.g. ``3000 0.05 800 500``; ``DIFFUSION``: ``tangential`` (default method) or ``paper``).
Omega = 1.5 Gamma at S = 5 .. 200 and Omega = 0.5, 1.0 Gamma at S = 10 .. 100, all in one
batch with one window (``t_burn``, ``t_avg``, sampled every ``10 dt``), Euler-Maruyama with
two-point increments, float64. Prints the errors of <S_y>/S, <S_z>/S (standard errors in
parentheses) and the relative error of Var(S_z) (docs/methods/fidelity.md, "Measured errors").
"""

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import twoqs_jax as tq


def main(argv):
    jax.config.update("jax_enable_x64", True)
    n, dt, burn, avg = int(argv[0]), float(argv[1]), float(argv[2]), float(argv[3])
    diffusion = argv[4] if len(argv) > 4 else None
    key = int(argv[5]) if len(argv) > 5 else 7
    pts = [(S, 1.5) for S in (5, 10, 20, 50, 100, 200)]
    pts += [(S, om) for om in (0.5, 1.0) for S in (10, 20, 50, 100)]
    batch = jax.tree.map(lambda *x: jnp.stack(x), *[tq.driven_spin(S, om) for S, om in pts])
    t = time.time()
    sol = tq.solve(
        batch,
        tq.spin_down(),
        tq.SteadyState(t_burn=burn, t_avg=avg, every=10 * dt),
        tq.TWOQS(tq.EulerMaruyama(dt), diffusion=diffusion),
        n_traj=n,
        key=key,
        observables=("Sz", "Sy", "varz"),
        options=tq.Options(progress=False),
    )
    print(f"wall {time.time() - t:.1f} s, diffusion {sol.stats['diffusion']}")
    for p, (S, om) in enumerate(pts):
        ex = tq.exact.driven_spin_steady_state(S, om)
        exv = ex["Sz2"] - ex["Sz"] ** 2

        def g(k, p=p):
            return float(np.ravel(sol[k][p])[0]), float(np.ravel(sol.error(k)[p])[0])

        (sy, ey), (sz, ez), (vz, evz) = g("Sy"), g("Sz"), g("varz")
        print(
            f"Omega {om} S {S:4d}: Sy/S {(sy - ex['Sy']) / S:+.4f}({ey / S:.4f}) "
            f"Sz/S {(sz - ex['Sz']) / S:+.4f}({ez / S:.4f}) "
            f"Var(Sz) rel {(vz - exv) / exv:+.3f}({evz / exv:.3f}) abs {vz - exv:+.2f}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
