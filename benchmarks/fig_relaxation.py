"""Figure: relaxation of the driven spin above threshold, TWOQS vs exact (paper 003 Fig 4).

Run: ``OPENBLAS_NUM_THREADS=1 python benchmarks/fig_relaxation.py [--fresh-exact]``.
Writes ``benchmarks/results/fig_relaxation.{png,json}``.

Panels (a, b): ``<S_z>(t)/S`` of ``driven_spin(S, 1.5)`` from ``m = -S`` at S = 50 and 100,
t in [0, 300] / Gamma (saved every 0.5): exact (``tq.Exact``) against projected TWOQS
(``conserve_spin=True``, two-point noise, float32, dt = 0.02, 4000 trajectories) with paper
003's coherent sampling of the initial Fock state (Eq. 18) and with ``fock_sampling="fock"``;
bands are +-2 sem; dashed: exact steady state (``driven_spin_steady_state``).
Panel (c): the projected TWOQS steady state at S = 1000 (time average over
[t_burn, t_burn + 10]) against t_burn = 40 (paper 003 Fig 4), 200, 800, 2000, both samplings,
error bars 2 sem, against the exact value.

Runtime on the shared 2-core CPU (one core): about 1 min when the exact curves are reused;
the exact S = 100 evolution alone takes ~160 s, S = 50 ~20 s. The exact curves are stored in
the JSON and reused when its time grid matches (recomputed when missing, or with
``--fresh-exact``); ``--exact-only 50`` then ``--exact-only 100`` fills them in separate,
shorter runs.
"""

import argparse
import json
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)  # a script, not the library: float64 for the exact part

import jax.numpy as jnp  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from _shared import RESULTS, host, write_results  # noqa: E402

import twoqs_jax as tq  # noqa: E402

OMEGA = 1.5
S_TIME = (50, 100)
T_FINAL, T_STEP = 300.0, 0.5
S_BIG = 1000
T_BURNS = (40.0, 200.0, 800.0, 2000.0)
DT = 0.02
TWA = dict(observables=("Sz",), options=tq.Options(dtype="float32"))


def method(sampling):
    """Projected TWOQS (the spin-length constraint), two-point increments."""
    return tq.TWOQS(tq.EulerMaruyama(DT, noise="two_point"), sampling=sampling)


N_TRAJ = 4000
SAMPLINGS = ("coherent", "fock")


def exact_curves(times, cached, only=None):
    """``({S: <S_z>(t)/S}, block)`` from ``tq.Exact``; curves in ``cached`` computed on the
    same grid are reused, the others computed (only the S in ``only`` when given).
    """
    grid = dict(Omega=OMEGA, t_final=T_FINAL, t_step=T_STEP)
    block = dict(grid=grid, solver="solve_exact (qutip mesolve, vern7)", sz_over_S={}, wall_s={})
    if cached is not None and cached.get("grid") == grid:
        block["sz_over_S"].update(cached.get("sz_over_S", {}))
        block["wall_s"].update(cached.get("wall_s", {}))
    for S in S_TIME if only is None else only:
        if str(S) in block["sz_over_S"]:
            print(f"exact S = {S}: reusing the curve stored in the JSON")
            continue
        t0 = time.perf_counter()
        sol = tq.solve(
            tq.driven_spin(S, OMEGA), tq.spin_down(), tq.SaveAt(times), tq.Exact(), observables="Sz"
        )
        block["sz_over_S"][str(S)] = (np.asarray(sol["Sz"])[:, 0] / S).tolist()
        block["wall_s"][str(S)] = time.perf_counter() - t0
        print(f"exact S = {S}: {block['wall_s'][str(S)]:.1f} s ({sol.stats['solver']})", flush=True)
    return {int(k): np.asarray(v) for k, v in block["sz_over_S"].items()}, block


