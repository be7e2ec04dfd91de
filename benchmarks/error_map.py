"""Error map of TWOQS against exact results (issue 13, item 1).

For every regime (model, initial state, protocol), observable and TWOQS variant, the script
runs TWOQS at several spin lengths ``S``, computes the same quantity exactly (the closed form
of the driven spin at any ``S``; QuTiP where the Hilbert space fits), and records the error

* first moments: ``|<A>_TWOQS - <A>_exact| / S``,
* second moments and ``xi^2``: ``|q_TWOQS - q_exact| / max|q_exact|`` (relative to the
  largest exact value over the protocol's time grid),

taking the largest error over the time grid (time-resolved regimes) or the steady-state
value (steady regimes), with the standard error of TWOQS at that point. The fitted exponent
``p`` of ``error ~ S^p`` uses the ``S`` at which the error exceeds 2 standard errors
(weighted least squares in logs); entries with fewer than three such points are reported as
"within noise". A method whose errors are the ``O(1/S)`` of the truncation has ``p ~ -1``.

Outputs (``benchmarks/results/``): ``error_map.json`` (every number, the machine, the
command), ``error_map.md`` (tables), ``error_map.png`` (error against ``S`` per regime).

Usage::

    python benchmarks/error_map.py                  # the committed map (~1 h on 2 CPU cores)
    python benchmarks/error_map.py --quick          # smoke test: small S, few trajectories
    python benchmarks/error_map.py --regimes driven_above oat --variants default paper
"""

import argparse
import json
import os
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # _shared, when loaded by path
from _shared import RESULTS, machine_line  # noqa: E402

import twoqs_jax as tq  # noqa: E402

# ----------------------------------------------------------------------------- variants


def _variants():
    """TWOQS variants by name: ``factory(dt) -> method``.

    ``default`` is ``tq.TWOQS(scheme)`` with no options; ``paper`` is ``tq.TWOQS.paper``
    (paper 003 exactly). The others switch one ingredient of the default.
    """
    em = tq.EulerMaruyama
    out = {
        "default": lambda dt: tq.TWOQS(em(dt=dt)),
        "paper": lambda dt: tq.TWOQS.paper(em(dt=dt)),
        "coherent": lambda dt: tq.TWOQS(em(dt=dt), sampling="coherent"),
        "no_constraint": lambda dt: tq.TWOQS(em(dt=dt), constraint=None),
        "no_correction": lambda dt: tq.TWOQS(em(dt=dt), correction=None),
        "gaussian": lambda dt: tq.TWOQS(em(dt=dt, noise="gaussian")),
    }
    for name in ("diffusion", "noise_model"):  # the noise of the jumps, where selectable
        if name in getattr(tq.TWOQS, "__dataclass_fields__", {}):
            out["paper_noise"] = lambda dt, n=name: tq.TWOQS(em(dt=dt), **{n: "paper"})
    return out


# ----------------------------------------------------------------------------- regimes
# Each regime: make(S) -> (model, state); protocol "time" (ts(S)) or "steady"
# (SteadyState(S)); observables: list of (label, extract, kind) where extract(mean_dict) ->
# array over time (or scalar) and kind is "first" (scaled by S) or "second" (relative).


def _site(name, i=0):
    def get(m):
        v = np.asarray(m[name])
        return v[..., i]

    return get


def _pair(name, i, j):
    def get(m):
        return np.asarray(m[name])[..., i, j]

    return get


def _scalar(name):
    def get(m):
        return np.asarray(m[name])

    return get


def _steady(t_burn, t_avg, every=0.2):
    return lambda S: tq.SteadyState(t_burn=float(t_burn(S)), t_avg=float(t_avg(S)), every=every)


