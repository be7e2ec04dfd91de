"""The driven spin's threshold window: TWOQS errors against the closed form near Omega = Gamma.

``tq.driven_spin(S, Omega)`` (``H = Omega S_x``, collective decay ``kappa = Gamma / S``,
``Gamma = 1``), steady state from ``m = -S``, default method (``tq.TWOQS``: Fock sampling,
projection, tangential noise), Euler-Maruyama with two-point increments at ``dt = 0.02`` (the
error map's driven regimes), float64. For a grid of ``Omega / Gamma`` around 1 and of ``S``,
the errors of ``<S_y>/S``, ``<S_z>/S`` (absolute, over ``S``) and of ``Var(S_y)``,
``Var(S_z)`` (relative to exact) with their standard errors, against
``tq.exact.driven_spin_steady_state`` and :func:`exact_moments` (which adds ``Var(S_y)``).

All ``Omega`` of one ``S`` run as one batch of models (one compilation per ``S``) over one
window: burn-in ``20 + 3 S`` and average over ``20 + 2 S`` (sampled every 0.2): the map's
threshold window (``20 + 2 S`` each) lengthened to cover ``Omega = 1.25`` (the map's
above-threshold regime burns ``4 S`` at ``Omega = 1.5``, where the orbits are slower to
spread). Each result carries the run's ``window_drift`` (``not_relaxed`` flag).

The scaled variable is ``s = (Omega / Gamma - 1) S^(2/3)`` (the exponent 2/3 is derived in
``docs/methods/fidelity.md``, "The threshold window"); the figure plots every error against
``Omega`` and against ``s``, and the exact ``S^(1/3) <S_z>/S`` and purity against ``s`` up to
``S = 25600`` (closed form only).

Usage::

    python benchmarks/threshold_window.py            # the committed table (~15 min, 1 core)
    python benchmarks/threshold_window.py --quick    # S = 25, 50, 300 trajectories
    python benchmarks/threshold_window.py --report-only

Outputs ``benchmarks/results/threshold_window{,_quick}.{json,md,png}``.
"""

import argparse
import json
import math
import os
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # _shared, when loaded by path
from _shared import RESULTS, machine_line, write_results  # noqa: E402

import twoqs_jax as tq  # noqa: E402
from twoqs_jax._sde.rng import STREAMS  # noqa: E402

OMEGAS = (0.8, 0.9, 0.95, 0.98, 1.0, 1.02, 1.05, 1.1, 1.25)
S_GRID = (-3.0, -2.0, -1.5, -1.0, -0.5, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)  # s = 0 is Omega = 1
S_LIST = (25, 50, 100, 200, 400, 800, 1600)
DT = 0.02
NU = 2.0 / 3.0
OBS = ("Sy", "Sz", "vary", "varz")


def window(S):
    """``(t_burn, t_avg)`` of the steady-state window at spin length ``S``."""
    return 20.0 + 3.0 * S, 20.0 + 2.0 * S


def scaled(Omega, S, Gamma=1.0):
    """The scaled distance from threshold ``s = (Omega / Gamma - 1) S^(2/3)``."""
    return (Omega / Gamma - 1.0) * S**NU


def exact_moments(S, Omega, Gamma=1.0):
    """Exact steady state of the driven spin: ``Sy``, ``Sz``, ``vary``, ``varz``, ``purity``.

    ``Sy``, ``Sz``, ``Sz2`` and the purity are those of ``tq.exact.driven_spin_steady_state``.
    ``<S_y^2> = (S(S+1) - <S_z^2> - <S^+^2>) / 2`` with the closed form's
    ``rho_{a,a+2} = (g^*)^{-2} c_a c_{a+1} w_{a+2} / sum w`` (``g = i Omega / kappa``,
    ``c_a^2 = S(S+1) - m_a(m_a+1)``, ``w`` the recursion of the closed form), so
    ``<S^+^2> = -(kappa / Omega)^2 sum_a c_a^2 c_{a+1}^2 w_{a+2} / sum w`` is real and
    negative. The recursion runs in logarithms, as in the library.
    """
    r = tq.exact.driven_spin_steady_state(S, Omega, Gamma)
    D = int(round(2 * S)) + 1
    kappa = Gamma / S
    m = -S + np.arange(D)
    c2 = S * (S + 1) - m[:-1] * (m[:-1] + 1)
    t = np.log(c2) - 2 * math.log(abs(Omega) / kappa)
    log_w = np.zeros(D)
    for b in range(D - 2, -1, -1):
        log_w[b] = np.logaddexp(0.0, t[b] + log_w[b + 1])
    log_z = np.logaddexp.reduce(log_w)
    spp = 0.0
    if D >= 3:
        terms = np.log(c2[:-1]) + np.log(c2[1:]) + log_w[2:] - log_z
        spp = -((kappa / Omega) ** 2) * float(np.exp(np.logaddexp.reduce(terms)))
    sy2 = 0.5 * (S * (S + 1) - r["Sz2"] - spp)
    return {
        "Sy": r["Sy"],
        "Sz": r["Sz"],
        "vary": sy2 - r["Sy"] ** 2,
        "varz": r["Sz2"] - r["Sz"] ** 2,
        "purity": r["purity"],
    }


