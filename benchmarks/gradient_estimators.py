"""Gradient estimators on the driven spin above threshold (issue 19's table row).

d(<S_z>/S)/dOmega at S = 20, Omega = 1.5 (exact +0.0331450 from the closed form) with the
tapered likelihood ratio and the pathwise estimator on the same key, steady state
t_burn = 80, t_avg = 100, every = 0.1, dt = 0.01, float64. Prints one JSON line with the
estimates, their standard errors, the standard error rescaled to 1e4 trajectories, the
tail test and the wall time (compilation included).

    python benchmarks/gradient_estimators.py --n-traj 2048 --key 1
"""

import argparse
import json
import time

import jax
import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-traj", type=int, default=2048)
    parser.add_argument("--key", type=int, default=1)
    parser.add_argument("--S", type=float, default=20)
    parser.add_argument("--omega", type=float, default=1.5)
    args = parser.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    import twoqs_jax as tq

    S, om, N = args.S, args.omega, args.n_traj

    def make(o):
        return tq.driven_spin(S, o)

    exact = tq.exact.driven_spin_steady_state_derivative(S, om)["Omega"]["Sz"] / S
    method = tq.TWOQS(tq.EulerMaruyama(dt=0.01))
    window = tq.SteadyState(t_burn=80.0, t_avg=100.0, every=0.1)
    out = {"S": S, "Omega": om, "n_traj": N, "key": args.key, "exact": exact}
    estimators = {
        "likelihood_ratio": tq.LikelihoodRatio(memory=(30.0, 11.5)),
        "pathwise": tq.Pathwise(),
    }
    for name, est in estimators.items():
        t0 = time.perf_counter()
        g = tq.gradient(
            make, om, tq.spin_down(), window, method, n_traj=N, key=args.key,
            observables=("Sz",), estimator=est, options=tq.Options(chunk_size=512),
        )  # fmt: skip
        d, e = float(g.grad["Sz"][0]) / S, float(g.grad_sem["Sz"][0]) / S
        tail = g.stats.get("tail_test", {}).get("Sz")
        out[name] = {
            "grad": d,
            "sem": e,
            "sem_at_1e4_over_exact": e * np.sqrt(N / 1e4) / abs(exact),
            "tail_test": None if tail is None else [float(np.ravel(x)[0]) / S for x in tail],
            "wall_s": time.perf_counter() - t0,
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