def _dephasing_exact(S, ts, Gamma_phi=1.0):
    """Collective dephasing from the coherent state along x, in closed form.

    ``Gamma_phi D_003[S_z]`` is the standard dissipator with ``kappa = 2 Gamma_phi``, so in
    the Dicke basis ``rho_mn(t) = rho_mn(0) exp(-kappa (m - n)^2 t / 2)`` (QuTiP's ODE solver
    is stiff here at large S: rates up to ``kappa (2S)^2 / 2``). The state along x has
    ``<m|x> = sqrt(C(2S, S + m)) / 2^S``.
    """
    from scipy.special import gammaln

    m = np.arange(-S, S + 1, dtype=float)
    c = np.exp(0.5 * (gammaln(2 * S + 1) - gammaln(S + m + 1) - gammaln(S - m + 1)) - S * np.log(2))
    sp = np.diag(np.sqrt(S * (S + 1) - m[:-1] * (m[:-1] + 1)), -1)  # S^+ |m> on |m+1>
    sx, sy = (sp + sp.T) / 2, (sp - sp.T) / 2j
    sx2, sy2 = sx @ sx, sy @ sy
    out = {"Sx": [], "varx": [], "vary": []}
    for t in ts:
        rho = np.outer(c, c) * np.exp(-Gamma_phi * (m[:, None] - m[None, :]) ** 2 * t)
        ex = np.trace(rho @ sx).real
        out["Sx"].append(ex)
        out["varx"].append(np.trace(rho @ sx2).real - ex**2)
        out["vary"].append(np.trace(rho @ sy2).real - np.trace(rho @ sy).real ** 2)
    return {k: np.asarray(v) for k, v in out.items()}


REGIMES = {
    "superradiance": dict(
        doc="superradiant decay from m = +S (paper 003 Eq. 21), Gamma = 1, t in [0, 2 ln(2S) + 4]",
        make=lambda S: (tq.superradiance(S), tq.spin_up()),
        protocol="time",
        ts=lambda S: np.linspace(0.0, 2 * np.log(2 * S) + 4, 21),
        observables=[("Sz", _site("Sz"), "first"), ("varz", _site("varz"), "second")],
        S=(10, 20, 50, 100, 200),
        dt=0.01,
    ),
    "dephasing": dict(
        doc="collective dephasing from x (paper 003 Eq. 24), Gamma_phi = 1, t in [0, 3]",
        make=lambda S: (tq.collective_dephasing(S), tq.along_x()),
        protocol="time",
        ts=lambda S: np.linspace(0.0, 3.0, 16),
        observables=[
            ("Sx", _site("Sx"), "first"),
            ("varx", _site("varx"), "second"),
            ("vary", _site("vary"), "second"),
        ],
        S=(10, 20, 50, 100, 200),
        dt=0.005,
        exact_fn=_dephasing_exact,
    ),
    "oat": dict(
        doc="one-axis twisting g = 1 from m = -S (paper 003 Eq. 30), t in [0, 4 S^(1/3)]",
        make=lambda S: (tq.one_axis_twisting(S, 1.0), tq.spin_down()),
        protocol="time",
        ts=lambda S: np.linspace(0.0, 4 * S ** (1 / 3), 41),
        observables=[
            ("Sz", _site("Sz"), "first"),
            ("min xi2", _scalar("xi2"), "min"),
            ("vary", _site("vary"), "second"),
        ],
        S=(10, 20, 50, 100, 200),
        dt=0.01,
        n_traj_factor=10,  # xi^2 is a small variance: 10x the trajectories
    ),
    "oat_decay": dict(
        doc="one-axis twisting g = 1 with decay Gamma = 0.1, t in [0, 4 S^(1/3)]",
        make=lambda S: (tq.one_axis_twisting(S, 1.0, Gamma=0.1), tq.spin_down()),
        protocol="time",
        ts=lambda S: np.linspace(0.0, 4 * S ** (1 / 3), 41),
        observables=[("Sz", _site("Sz"), "first"), ("min xi2", _scalar("xi2"), "min")],
        S=(10, 20, 50, 100, 200),
        dt=0.01,
        n_traj_factor=10,
    ),
    "oat_dephasing": dict(
        doc="one-axis twisting g = 1 with dephasing Gamma_phi = 0.01, t in [0, 4 S^(1/3)]",
        make=lambda S: (tq.one_axis_twisting(S, 1.0, Gamma_phi=0.01), tq.spin_down()),
        protocol="time",
        ts=lambda S: np.linspace(0.0, 4 * S ** (1 / 3), 41),
        observables=[("Sz", _site("Sz"), "first"), ("min xi2", _scalar("xi2"), "min")],
        S=(10, 20, 50, 100, 200),
        dt=0.01,
        n_traj_factor=10,
    ),
}