def run_S(S, omegas, n_traj, key, dt=DT, method=None):
    """TWOQS at one ``S`` for every ``Omega`` (one batch): ``{obs: (mean, sem)}`` per Omega.

    ``method`` defaults to ``tq.TWOQS(tq.EulerMaruyama(dt))``.
    """
    batch = jax.tree.map(lambda *x: jnp.stack(x), *[tq.driven_spin(S, om) for om in omegas])
    t_burn, t_avg = window(S)
    sol = tq.solve(
        batch,
        tq.spin_down(),
        tq.SteadyState(t_burn=t_burn, t_avg=t_avg, every=0.2),
        tq.TWOQS(tq.EulerMaruyama(dt)) if method is None else method,
        n_traj=n_traj,
        key=key,
        observables=OBS,
        options=tq.Options(progress=False),
    )
    out = []
    for p in range(len(omegas)):
        out.append(
            {k: (float(np.ravel(sol[k][p])[0]), float(np.ravel(sol.error(k)[p])[0])) for k in OBS}
        )
    return out, dict(sol.stats)


def errors(S, Omega, twoqs):
    """Signed errors and sems: first moments over ``S``, variances relative to exact."""
    ex = exact_moments(S, Omega)
    out = {}
    for k in OBS:
        v, e = twoqs[k]
        scale = S if k in ("Sy", "Sz") else ex[k]
        out[k] = dict(error=(v - ex[k]) / scale, sem=e / scale, exact=ex[k], twoqs=v)
    return out, ex


def identity_residual(e):
    """``(<S_y> - kappa (S(S+1) - <S_z^2> + <S_z>) / Omega) / S`` of TWOQS's own moments.

    Zero for the exact steady state (the stationary equation of ``<S_z>``); for TWOQS, whose
    drift is exact, it is zero up to the dropped vacuum diffusion (``O(kappa)``) and the
    step: the first moments' errors follow from the error of ``<S_z^2>``.
    """
    S, om = e["S"], e["Omega"]
    r = e["errors"]
    sz, sy = r["Sz"]["twoqs"], r["Sy"]["twoqs"]
    sz2 = r["varz"]["twoqs"] + sz**2
    return (sy - (S * (S + 1) - sz2 + sz) / (om * S)) / S


def models_of(S):
    """``[(Omega, on_Omega_grid, on_s_grid)]`` at spin length ``S``: both grids, sorted."""
    out = {om: [True, om == 1.0] for om in OMEGAS}
    for s in S_GRID:
        out.setdefault(1.0 + s * S**-NU, [False, False])[1] = True
    return sorted((om, a, b) for om, (a, b) in out.items())