def envelope_time(times, x, floor):
    """E-folding time of the oscillation envelope: log-linear fit of the maxima of |x| over
    windows of 20 / Gamma from t = 20, keeping windows above ``floor``.
    """
    starts = np.arange(20.0, times[-1] - 19.9, 20.0)
    env = np.array([np.abs(x[(times >= a) & (times < a + 20)]).max() for a in starts])
    keep = env > floor
    if keep.sum() < 2:
        return None  # dephased within the first window
    slope = np.polyfit(starts[keep] + 10, np.log(env[keep]), 1)[0]
    return float(-1 / slope)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fresh-exact", action="store_true", help="recompute the exact curves")
    ap.add_argument(
        "--exact-only",
        type=int,
        nargs="+",
        metavar="S",
        help="only compute (or reuse) the exact curves of these S, store them, stop",
    )
    args = ap.parse_args()
    os.makedirs(RESULTS, exist_ok=True)
    path_json = os.path.join(RESULTS, "fig_relaxation.json")
    cached = None
    if not args.fresh_exact and os.path.exists(path_json):
        with open(path_json) as f:
            cached = json.load(f).get("exact")
    t_start = time.perf_counter()
    times = np.round(np.arange(0.0, T_FINAL + 1e-9, T_STEP), 10)
    ex, exact_block = exact_curves(times, cached, only=args.exact_only)
    if args.exact_only:
        with open(path_json, "w") as f:
            json.dump(
                dict(exact=exact_block, note="exact curves only; run without --exact-only"), f
            )
        print(f"stored the exact curves of S = {sorted(ex)} in {path_json}")
        return
    ss = {S: tq.exact.driven_spin_steady_state(S, OMEGA)["Sz"] / S for S in (*S_TIME, S_BIG)}

    # (a, b) time-resolved TWOQS, both S in one compiled call per sampling
    models = jax.tree.map(lambda *xs: jnp.stack(xs), *[tq.driven_spin(S, OMEGA) for S in S_TIME])
    twa, summary = {}, {}
    for k, fs in enumerate(SAMPLINGS):
        t0 = time.perf_counter()
        sol = tq.solve(
            models,
            tq.spin_down(),
            tq.SaveAt(times),
            method(fs),
            n_traj=N_TRAJ,
            key=10 + k,
            **TWA,
        )
        print(f"TWOQS {fs}: {time.perf_counter() - t0:.1f} s", flush=True)
        for i, S in enumerate(S_TIME):
            m = np.asarray(sol["Sz"])[i, :, 0] / S
            e = np.asarray(sol.sem["Sz"])[i, :, 0] / S
            twa[(fs, S)] = (m, e)
            dev = np.abs(m - ex[S])
            z = dev[1:] / e[1:]
            late = times >= 250
            floor = 4 * float(np.median(e))
            summary[f"{fs}_S{S}"] = dict(
                max_abs_dev_over_S=float(dev.max()),
                t_of_max_dev=float(times[dev.argmax()]),
                max_z=float(z.max()),
                rms_z=float(np.sqrt(np.mean(z**2))),
                max_abs_dev_over_S_t_gt_100=float(dev[times > 100].max()),
                median_sem_over_S=float(np.median(e)),
                late_mean_250_300=float(m[late].mean()),
                exact_late_mean_250_300=float(ex[S][late].mean()),
                exact_steady=float(ss[S]),
                envelope_efold_time_twa=envelope_time(times, m - ss[S], floor),
                envelope_efold_time_exact=envelope_time(times, ex[S] - ss[S], floor),
            )

    # (c) S = 1000 steady state against t_burn
    burn = {fs: [] for fs in SAMPLINGS}
    for k, fs in enumerate(SAMPLINGS):
        for j, tb in enumerate(T_BURNS):
            t0 = time.perf_counter()
            sol = tq.solve(
                tq.driven_spin(S_BIG, OMEGA),
                tq.spin_down(),
                tq.SteadyState(t_burn=tb, t_avg=10.0, every=25 * DT),
                method(fs),
                n_traj=N_TRAJ,
                key=100 + 10 * k + j,
                **TWA,
            )
            v, e = float(sol["Sz"][0]) / S_BIG, float(sol.sem["Sz"][0]) / S_BIG
            burn[fs].append(
                dict(
                    t_burn=tb,
                    sz_over_S=v,
                    sem_over_S=e,
                    dev_over_S=v - ss[S_BIG],
                    z=(v - ss[S_BIG]) / e,
                    wall_s=time.perf_counter() - t0,
                )
            )
            print(
                f"S = {S_BIG} {fs} t_burn = {tb:g}: {v:+.5f} +- {e:.5f} (exact {ss[S_BIG]:+.5f})",
                flush=True,
            )

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6), gridspec_kw=dict(width_ratios=[1.3, 1.3, 1]))
    colors = dict(coherent="tab:orange", fock="tab:blue")
    labels = dict(coherent="TWOQS, coherent sampling (paper Eq. 18)", fock='TWOQS, "fock" sampling')
    for ax, S in zip(axes[:2], S_TIME):
        for fs, z in (("fock", 1), ("coherent", 3)):  # exact (z = 2) between: both stay visible
            m, e = twa[(fs, S)]
            ax.plot(
                times,
                m,
                color=colors[fs],
                lw=0.8 if fs == "fock" else 0.6,
                label=labels[fs],
                zorder=z,
            )
            ax.fill_between(
                times, m - 2 * e, m + 2 * e, color=colors[fs], alpha=0.3, lw=0, zorder=z
            )
        ax.plot(times, ex[S], color="k", lw=0.5, label="exact (QuTiP)", zorder=2)
        ax.axhline(ss[S], color="k", ls="--", lw=1, label="exact steady state")
        ax.set_xlabel(r"time $t$ ($1/\Gamma$)")
        ax.set_ylabel(r"$\langle S_z\rangle / S$")
        ax.set_title(rf"S = {S}, $\Omega = {OMEGA}\,\Gamma$, from $m=-S$ (bands $\pm 2$ sem)")
        ax.set_xlim(0, T_FINAL)
        ax.set_ylim(-1.05, 1.05)
    axes[0].legend(loc="upper right", fontsize=8)
    ax = axes[2]
    for k, fs in enumerate(SAMPLINGS):
        tb = np.array([r["t_burn"] for r in burn[fs]]) * (1 + 0.04 * (k - 0.5))
        v = np.array([r["sz_over_S"] for r in burn[fs]])
        e = np.array([r["sem_over_S"] for r in burn[fs]])
        ax.errorbar(tb, v, yerr=2 * e, fmt="o", color=colors[fs], ms=5, capsize=3, label=labels[fs])
    ax.axhline(ss[S_BIG], color="k", ls="--", lw=1, label="exact steady state")
    ax.set_xscale("log")
    ax.set_xlabel(r"burn-in time $t_\mathrm{burn}$ ($1/\Gamma$)")
    ax.set_ylabel(r"$\langle S_z\rangle / S$, average over $[t_\mathrm{burn}, t_\mathrm{burn}+10]$")
    ax.set_title(rf"S = {S_BIG}, $\Omega = {OMEGA}\,\Gamma$ (error bars 2 sem)")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    path_png = os.path.join(RESULTS, "fig_relaxation.png")
    fig.savefig(path_png, dpi=130)

    wall = time.perf_counter() - t_start
    out = dict(
        machine=dict(
            **host(),
            device=str(jax.devices()[0]),
            jax=jax.__version__,
        ),
        settings=dict(
            Omega=OMEGA,
            Gamma=1.0,
            initial="spin_down",
            n_traj=N_TRAJ,
            t_avg=10.0,
            every=25 * DT,
            dt=DT,
            constraint="spin_length",
            dtype="float32",
            noise="two_point",
        ),
        wall_s=wall,
        exact=exact_block,
        time_resolved=dict(
            times=times.tolist(),
            twa={
                f"{fs}_S{S}": dict(sz_over_S=m.tolist(), sem_over_S=e.tolist())
                for (fs, S), (m, e) in twa.items()
            },
            summary=summary,
        ),
        steady_state_s1000=dict(exact=ss[S_BIG], by_t_burn=burn),
    )
    write_results(os.path.join(RESULTS, "fig_relaxation"), out)
    print(json.dumps(summary, indent=1))
    print(f"wrote {path_png} and {path_json} in {wall:.0f} s")


if __name__ == "__main__":
    main()