# LMG dimer (paper 000, g = 1, gamma = 0.5): one point in each region of its Fig. 2 diagram.
for _name, (_J, _lam, _what) in {
    "lmg_dimer_normal": (0.0, 0.0, "J = 0, lam = 0: normal state Z_A = -1, Z_B = +1"),
    "lmg_dimer_J": (1.5, 0.0, "J = 1.5, lam = 0: spins leave the poles"),
    "lmg_dimer_J_lam": (1.5, 0.5, "J = 1.5, lam = 0.5: coupled, mixed dynamics"),
}.items():
    REGIMES[_name] = dict(
        doc=f"LMG dimer (paper 000 Eqs. 4-5), {_what}; steady state, exact by QuTiP",
        make=lambda S, J=_J, lam=_lam: (tq.lmg_dimer(S, J, lam), tq.spin_down(2)),
        protocol="steady",
        steady=_steady(lambda S: 40.0 + 4 * S, lambda S: 40.0 + 4 * S),
        observables=[
            ("Sz_A", _site("Sz", 0), "first"),
            ("Sz_B", _site("Sz", 1), "first"),
            ("SzA SzB", _pair("SzSz", 0, 1), "second"),
        ],
        S=(2, 3, 4, 5, 6),  # S = 8 needs ~18 GiB for the exact steady state
        dt=0.01,
    )


def _driven(Omega, what, t_burn, t_avg):
    """The driven spin's steady state (paper 003 Eq. 29) against its closed form."""
    return dict(
        doc=f"driven spin Omega = {what}, steady state (closed form)",
        make=lambda S: (tq.driven_spin(S, Omega), tq.spin_down()),
        protocol="steady",
        steady=_steady(t_burn, t_avg),
        observables=[
            ("Sz", _site("Sz"), "first"),
            ("Sy", _site("Sy"), "first"),
            ("varz", _site("varz"), "second"),
        ],
        S=(10, 20, 50, 100, 200, 400),
        dt=0.02,
        closed_form=Omega,
    )


REGIMES = {
    **{k: v for k, v in REGIMES.items() if k in ("superradiance", "dephasing")},
    "driven_below": _driven(0.5, "0.5 Gamma", lambda S: 20.0, lambda S: 40.0),
    "driven_threshold": _driven(1.0, "Gamma", lambda S: 20 + 2 * S, lambda S: 20 + 2 * S),
    "driven_above": _driven(
        1.5, "1.5 Gamma; burn 4 S, average 2.5 S", lambda S: 4.0 * S, lambda S: 2.5 * S
    ),
    **{k: v for k, v in REGIMES.items() if k not in ("superradiance", "dephasing")},
}

REGIMES["chain"] = dict(
    doc="paper 003 XY chain (3 sites, periodic, Jx = 1, Jy = -0.5, printed convention), "
    "polarised phase, steady state, exact by QuTiP",
    make=lambda S: (tq.heisenberg_chain(3, S, Jx=1.0, Jy=-0.5), tq.spin_down(3)),
    protocol="steady",
    steady=_steady(lambda S: 30.0, lambda S: 40.0),
    observables=[
        ("Sz", _site("Sz", 0), "first"),
        ("varz", _site("varz", 0), "second"),
        ("Sz0 Sz1", _pair("SzSz", 0, 1), "second"),
    ],
    S=(1, 2, 3, 4),
    dt=0.01,
)

_NEEDS = {
    "Sz": ("Sz",),
    "Sx": ("Sx",),
    "Sy": ("Sy",),
    "varz": ("varz",),
    "varx": ("varx",),
    "vary": ("vary",),
    "min xi2": ("xi2",),
    "Sz_A": ("Sz",),
    "Sz_B": ("Sz",),
    "SzA SzB": ("SzSz",),
    "Sz0 Sz1": ("SzSz",),
}


