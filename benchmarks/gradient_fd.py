"""Central finite differences with common random numbers: variance and bias (issue 19).

Every trajectory is run at ``p`` and at ``p +- h`` for several ``h`` (and ``+- 2h`` for
Richardson extrapolation) with the same key, so the same initial sample (the same conserved
spin lengths) and the same increments. For each ``h``: the estimate of the paired central
difference ``[<O>(p+h) - <O>(p-h)] / 2h``, its standard error (from the paired
per-trajectory differences), the per-trajectory variance, the standard error rescaled to
1e4 trajectories over |exact|, and the exact central-difference bias (from exact steady
states at ``p +- h``); the same for Richardson ``(4 D(h) - D(2h)) / 3``. Also the TWOQS value
bias of the observable at every point (TWOQS mean minus exact). Prints one JSON line.

LMG dimer (paper 000) S = 10, J = 0, lambda = 1, dZ_A/dlambda (exact +0.0621 from the
Liouvillian), spin down on A and up on B, dt = 0.01, every = 0.1, t_burn = 140:

    python benchmarks/gradient_fd.py --n-traj 1024 --t-avg 100 --key 3 --h 0.05 0.1

Driven spin S = 20, Omega = 1.5, d(<S_z>/S)/dOmega (exact +0.0331 from the closed form),
t_burn = 80:

    python benchmarks/gradient_fd.py --model driven --n-traj 1024 --t-avg 100 --key 3

``--honesty K``: instead, ``tq.gradient`` with ``tq.FiniteDifference(h)`` (the first ``--h``)
on K independent keys (100, 101, ...) of ``--n-traj`` trajectories each: the spread of the K
estimates over their reported standard errors (honest: ~1, sampling sd ~ 1/sqrt(2(K-1))),
chi^2 = sum z^2 around the pooled mean (K - 1 degrees of freedom) and the pooled estimate:

    python benchmarks/gradient_fd.py --honesty 8 --n-traj 128 --t-avg 100 --h 0.1
"""

import argparse
import json
import time

import jax
import numpy as np