def run(S_list, n_traj, key, stem):
    doc = dict(
        machine=machine_line(),
        command="python " + " ".join(sys.argv),
        n_traj=n_traj,
        key=key,
        dt=DT,
        window="burn 20 + 3 S, average 20 + 2 S, every 0.2",
        streams=STREAMS,
        entries=[],
    )
    if os.path.exists(stem + ".json"):  # resume: keep finished S of the same setting
        with open(stem + ".json") as f:
            old = json.load(f)
        setting = (old.get("n_traj"), old.get("key"), old.get("dt"), old.get("streams"))
        if setting == (n_traj, key, DT, STREAMS):
            doc["entries"] = old["entries"]
    done = {e["S"] for e in doc["entries"]}
    for S in S_list:
        if S in done:
            continue
        grid = models_of(S)
        omegas = [g[0] for g in grid]
        t0 = time.process_time()
        res, stats = run_S(S, omegas, n_traj, jax.random.PRNGKey(key + S))
        cpu = time.process_time() - t0
        drift = float(np.nanmax(np.abs(np.asarray(stats.get("window_drift", np.nan), float))))
        for p, (om, on_omega, on_s) in enumerate(grid):
            errs, ex = errors(S, om, res[p])
            doc["entries"].append(
                dict(
                    S=S,
                    Omega=om,
                    s=scaled(om, S),
                    on_Omega_grid=on_omega,
                    on_s_grid=on_s,
                    purity=ex["purity"],
                    errors=errs,
                    window_drift=drift,
                    cpu_s=round(cpu, 1),
                )
            )
            print(
                f"S={S:4d} Omega={om:6.4f} s={scaled(om, S):+6.2f} "
                + " ".join(f"{k} {v['error']:+.4f}({v['sem']:.4f})" for k, v in errs.items()),
                flush=True,
            )
        print(f"S={S}: {cpu:.0f} s CPU, window_drift {drift:.1f}", flush=True)
        write_results(stem, doc)
    return doc


def scaling_functions(sigma, L=40.0, n_u=1601, n_t=2000):
    """The large-``S`` limit of the exact steady state in the window, at ``sigma``.

    With ``x = m/S = S^(-1/3) u`` and ``Omega^2/Gamma^2 = 1 + sigma S^(-2/3)`` the closed
    form's recursions become (``docs/methods/fidelity.md``, "The threshold window")::

        w_b -> S^(2/3) W(u),  W(u) = int_0^inf exp(-(u^2 + sigma) t - u t^2 - t^3/3) dt,
        u_b -> S^(2/3) U(u),  U(u) = int_0^inf exp(-(u^2 + sigma) t + u t^2 - t^3/3) dt,

    so ``P(m) -> S^(-2/3) W(u) / Z``, ``Z = int W du``. Returns ``M = int u W / Z`` (the limit
    of ``S^(1/3) <S_z>/S``), the purity ``2 int W^2 U du / Z^2``, and ``2/Z``, the limit of
    ``S^(1/3) Var(S_z)/S^2`` (the tails ``W ~ 1/u^2`` carry weight ``S^(-1/3)`` out to
    ``|x| ~ 1``). Trapezoid rules on ``|u| <= L`` (a geometric grid in ``t``); the tails
    ``|u| > L`` add ``2/L`` to ``Z``.
    """
    u = np.linspace(-L, L, n_u)[:, None]
    t = np.concatenate([[0.0], np.geomspace(1e-7, 4 * L, n_t)])[None, :]
    a = u**2 + sigma
    W = np.trapezoid(np.exp(-a * t - u * t**2 - t**3 / 3), t, axis=1)
    U = np.trapezoid(np.exp(-a * t + u * t**2 - t**3 / 3), t, axis=1)
    u = u[:, 0]
    Z = np.trapezoid(W, u) + 2.0 / L
    return {
        "M": float(np.trapezoid(u * W, u) / Z),
        "purity": float(2 * np.trapezoid(W**2 * U, u) / Z**2),
        "varz_tail": 2.0 / Z,
    }


def closed_form_scaled(S, sigma):
    """``S^(1/3) <S_z>/S``, purity, ``S^(1/3) Var(S_z)/S^2`` of the closed form at ``sigma``.

    ``Omega^2 / Gamma^2 = 1 + 1/S + sigma S^(-2/3)``: the ``1/S`` absorbs the leading
    correction ``c_b^2 = S^2 (1 - x^2) + S (1 - x)`` of the recursion.
    """
    om = math.sqrt(1.0 + 1.0 / S + sigma * S**-NU)
    r = tq.exact.driven_spin_steady_state(S, om)
    vz = (r["Sz2"] - r["Sz"] ** 2) / S**2
    return {"M": r["Sz"] / S * S ** (1 / 3), "purity": r["purity"], "varz_tail": vz * S ** (1 / 3)}