def _grid(regime, S):
    """The regime's save times, snapped to its time step (the grid is honoured exactly)."""
    dt = regime["dt"]
    return np.unique(np.round(np.asarray(regime["ts"](S)) / dt)) * dt


def _names(regime):
    out = []
    for label, _, _ in regime["observables"]:
        for n in _NEEDS[label]:
            if n not in out:
                out.append(n)
    return tuple(out)


# ----------------------------------------------------------------------------- exact


def exact_values(regime, S):
    """``{label: array}`` of the exact quantities (over the time grid or at steady state)."""
    model, state = regime["make"](S)
    if "exact_fn" in regime:
        return regime["exact_fn"](S, _grid(regime, S))
    if "closed_form" in regime:
        cf = tq.exact.driven_spin_steady_state(S, regime["closed_form"])
        mean = {
            "Sz": np.array([cf["Sz"]]),
            "Sy": np.array([cf["Sy"]]),
            "varz": np.array([cf["Sz2"] - cf["Sz"] ** 2]),
        }
    elif regime["protocol"] == "time":
        sol = tq.solve(
            model,
            state,
            tq.SaveAt(ts=jnp.asarray(_grid(regime, S))),
            tq.Exact(),
            observables=_names(regime),
        )
        mean = sol.mean
    else:
        sol = tq.solve(model, None, tq.SteadyState(), tq.Exact(), observables=_names(regime))
        mean = sol.mean
    return {label: np.asarray(get(mean), float) for label, get, _ in regime["observables"]}


# ----------------------------------------------------------------------------- TWOQS


def twoqs_values(regime, S, method, n_traj, key):
    """``({label: mean}, {label: sem}, stats)`` of TWOQS."""
    model, state = regime["make"](S)
    if regime["protocol"] == "time":
        saveat = tq.SaveAt(ts=jnp.asarray(_grid(regime, S)))
    else:
        saveat = regime["steady"](S)
    sol = tq.solve(model, state, saveat, method, n_traj=n_traj, key=key, observables=_names(regime))
    sems = {n: sol.error(n) for n in _names(regime)}
    mean = {label: np.asarray(get(sol.mean), float) for label, get, _ in regime["observables"]}
    sem = {label: np.asarray(get(sems), float) for label, get, _ in regime["observables"]}
    return mean, sem, dict(sol.stats)


def entry_error(kind, S, value, sem, exact):
    """The map's error of one quantity and its standard error (see the module docstring)."""
    value, sem, exact = (np.atleast_1d(np.asarray(x, float)) for x in (value, sem, exact))
    if kind == "min":
        i, j = int(np.nanargmin(value)), int(np.nanargmin(exact))
        ref = exact[j]
        return abs(value[i] - ref) / abs(ref), sem[i] / abs(ref), (value[i] - ref) / abs(ref)
    scale = S if kind == "first" else max(np.nanmax(np.abs(exact)), 1e-300)
    dev = (value - exact) / scale
    i = int(np.nanargmax(np.abs(dev)))
    return abs(dev[i]), sem[i] / scale, dev[i]


def fit_exponent(S, err, sem, z=2.0):
    """Weighted least-squares slope of ``log err`` on ``log S`` over the resolved points."""
    S, err, sem = (np.asarray(x, float) for x in (S, err, sem))
    ok = err > z * sem
    if ok.sum() < 3:
        return None, None, int(ok.sum())
    x, y = np.log(S[ok]), np.log(err[ok])
    w = (err[ok] / np.maximum(sem[ok], 1e-300)) ** 2  # 1 / var(log err)
    X = np.stack([np.ones_like(x), x], 1)
    cov = np.linalg.inv(X.T @ (w[:, None] * X))
    beta = cov @ X.T @ (w * y)
    resid = y - X @ beta
    chi2 = float(np.sum(w * resid**2) / max(len(x) - 2, 1))
    return float(beta[1]), float(np.sqrt(cov[1, 1] * max(chi2, 1.0))), int(ok.sum())


# ----------------------------------------------------------------------------- driver


