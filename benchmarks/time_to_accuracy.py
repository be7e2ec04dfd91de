"""Time to a fixed accuracy at S = 1000: Euler-Maruyama against the weak order-2 scheme.

Two cases, each run over a ladder of steps ``dt`` (coarse to fine, same trajectories and key):

1. **Driven spin above threshold** (``Omega = 1.5 Gamma``, paper 003 Eq. 29), steady state
   from ``m = -S`` (burn-in ``4 S``, average over ``2.5 S``), against its closed form. Targets:
   ``|<S_z>/S - exact| <= 0.005`` and ``|<S_y>/S - exact| <= 0.005``, and the tight
   ``|<S_z>/S - exact| <= 3e-4``. A target counts as reached at a ``dt`` when
   ``|error| + 2 sem <= target``; the table gives, per scheme and target, the coarsest such
   ``dt`` of the ladder, its number of steps and its wall time (one run, compilation
   included).
2. **LMG dimer** (paper 000 Eqs. 4-5, ``J = 1.5``, ``lam = 0.5``, ``S`` per site), the state
   at ``t = T`` from both spins down: no closed form, and exact methods do not reach
   ``S = 1000``, so the reference is the weak order-2 run at the smallest ``dt`` of its ladder
   (said in the output); the errors are differences to it (their sem combines both runs).

Default method otherwise (Fock sampling, projection, tangential noise). Euler uses its default
two-point increments; the weak order-2 scheme Gaussian ones.

Usage::

    python benchmarks/time_to_accuracy.py            # S = 1000 (about 10 min on a quiet CPU)
    python benchmarks/time_to_accuracy.py --quick    # S = 20, short windows (a smoke test)

Outputs ``benchmarks/results/time_to_accuracy{,_quick}.{json,md}``.
"""

import argparse
import os
import sys
import time

import jax
import numpy as np

import twoqs_jax as tq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # _shared, when loaded by path
from _shared import RESULTS, machine_line, write_results  # noqa: E402

TARGETS = (("Sz", 0.005), ("Sy", 0.005), ("Sz", 3e-4))
LADDERS = {
    "euler": (0.04, 0.02, 0.01, 0.005),
    "wk2": (0.32, 0.16, 0.08, 0.04),
}
LMG_LADDERS = {"euler": (0.04, 0.02, 0.01), "wk2": (0.08, 0.04, 0.02, 0.01)}


def scheme_of(name, dt):
    """The scheme of a ladder name."""
    return tq.EulerMaruyama(dt) if name == "euler" else tq.WeakOrder2(dt)


def _value(sol, name, site=None):
    v, e = np.asarray(sol[name]), np.asarray(sol.error(name))
    if site is not None:
        v, e = v[..., site], e[..., site]
    return float(np.ravel(v)[-1]), float(np.ravel(e)[-1])


def driven(S, n_traj, key, ladders, burn, avg, every):
    """Errors, sem, steps and wall time of every (scheme, dt) of the driven spin."""
    exact = tq.exact.driven_spin_steady_state(S, 1.5)
    rows = []
    for name, dts in ladders.items():
        for dt in dts:
            ev = max(round(every / dt), 1) * dt
            saveat = tq.SteadyState(
                t_burn=round(burn * S / ev) * ev, t_avg=round(avg * S / ev) * ev, every=ev
            )
            t0 = time.perf_counter()
            sol = tq.solve(
                tq.driven_spin(S, 1.5),
                tq.spin_down(),
                saveat,
                tq.TWOQS(scheme_of(name, dt)),
                n_traj=n_traj,
                key=key,
                observables=("Sz", "Sy"),
            )
            wall = time.perf_counter() - t0
            row = dict(scheme=name, dt=dt, steps=int(round((saveat.t_burn + saveat.t_avg) / dt)))
            for o in ("Sz", "Sy"):
                v, e = _value(sol, o)
                row[o + "_err"], row[o + "_sem"] = (v - exact[o]) / S, e / S
            row["wall_s"] = round(wall, 2)
            rows.append(row)
            print(
                f"driven S={S:g} {name:5s} dt={dt:<7g} Sz/S err {row['Sz_err']:+.5f}"
                f"({row['Sz_sem']:.5f}) Sy/S err {row['Sy_err']:+.5f}({row['Sy_sem']:.5f}) "
                f"{wall:.1f} s",
                flush=True,
            )
            if all(reached(row, o, t) for o, t in TARGETS):
                break  # finer steps of this scheme are not needed
    return rows