LMG_EXACT = 0.0621256  # dZ_A/dlambda at lambda = 1 (tq.exact.derivative)
LMG_VALUES = {  # exact stationary Z_A of the LMG dimer S = 10, J = 0 (tq.solve with tq.Exact())
    0.6: -0.13735688,
    0.8: -0.04964633,
    0.9: -0.03720464,
    0.95: -0.03296147,
    1.0: -0.02952813,
    1.05: -0.02669168,
    1.1: -0.02430826,
    1.2: -0.02052554,
    1.4: -0.01541344,
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("lmg", "driven"), default="lmg")
    parser.add_argument("--n-traj", type=int, default=1024)
    parser.add_argument("--chunk", type=int, default=256)
    parser.add_argument("--t-avg", type=float, default=100.0)
    parser.add_argument("--t-burn", type=float, default=None)
    parser.add_argument("--key", type=int, default=3)
    parser.add_argument("--h", type=float, nargs="+", default=[0.1])
    parser.add_argument("--recompute-exact", action="store_true")
    parser.add_argument("--honesty", type=int, default=0)
    args = parser.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    import twoqs_jax as tq
    from twoqs_jax._finite_difference import compiled_points
    from twoqs_jax._gradient import _flat_params, _Run
    from twoqs_jax._keys import resolve_key
    from twoqs_jax._observables import PRIMITIVES, resolve
    from twoqs_jax._twoqs import resolve_dtype

    if args.model == "lmg":
        S, p0, t_burn = 10, 1.0, 140.0

        def make(lam):
            return tq.lmg_dimer(S, 0.0, lam)

        state = tq.SpinCoherentState(theta=np.array([np.pi, 0.0]), phi=np.zeros(2))
    else:
        S, p0, t_burn = 20, 1.5, 80.0

        def make(om):
            return tq.driven_spin(S, om)

        state = tq.spin_down()
    t_burn = args.t_burn if args.t_burn is not None else t_burn
    hs = sorted(args.h)
    shifts = sorted({s * h for h in hs for s in (1, 2)})
    points = [0.0] + [x for s in shifts for x in (s, -s)]

    def exact_value(p):
        if args.model == "driven":
            return tq.exact.driven_spin_steady_state(S, p)["Sz"] / S
        if round(p, 10) in LMG_VALUES and not args.recompute_exact:
            return LMG_VALUES[round(p, 10)]
        sol = tq.solve(make(p), state, tq.SteadyState(), tq.Exact(), observables=("Sz",))
        return float(np.asarray(sol.mean["Sz"])[0]) / S

    t0 = time.perf_counter()
    exact_vals = {p: exact_value(p0 + p) for p in points}
    if args.model == "lmg":
        exact = LMG_EXACT
    else:
        exact = tq.exact.driven_spin_steady_state_derivative(S, p0)["Omega"]["Sz"] / S
    t_exact = time.perf_counter() - t0

    if args.honesty:
        return honesty(tq, args, make, state, p0, t_burn, exact, S)
    N, chunk = args.n_traj, min(args.chunk, args.n_traj)
    _, vec, _, leaves, treedef = _flat_params(p0)
    window = tq.SteadyState(t_burn=t_burn, t_avg=args.t_avg, every=0.1)
    method = tq.TWOQS(tq.EulerMaruyama(dt=0.01))
    run = _Run(make, vec, leaves, treedef, state, window, method, resolve_dtype(None), make(p0))
    cfg = run.config(resolve(("Sz", "spin_drift"), len(state.theta), "twoqs", PRIMITIVES), N, chunk)
    fn = compiled_points(cfg, make, treedef, ((),))
    pts = jnp.asarray(p0 + np.array(points), float)[:, None]
    key = resolve_key(args.key)
    t0 = time.perf_counter()
    zs, lengths = [], []
    for c in range(-(-N // chunk)):
        idx = jnp.asarray(c * chunk + np.arange(chunk), jnp.int32)
        vals, _ = jax.device_get(fn(pts, run.theta, run.phi, key, idx))
        zs.append(np.asarray(vals["Sz"], float)[:, :, 0] / S)  # (chunk, K) Z of site 0
        lengths.append(np.asarray(vals["spin_drift"], float)[:, 0])
    wall = time.perf_counter() - t0
    z = np.concatenate(zs)[:N]
    x = np.concatenate(lengths)[:N]
    col = {p: z[:, i] for i, p in enumerate(points)}

    def summary(d, bias):
        sem = float(d.std(ddof=1) / np.sqrt(N))
        return {
            "grad": float(d.mean()),
            "sem": sem,
            "var": float(d.var(ddof=1)),
            "sem_at_1e4_over_exact": sem * np.sqrt(N / 1e4) / abs(exact),
            "exact_bias": bias,
            "z": (float(d.mean()) - exact) / sem,
        }

    def central(h):
        return (col[h] - col[-h]) / (2 * h)

    def exact_central(h):
        return (exact_vals[h] - exact_vals[-h]) / (2 * h) - exact

    out = {
        "model": args.model,
        "S": S,
        "p": p0,
        "n_traj": N,
        "t_burn": t_burn,
        "t_avg": args.t_avg,
        "key": args.key,
        "exact": exact,
        "n_points": len(points),
        "wall_s": wall,
        "wall_exact_s": t_exact,
    }
    means = z.mean(0)
    out["value_bias"] = {
        f"{p:+g}": [float(means[i] - exact_vals[p]), float(z[:, i].std(ddof=1) / np.sqrt(N))]
        for i, p in enumerate(points)
    }
    m = z[:, 0]
    X = x - x.mean(0)
    resid = m - m.mean() - X @ np.linalg.lstsq(X, m - m.mean(), rcond=None)[0]
    out["window_mean_var"] = float(m.var(ddof=1))
    out["r2_lengths"] = float(1 - resid.var() / m.var())
    half = N // 2
    for h in shifts:
        d = central(h)
        out[f"h={h:g}"] = summary(d, exact_central(h))
        # without common random numbers: the +h and -h runs of two different halves of the
        # trajectories (the variance of an unpaired difference), for comparison
        var_unpaired = np.var(col[h][:half], ddof=1) + np.var(col[-h][half:], ddof=1)
        out[f"h={h:g}"]["var_unpaired"] = float(var_unpaired / (4 * h * h))
    for h in hs:
        dr = (4 * central(h) - central(2 * h)) / 3
        out[f"h={h:g} richardson"] = summary(dr, (4 * exact_central(h) - exact_central(2 * h)) / 3)
    print(json.dumps(out))


def honesty(tq, args, make, state, p0, t_burn, exact, S):
    """K keys through tq.gradient: spread of the estimates over their standard errors."""
    window = tq.SteadyState(t_burn=t_burn, t_avg=args.t_avg, every=0.1)
    method = tq.TWOQS(tq.EulerMaruyama(dt=0.01))
    est = tq.FiniteDifference(h=args.h[0])
    ds, es = [], []
    t0 = time.perf_counter()
    for key in range(100, 100 + args.honesty):
        g = tq.gradient(make, p0, state, window, method, n_traj=args.n_traj, key=key,
                        observables=("Sz",), estimator=est)  # fmt: skip
        ds.append(float(np.ravel(g.grad["Sz"])[0]) / S)
        es.append(float(np.ravel(g.grad_sem["Sz"])[0]) / S)
    ds, es = np.array(ds), np.array(es)
    w = 1 / es**2
    pooled, pooled_sem = float(np.sum(w * ds) / np.sum(w)), float(1 / np.sqrt(np.sum(w)))
    out = {
        "model": args.model, "h": args.h[0], "keys": args.honesty, "n_traj": args.n_traj,
        "t_burn": t_burn, "t_avg": args.t_avg, "exact": exact,
        "spread_over_sem": float(np.std(ds, ddof=1) / np.sqrt(np.mean(es**2))),
        "chi2": float(np.sum(((ds - pooled) / es) ** 2)), "dof": args.honesty - 1,
        "pooled": pooled, "pooled_sem": pooled_sem,
        "estimates": ds.tolist(), "sems": es.tolist(), "wall_s": time.perf_counter() - t0,
    }  # fmt: skip
    print(json.dumps(out))


if __name__ == "__main__":
    main()