def run(regimes, variants, n_traj, key, quick, out_json):
    factories = _variants()
    doc = dict(
        machine=machine_line(),
        command="python " + " ".join(sys.argv),
        n_traj=n_traj,
        key=key,
        quick=quick,
        entries=[],
    )
    if os.path.exists(out_json):  # resume: keep finished entries of the same setting
        with open(out_json) as f:
            old = json.load(f)
        if old.get("n_traj") == n_traj and old.get("key") == key and old.get("quick") == quick:
            doc["entries"] = old["entries"]
            doc["command"] = old["command"] + "; then " + doc["command"]
    done = {(e["regime"], e["variant"], e["S"]) for e in doc["entries"]}
    for rname in regimes:
        regime = REGIMES[rname]
        S_list = regime["S"][:3] if quick else regime["S"]
        for S in S_list:
            exact = None
            for vname in variants:
                if (rname, vname, S) in done:
                    continue
                if exact is None:
                    t0 = time.perf_counter()
                    try:
                        exact = exact_values(regime, S)
                    except (ValueError, MemoryError) as err:  # the memory guard refuses
                        print(f"{rname:18s} S={S}: no exact reference: {err}", flush=True)
                        break
                    t_exact = time.perf_counter() - t0
                t0 = time.perf_counter()
                method = factories[vname](regime["dt"])
                n = n_traj * regime.get("n_traj_factor", 1)
                try:
                    mean, sem, stats = twoqs_values(regime, S, method, n, key)
                except RuntimeError as err:  # e.g. trajectories blew up: recorded, not hidden
                    doc["entries"].append(
                        dict(
                            regime=rname,
                            variant=vname,
                            S=S,
                            dt=regime["dt"],
                            n_traj=n,
                            failed=str(err).splitlines()[0],
                        )
                    )
                    print(f"{rname:18s} {vname:14s} S={S:<4d} FAILED: {err}", flush=True)
                    continue
                wall = time.perf_counter() - t0
                rows = {}
                for label, _, kind in regime["observables"]:
                    e, s, signed = entry_error(kind, S, mean[label], sem[label], exact[label])
                    rows[label] = dict(error=float(e), sem=float(s), signed=float(signed))
                entry = dict(
                    regime=rname,
                    variant=vname,
                    S=S,
                    dt=regime["dt"],
                    n_traj=n,
                    errors=rows,
                    wall_s=round(wall, 2),
                    exact_s=round(t_exact, 2),
                    clip_fraction=float(stats.get("clip_fraction", 0.0)),
                    spin_drift_max=float(stats.get("spin_drift_max", 0.0)),
                )
                doc["entries"].append(entry)
                print(
                    f"{rname:18s} {vname:14s} S={S:<4d} "
                    + " ".join(f"{k}: {v['signed']:+.4f}({v['sem']:.4f})" for k, v in rows.items())
                    + f"  [{wall:.1f} s]",
                    flush=True,
                )
                with open(out_json + ".tmp", "w") as f:  # never lose finished entries
                    json.dump(doc, f, indent=1)
                os.replace(out_json + ".tmp", out_json)
    return doc


def summarise(doc):
    """Exponent table ``{(regime, variant, label): (p, dp, n_resolved, errors)}``."""
    table = {}
    for e in doc["entries"]:
        if "failed" in e:
            continue
        for label, r in e["errors"].items():
            table.setdefault((e["regime"], e["variant"], label), []).append(
                (e["S"], r["error"], r["sem"], r["signed"])
            )
    out = {}
    for k, rows in table.items():
        rows.sort()
        S, err, sem, signed = map(np.array, zip(*rows))
        p, dp, n = fit_exponent(S, err, sem)
        out[k] = dict(
            p=p, dp=dp, n_resolved=n, S=S.tolist(), signed=signed.tolist(), sem=sem.tolist()
        )
    return out