def exact_scaling(s_grid=None, S_list=(100, 400, 1600, 6400, 25600)):
    """Closed-form ``S^(1/3) <S_z>/S``, ``S^(1/3) Var(S_z)/S^2``, purity, ``<S_y>/S`` on ``s``."""
    s_grid = np.linspace(-3, 4, 29) if s_grid is None else s_grid
    out = {}
    for S in S_list:
        rows = []
        for s in s_grid:
            om = 1.0 + s * S**-NU
            r = tq.exact.driven_spin_steady_state(S, om)
            vz = (r["Sz2"] - r["Sz"] ** 2) / S**2
            rows.append(
                (float(s), r["Sz"] / S * S ** (1 / 3), vz * S ** (1 / 3), r["purity"], r["Sy"] / S)
            )
        out[S] = rows
    return out


_TITLES = {
    "Sy": "<S_y>/S",
    "Sz": "<S_z>/S",
    "vary": "Var(S_y) relative",
    "varz": "Var(S_z) relative",
}


def _table(entries, key, row_of, row_label):
    S_all = sorted({e["S"] for e in entries})
    rows = sorted({row_of(e) for e in entries})
    by = {(e["S"], row_of(e)): e for e in entries}
    lines = [f"| {row_label} | " + " | ".join(f"S={S}" for S in S_all) + " |"]
    lines.append("|---|" + "---|" * len(S_all))
    for r in rows:
        cells = []
        for S in S_all:
            e = by.get((S, r))
            if e is None:
                cells.append("")
            elif key == "purity":
                cells.append(f"{e['purity']:.3f}")
            elif key == "identity":
                cells.append(f"{identity_residual(e):+.4f}")
            else:
                x = e["errors"][key]
                cells.append(f"{x['error']:+.4f} ({x['sem']:.4f})")
        lines.append(f"| {r:g} | " + " | ".join(cells) + " |")
    return lines + [""]


def markdown(doc, scaling_rows):
    ent = doc["entries"]
    lines = [
        "# The driven spin's threshold window",
        "",
        f"Machine: {doc['machine']}. Command: `{doc['command']}`. Default method, Euler "
        f"dt = {doc['dt']} (two-point increments), float64, {doc['n_traj']} trajectories per "
        f"entry, key {doc['key']} + S, window {doc['window']}.",
        "",
        "Errors: `<S_y>/S`, `<S_z>/S` as (TWOQS - exact)/S; `Var(S_y)`, `Var(S_z)` relative to "
        "exact; in brackets one standard error. `s = (Omega/Gamma - 1) S^(2/3)`. Euler's step "
        "bias of `<S_z>/S` (+0.14 dt = +0.003 above threshold) and of `Var(S_z)` (about "
        "+0.4 dt = +0.8 % relative below threshold) is included.",
        "",
        "## At fixed scaled distance s (rows: s)",
        "",
    ]
    on_s = [e for e in ent if e["on_s_grid"]]
    on_om = [e for e in ent if e["on_Omega_grid"]]
    for k, title in _TITLES.items():
        lines += [f"### {title}", ""] + _table(on_s, k, lambda e: round(e["s"], 2), "s")
    lines += ["### exact purity", ""] + _table(on_s, "purity", lambda e: round(e["s"], 2), "s")
    lines += [
        "### TWOQS: (<S_y> - kappa (S(S+1) - <S_z^2> + <S_z>) / Omega) / S",
        "",
        "The stationary equation of `<S_z>` (exactly zero for the exact state) evaluated with "
        "TWOQS's own moments: its first moments' errors follow from its `<S_z^2>` error.",
        "",
    ] + _table(on_s, "identity", lambda e: round(e["s"], 2), "s")
    lines += ["## At fixed Omega/Gamma (rows: Omega/Gamma)", ""]
    for k, title in _TITLES.items():
        lines += [f"### {title}", ""] + _table(on_om, k, lambda e: e["Omega"], "Omega/Gamma")
    drift = max(e["window_drift"] for e in ent)
    lines += [f"Largest `window_drift` over all runs (standard errors): {drift:.1f}.", ""]
    lines += [
        "## The exact window (closed form against its scaling limit)",
        "",
        "`sigma = (Omega^2/Gamma^2 - 1 - 1/S) S^(2/3)` (about 2 s). Columns: `S^(1/3) <S_z>/S`, "
        "purity, `S^(1/3) Var(S_z)/S^2`; the limit from `scaling_functions`.",
        "",
        "| sigma | S | S^(1/3) <S_z>/S | purity | S^(1/3) Var(S_z)/S^2 |",
        "|---|---|---|---|---|",
    ]
    for sig, S, r in scaling_rows:
        lines.append(
            f"| {sig:g} | {S} | {r['M']:+.4f} | {r['purity']:.4f} | {r['varz_tail']:.4f} |"
        )
    lines.append("")
    return "\n".join(lines)


