"""Gradient estimators on the driven spin above threshold (issue 19's table row).

d(<S_z>/S)/dOmega at S = 20, Omega = 1.5 (exact +0.0331450 from the closed form) with the
tapered likelihood ratio and the pathwise estimator on the same key, steady state
t_burn = 80, t_avg = 100, every = 0.1, dt = 0.01, float64. Prints one JSON line with the
estimates, their standard errors, the standard error rescaled to 1e4 trajectories, the
tail test and the wall time (compilation included).

    python benchmarks/gradient_estimators.py --n-traj 2048 --key 1

Other rows of the Measurements table: ``--S``, ``--omega``, ``--t-burn``, ``--t-avg`` and
``--memory M0 WIDTH`` (the likelihood ratio's triangular memory; ``--memory auto``: the
package's rule from a 256-trajectory pilot), e.g. below threshold and at S = 50:

    python benchmarks/gradient_estimators.py --omega 0.5 --t-burn 20 --t-avg 40 --memory auto
    python benchmarks/gradient_estimators.py --S 50 --t-burn 200 --t-avg 100 --memory 86 11.5

``--estimators likelihood_ratio`` runs one of the two.

``--honesty K``: instead, the tapered likelihood ratio at S = 10, Omega = 1.5 (t_burn =
t_avg = 50, memory (15, 11.5)) on K independent keys (100, 101, ...) of ``--n-traj``
trajectories each: the spread of the K estimates over their reported standard errors
(honest: ~1, sampling sd ~ 1/sqrt(2(K-1))) and the pooled estimate against exact.

    python benchmarks/gradient_estimators.py --honesty 12 --n-traj 256
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
    parser.add_argument("--t-burn", type=float, default=80.0)
    parser.add_argument("--t-avg", type=float, default=100.0)
    parser.add_argument("--memory", nargs="+", default=["30", "11.5"])
    parser.add_argument("--estimators", default="likelihood_ratio,pathwise")
    parser.add_argument("--honesty", type=int, default=0)
    args = parser.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    import twoqs_jax as tq

    if args.honesty:
        return honesty(tq, args.honesty, args.n_traj)

    S, om, N = args.S, args.omega, args.n_traj

    def make(o):
        return tq.driven_spin(S, o)

    exact = tq.exact.driven_spin_steady_state_derivative(S, om)["Omega"]["Sz"] / S
    method = tq.TWOQS(tq.EulerMaruyama(dt=0.01))
    window = tq.SteadyState(t_burn=args.t_burn, t_avg=args.t_avg, every=0.1)
    memory = "auto" if args.memory == ["auto"] else tuple(float(m) for m in args.memory)
    out = {"S": S, "Omega": om, "n_traj": N, "key": args.key, "exact": exact}
    out.update(t_burn=args.t_burn, t_avg=args.t_avg)
    estimators = {
        "likelihood_ratio": tq.LikelihoodRatio(memory=memory),
        "pathwise": tq.Pathwise(),
    }
    for name in args.estimators.split(","):
        est = estimators[name]
        t0 = time.perf_counter()
        g = tq.gradient(
            make, om, tq.spin_down(), window, method, n_traj=N, key=args.key,
            observables=("Sz",), estimator=est, options=tq.Options(chunk_size=512),
        )  # fmt: skip
        d, e = float(g.grad["Sz"][0]) / S, float(g.grad_sem["Sz"][0]) / S
        tail = g.stats.get("tail_test", {}).get("Sz")
        out[name] = {
            "memory": g.stats.get("memory"),
            "grad": d,
            "sem": e,
            "sem_at_1e4_over_exact": e * np.sqrt(N / 1e4) / abs(exact),
            "tail_test": None if tail is None else [float(np.ravel(x)[0]) / S for x in tail],
            "wall_s": time.perf_counter() - t0,
        }
    print(json.dumps(out))


def honesty(tq, n_keys, n_traj):
    """Repeated keys of the tapered likelihood ratio (module docstring)."""
    S, om = 10, 1.5

    def make(o):
        return tq.driven_spin(S, o)

    exact = tq.exact.driven_spin_steady_state_derivative(S, om)["Omega"]["Sz"]
    method = tq.TWOQS(tq.EulerMaruyama(dt=0.01))
    window = tq.SteadyState(t_burn=50.0, t_avg=50.0, every=0.1)
    est, sem = [], []
    t0 = time.perf_counter()
    for k in range(n_keys):
        g = tq.gradient(
            make, om, tq.spin_down(), window, method, n_traj=n_traj, key=100 + k,
            estimator=tq.LikelihoodRatio((15.0, 11.5)),
        )  # fmt: skip
        est.append(float(g.grad["Sz"][0]))
        sem.append(float(g.grad_sem["Sz"][0]))
    est, sem = np.array(est), np.array(sem)
    out = {
        "exact": exact,
        "spread_over_sem": float(est.std(ddof=1) / np.sqrt(np.mean(sem**2))),
        "pooled": float(est.mean()),
        "pooled_sem": float(np.sqrt(np.mean(sem**2) / n_keys)),
        "keys": n_keys,
        "n_traj": n_traj,
        "wall_s": time.perf_counter() - t0,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