def write_markdown(doc, summary, path):
    lines = [
        "# TWOQS error map",
        "",
        f"Machine: {doc['machine']}. Command: `{doc['command']}`. "
        f"{doc['n_traj']} trajectories per entry (10x for twisting), key {doc['key']}.",
        "",
        "Error: first moments `(TWOQS - exact)/S`; second moments and `xi^2` relative to the "
        "largest exact value (signed, at the time of the largest deviation); in brackets one "
        "standard error. `p`: fitted exponent of |error| in S over the entries resolved at 2 "
        "standard errors (`within noise` where fewer than three are).",
        "",
    ]
    for rname, regime in REGIMES.items():
        keys = [k for k in summary if k[0] == rname]
        if not keys:
            continue
        lines += [f"## {rname}", "", regime["doc"] + f" (dt = {regime['dt']}).", ""]
        S_all = sorted({s for k in keys for s in summary[k]["S"]})
        lines.append("| variant | observable | " + " | ".join(f"S={s}" for s in S_all) + " | p |")
        lines.append("|---|---|" + "---|" * len(S_all) + "---|")
        for k in keys:
            r = summary[k]
            cells = []
            for s in S_all:
                if s in r["S"]:
                    i = r["S"].index(s)
                    cells.append(f"{r['signed'][i]:+.4f} ({r['sem'][i]:.4f})")
                else:
                    cells.append("")
            p = (
                f"{r['p']:.2f} ± {r['dp']:.2f}"
                if r["p"] is not None
                else f"within noise ({r['n_resolved']} resolved)"
            )
            lines.append(f"| {k[1]} | {k[2]} | " + " | ".join(cells) + f" | {p} |")
        failed = [e for e in doc["entries"] if e["regime"] == rname and "failed" in e]
        for e in failed:
            lines.append(f"- **{e['variant']}, S = {e['S']}: failed**: {e['failed']}")
        lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


def plot(summary, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    regimes = [r for r in REGIMES if any(k[0] == r for k in summary)]
    ncol = 4
    nrow = -(-len(regimes) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4 * ncol, 3.2 * nrow), squeeze=False)
    styles = {"default": "o-", "paper": "s--"}
    for ax, rname in zip(axes.flat, regimes):
        for k, r in summary.items():
            if k[0] != rname:
                continue
            S = np.array(r["S"], float)
            err = np.abs(r["signed"])
            ax.errorbar(
                S,
                np.maximum(err, 1e-5),
                yerr=r["sem"],
                fmt=styles.get(k[1], "^:"),
                ms=3,
                lw=1,
                capsize=2,
                label=f"{k[1]}: {k[2]}",
            )
        S = np.array(REGIMES[rname]["S"], float)
        ax.plot(S, 0.1 / S, "k:", lw=0.8, label="0.1/S")
        ax.set(xscale="log", yscale="log", title=rname, xlabel="S", ylabel="|error|")
        ax.legend(fontsize=6)
    for ax in axes.flat[len(regimes) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="three smallest S, 200 trajectories")
    p.add_argument("--regimes", nargs="*", default=list(REGIMES), choices=list(REGIMES))
    p.add_argument("--variants", nargs="*", default=["default", "paper"])
    p.add_argument("--n-traj", type=int, default=None)
    p.add_argument("--key", type=int, default=0)
    p.add_argument("--out", default=None, help="output stem (default results/error_map)")
    p.add_argument(
        "--report-only", action="store_true", help="tables and figure from the JSON, no runs"
    )
    a = p.parse_args(argv)
    unknown = sorted(set(a.variants) - set(_variants()))
    if unknown:
        p.error(f"unknown --variants {unknown}; available: {sorted(_variants())}")
    n_traj = a.n_traj or (200 if a.quick else 2000)
    stem = a.out or os.path.join(RESULTS, "error_map" + ("_quick" if a.quick else ""))
    os.makedirs(os.path.dirname(stem), exist_ok=True)
    if a.report_only:
        with open(stem + ".json") as f:
            doc = json.load(f)
    else:
        doc = run(a.regimes, a.variants, n_traj, a.key, a.quick, stem + ".json")
    summary = summarise(doc)
    write_markdown(doc, summary, stem + ".md")
    plot(summary, stem + ".png")
    print(f"wrote {stem}.json, .md, .png")


if __name__ == "__main__":
    main()