def scaling_table(sigmas=(-2.0, 0.0, 2.0), S_list=(400, 6400, 102400)):
    """Rows ``(sigma, S or "limit", values)`` of the closed form and its scaling limit."""
    rows = []
    for sig in sigmas:
        for S in S_list:
            rows.append((sig, S, closed_form_scaled(S, sig)))
        rows.append((sig, "limit", scaling_functions(sig)))
    return rows


def plot(doc, scaling, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    S_all = sorted({e["S"] for e in doc["entries"]})
    fig, axes = plt.subplots(3, 4, figsize=(16, 10.5))
    for j, k in enumerate(OBS):
        first = k in ("Sy", "Sz")
        for S in S_all:
            for row, grid, var in ((0, "on_Omega_grid", "Omega"), (1, "on_s_grid", "s")):
                es = sorted(
                    (e for e in doc["entries"] if e["S"] == S and e[grid]), key=lambda e: e[var]
                )
                x = np.array([e[var] for e in es])
                y = np.array([e["errors"][k]["error"] for e in es])
                dy = np.array([e["errors"][k]["sem"] for e in es])
                if row == 1 and first:  # first moments in the window's own scale S^(-1/3)
                    y, dy = y * S ** (1 / 3), dy * S ** (1 / 3)
                axes[row, j].errorbar(x, y, dy, fmt="o-", ms=3, lw=1, capsize=2, label=f"S={S}")
        scale = "S^(1/3) x " if first else ""
        axes[0, j].set(title=_TITLES[k] + " error", xlabel="Omega/Gamma")
        axes[1, j].set(title=scale + _TITLES[k] + " error", xlabel="s = (Omega/Gamma - 1) S^(2/3)")
        for ax in axes[:2, j]:
            ax.axhline(0, color="k", lw=0.5)
            ax.legend(fontsize=6)
    labels = ("S^(1/3) <S_z>/S", "S^(1/3) Var(S_z)/S^2", "purity", "<S_y>/S")
    for j in range(4):
        for S, rows in scaling.items():
            a = np.array(rows)
            axes[2, j].plot(a[:, 0], a[:, j + 1], lw=1, label=f"S={S}")
        axes[2, j].set(title="exact: " + labels[j], xlabel="s")
        axes[2, j].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="S = 25, 50; 300 trajectories")
    p.add_argument("--n-traj", type=int, default=None)
    p.add_argument("--key", type=int, default=0)
    p.add_argument("--S", type=int, nargs="*", default=None)
    p.add_argument("--report-only", action="store_true", help="tables and figure from the JSON")
    a = p.parse_args(argv)
    n_traj = a.n_traj or (300 if a.quick else 4000)
    S_list = a.S or ((25, 50) if a.quick else S_LIST)
    stem = os.path.join(RESULTS, "threshold_window" + ("_quick" if a.quick else ""))
    if a.report_only:
        with open(stem + ".json") as f:
            doc = json.load(f)
    else:
        doc = run(S_list, n_traj, a.key, stem)
    scaling = exact_scaling()
    rows = scaling_table()
    doc["exact_scaling"] = {str(S): r for S, r in scaling.items()}
    doc["scaling_limit"] = [dict(sigma=sig, S=S, **r) for sig, S, r in rows]
    write_results(stem, doc, markdown(doc, rows))
    plot(doc, scaling, stem + ".png")
    print(f"wrote {stem}.json, .md, .png")


if __name__ == "__main__":
    main()