def reached(row, obs, target):
    """``|error| + 2 sem <= target``."""
    return abs(row[obs + "_err"]) + 2 * row[obs + "_sem"] <= target


def summary(rows):
    """Per target and scheme: the coarsest dt that reaches it, its steps and wall time."""
    out = []
    for obs, target in TARGETS:
        for name in LADDERS:
            hit = [r for r in rows if r["scheme"] == name and reached(r, obs, target)]
            best = max(hit, key=lambda r: r["dt"]) if hit else None
            out.append(
                dict(
                    observable=obs,
                    target=target,
                    scheme=name,
                    dt=best and best["dt"],
                    steps=best and best["steps"],
                    wall_s=best and best["wall_s"],
                )
            )
    return out


def extrapolate(rows, target=TARGETS[2][1]):
    """Euler's ``<S_z>/S`` bias fitted as ``c dt`` (weighted least squares over its runs) and
    the step and time it would need for ``c dt + 2 sem <= target`` (wall time per step of
    its finest run): Euler's ladder stops before the tight target.
    """
    em = [r for r in rows if r["scheme"] == "euler"]
    dt = np.array([r["dt"] for r in em])
    err = np.array([r["Sz_err"] for r in em])
    w = 1 / np.array([r["Sz_sem"] for r in em]) ** 2
    c = float(np.sum(w * dt * err) / np.sum(w * dt * dt))
    finest = min(em, key=lambda r: r["dt"])
    room = target - 2 * finest["Sz_sem"]
    if room <= 0 or c == 0:
        return dict(c=c, target=target, dt=None, steps=None, wall_s=None)
    dt_need = room / abs(c)
    steps = finest["steps"] * finest["dt"] / dt_need
    return dict(
        c=c,
        target=target,
        dt=dt_need,
        steps=int(steps),
        wall_s=round(finest["wall_s"] * steps / finest["steps"], 1),
    )


def lmg(S, n_traj, key, ladders, T):
    """The LMG dimer at t = T against the finest weak order-2 run."""
    model = tq.lmg_dimer(S, 1.5, 0.5)
    runs = []
    for name, dts in ladders.items():
        for dt in dts:
            t0 = time.perf_counter()
            sol = tq.solve(
                model,
                tq.spin_down(2),
                tq.SaveAt(np.array([0.0, T])),
                tq.TWOQS(scheme_of(name, dt)),
                n_traj=n_traj,
                key=key,
                observables=("Sz",),
            )
            wall = time.perf_counter() - t0
            row = dict(scheme=name, dt=dt, steps=int(round(T / dt)), wall_s=round(wall, 2))
            for site, lab in ((0, "A"), (1, "B")):
                v, e = _value(sol, "Sz", site)
                row["Sz" + lab], row["Sz" + lab + "_sem"] = v / S, e / S
            runs.append(row)
    ref = min((r for r in runs if r["scheme"] == "wk2"), key=lambda r: r["dt"])
    for r in runs:
        for lab in ("A", "B"):
            r["Sz" + lab + "_err"] = r["Sz" + lab] - ref["Sz" + lab]
            r["Sz" + lab + "_err_sem"] = float(
                np.hypot(r["Sz" + lab + "_sem"], ref["Sz" + lab + "_sem"])
            )
        print(
            f"lmg S={S:g} {r['scheme']:5s} dt={r['dt']:<7g} Sz_A/S - ref {r['SzA_err']:+.5f}"
            f"({r['SzA_err_sem']:.5f}) Sz_B/S - ref {r['SzB_err']:+.5f}({r['SzB_err_sem']:.5f}) "
            f"{r['wall_s']:.1f} s",
            flush=True,
        )
    return dict(reference=dict(scheme="wk2", dt=ref["dt"]), T=T, runs=runs)


def write_markdown(doc, path):
    """The tables of the JSON."""
    S = doc["S"]
    lines = [
        f"# Time to accuracy at S = {S:g}: Euler-Maruyama vs weak order 2",
        "",
        f"Machine: {doc['machine']}. Command: `{doc['command']}`. {doc['n_traj']} trajectories, "
        f"key {doc['key']}; wall times include compilation (one run each).",
        "",
        f"## Driven spin, Omega = 1.5 Gamma, steady state (burn-in {doc['burn']} S, "
        f"average {doc['avg']} S), against the closed form",
        "",
        "Reached: `|error| + 2 sem <= target`; the coarsest dt of the ladder that reaches it.",
        "",
        "| target | scheme | dt | steps | wall (s) |",
        "|---|---|---|---|---|",
    ]
    for s in doc["summary"]:
        t = f"\\|<{s['observable'][0]}_{s['observable'][1]}>/S - exact\\| <= {s['target']:g}"
        if s["dt"] is None:
            lines.append(f"| {t} | {s['scheme']} | not reached in the ladder | | |")
        else:
            lines.append(f"| {t} | {s['scheme']} | {s['dt']:g} | {s['steps']} | {s['wall_s']} |")
    x = doc["euler_extrapolated"]
    if x["dt"] is not None:
        lines += [
            "",
            f"Euler's <S_z>/S bias fitted over its runs: {x['c']:+.4f} dt; the target "
            f"{x['target']:g} needs dt <= {x['dt']:.2g}: {x['steps']} steps, about "
            f"{x['wall_s']} s at the wall time per step of its finest run (extrapolated, "
            "not run).",
        ]
    lines += [
        "",
        "Every run:",
        "",
        "| scheme | dt | steps | <S_z>/S error (sem) | <S_y>/S error (sem) | wall (s) |",
        "|---|---|---|---|---|---|",
    ]
    for r in doc["driven"]:
        lines.append(
            f"| {r['scheme']} | {r['dt']:g} | {r['steps']} | {r['Sz_err']:+.5f} "
            f"({r['Sz_sem']:.5f}) | {r['Sy_err']:+.5f} ({r['Sy_sem']:.5f}) | {r['wall_s']} |"
        )
    if doc.get("lmg"):
        lm = doc["lmg"]
        lines += [
            "",
            f"## LMG dimer, J = 1.5, lam = 0.5, S = {S:g} per site, state at t = {lm['T']:g}",
            "",
            f"No closed form; the reference is the weak order-2 run at dt = "
            f"{lm['reference']['dt']:g} (errors are differences to it).",
            "",
            "| scheme | dt | steps | <S_z,A>/S - ref (sem) | <S_z,B>/S - ref (sem) | wall (s) |",
            "|---|---|---|---|---|---|",
        ]
        for r in lm["runs"]:
            lines.append(
                f"| {r['scheme']} | {r['dt']:g} | {r['steps']} | {r['SzA_err']:+.5f} "
                f"({r['SzA_err_sem']:.5f}) | {r['SzB_err']:+.5f} ({r['SzB_err_sem']:.5f}) | "
                f"{r['wall_s']} |"
            )
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--quick", action="store_true", help="S = 20, short windows, one dt each (a smoke test)"
    )
    p.add_argument("--S", type=float, default=None)
    p.add_argument("--n-traj", type=int, default=None)
    p.add_argument("--key", type=int, default=4)
    p.add_argument("--no-lmg", action="store_true")
    p.add_argument("--out", default=None, help="output stem (default results/time_to_accuracy)")
    a = p.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    S = a.S or (20.0 if a.quick else 1000.0)
    n_traj = a.n_traj or (64 if a.quick else 1000)
    burn, avg = (0.5, 0.25) if a.quick else (4.0, 2.5)
    ladders = {"euler": (0.04,), "wk2": (0.16,)} if a.quick else LADDERS
    lmg_ladders = {"euler": (0.04,), "wk2": (0.08,)} if a.quick else LMG_LADDERS
    doc = dict(
        machine=machine_line(),
        command="python " + " ".join(sys.argv) if argv is None else "main(" + repr(argv) + ")",
        S=S,
        n_traj=n_traj,
        key=a.key,
        burn=burn,
        avg=avg,
        quick=a.quick,
    )
    doc["driven"] = driven(S, n_traj, a.key, ladders, burn, avg, every=0.2 * max(1, S / 100))
    doc["summary"] = summary(doc["driven"])
    doc["euler_extrapolated"] = extrapolate(doc["driven"])
    if not a.no_lmg:
        doc["lmg"] = lmg(S, n_traj, a.key, lmg_ladders, T=2.0 if a.quick else 10.0)
    stem = a.out or os.path.join(RESULTS, "time_to_accuracy" + ("_quick" if a.quick else ""))
    write_results(stem, doc)
    write_markdown(doc, stem + ".md")
    print(f"wrote {stem}.json, .md")
    return doc


if __name__ == "__main__":
    main()
