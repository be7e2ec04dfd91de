"""One-axis twisting without loss: the truncation error of TWOQS in min xi^2 (issue 13).

Run: ``python benchmarks/oat_truncation.py [--quick] [--n N] [--seed K] [--out DIR]``.
Writes ``DIR/oat_truncation[_quick].{md,json}`` (default DIR: ``benchmarks/results``) naming
the machine. NumPy and SciPy only (no JAX): about two and a half minutes of one core in full
(2e6 samples per point), a few seconds with ``--quick``. The table of
``docs/methods/fidelity.md#twisting-limit`` comes from the full run.

Model: ``H = (g/2S) S_x^2`` from the spin-down state ``m = -S``, twisting angle
``mu = g t / S = 2 chi t`` (``chi = g/2S``). Squeezing parameter (Wineland)

    xi^2 = 2 S lambda_min / <S_z>^2,

``lambda_min`` the smallest eigenvalue of the covariance of ``(S_x, S_y)`` (the mean spin
stays on the ``-z`` axis), minimised over ``mu``.

- **Exact pure state**: the Kitagawa-Ueda closed forms (:func:`ku_moments`; checked against
  direct diagonalisation, :func:`exact_by_diag`, in ``tests/test_oat_truncation.py``),
  minimised over ``mu`` by a grid and a golden-section search (:func:`min_over_mu`).
- **Poisson mixture**: two-mode coherent state ``|0>|sqrt(2S)>``, sector by sector (the
  dynamics and the observables conserve the boson number): spin ``n/2`` with weight
  Poisson(2S) and the same ``chi``, moments summed over sectors, ``xi^2`` with the nominal
  ``S``. Coherent sampling starts from its exact Wigner function, so it is that sampling's
  own exact target.
- **TWOQS**: the truncated Wigner flow of this ``H`` is exactly solvable, a rotation of every
  sample's Bloch vector about ``x`` by the angle ``mu s_x`` (``s_x`` conserved,
  ``s_y -> s_y cos(mu s_x) - s_z sin(mu s_x)``, ``s_z -> s_z cos(mu s_x) + s_y sin(mu s_x)``;
  the mode flow ``alpha -> alpha cos th - i beta sin th``, ``beta -> beta cos th - i alpha
  sin th``, ``th = mu s_x / 2``), so there is no step error and the error is the truncation
  of the third-order term itself. Weyl symbols: ``S_a^2 -> s_a^2 - 1/8``; ``xi^2`` of the
  sample means on a grid of ``mu`` (61 points, 0.7 .. 1.3 times the exact optimum), minimum
  over the grid (a minimum at the grid's edge is flagged); standard error from 20 batches
  (the minimum of each batch's curve, their standard deviation over ``sqrt(20)``).

Samplings of the initial state (Schwinger bosons ``s_x + i s_y = alpha^* beta``,
``s_z = (|alpha|^2 - |beta|^2) / 2``):

- ``fock`` (the package's default, :func:`twoqs_jax._phase_space.sampling.sample_down` with
  ``fock_sampling="fock"``; :func:`fock_down` is the same map of the same draws, checked in the
  test): ``alpha ~ CN(0, 1/2)``, ``|beta|^2 = 2S + Exp(mean 1/2)``, uniform phase;
- ``coherent`` (paper 003 Eq. 18): ``alpha ~ CN(0, 1/2)``, ``beta = sqrt(2S) + CN(0, 1/2)``;
- ``sphere``: transverse components Gaussian with variance ``S/2 + 1/8`` placed on the sphere
  of radius ``L = S + 1/2``, ``s_z = -sqrt(L^2 - s_perp^2)`` (any Schwinger-boson amplitudes
  with ``|alpha|^2 = L + s_z``, ``|beta|^2 = L - s_z`` carry these spin symbols, and only they
  enter). Not an exact Wigner function of ``m = -S`` (its Weyl ``Var(S_z)`` is about
  ``1/8``, not 0): a check that no simple sampling removes the truncation error.
"""

import argparse
import math
import os
import platform
import sys
import time

import numpy as np
import scipy
from scipy.special import gammaln

HERE = os.path.dirname(os.path.abspath(__file__))
S_LIST = (10, 25, 50, 100, 200, 400, 1000)
KINDS = ("fock", "coherent", "sphere")
SIZES = {"full": dict(n=2_000_000, s=S_LIST), "quick": dict(n=20_000, s=(10, 25, 100))}
FIT_S = (50, 1000)  # range of the fitted exponent of |rel. error| (Fock)
N_BATCH = 20
MU_GRID = np.linspace(0.7, 1.3, 61)  # times the exact optimum


# ------------------------------------------------------------------ exact
def ku_moments(sp, mu):
    """Kitagawa-Ueda moments of spin length ``sp`` from ``m = -sp`` at twisting angle ``mu``.

    Returns ``(m, v_par, v_tw, c)`` (broadcast over ``sp`` and ``mu``): the mean spin length
    ``m = sp cos^(2sp-1)(mu/2)`` (along ``-z``), ``Var(S_x) = sp/2`` (conserved),
    ``Var(S_y) = sp/2 + sp (2sp-1) A / 4`` with ``A = 1 - cos^(2sp-2) mu`` and
    ``Cov(S_x, S_y) = (sp/2)((2sp-1)/4) B`` with ``B = 4 sin(mu/2) cos^(2sp-2)(mu/2)``.
    """
    sp = np.asarray(sp, float)
    c2 = np.cos(mu / 2)
    a = 1 - np.cos(mu) ** (2 * sp - 2)
    b = 4 * np.sin(mu / 2) * c2 ** (2 * sp - 2)
    cc = (2 * sp - 1) / 4
    return sp * c2 ** (2 * sp - 1), sp / 2 + 0 * mu, sp / 2 + sp * cc * a, (sp / 2) * cc * b


def lam_min(v_par, v_tw, c):
    """The smaller eigenvalue of the transverse covariance ``[[v_par, c], [c, v_tw]]``."""
    return 0.5 * (v_par + v_tw) - np.sqrt(0.25 * (v_par - v_tw) ** 2 + c**2)


def xi2_from(m, v_par, v_tw, c, s):
    """``2 s lambda_min / m^2`` of the transverse covariance ``[[v_par, c], [c, v_tw]]``."""
    return 2 * s * lam_min(v_par, v_tw, c) / m**2


def exact_xi2(s, mu):
    """xi^2 of the pure state (closed form) at twisting angles ``mu``."""
    return xi2_from(*ku_moments(s, mu), s)


def poisson_weights(mean):
    """Boson numbers ``n >= 1`` within 12 standard deviations of ``mean`` and their weights."""
    sd = math.sqrt(mean)
    n = np.arange(max(1, int(mean - 12 * sd)), int(mean + 12 * sd) + 2)
    return n, np.exp(n * math.log(mean) - mean - gammaln(n + 1))


def mixture_xi2(s, mu):
    """xi^2 of the Poisson(2S) mixture of spin lengths ``n/2`` (the ``n = 0`` sector adds 0)."""
    n, p = poisson_weights(2 * s)
    mom = ku_moments((n / 2)[:, None], np.atleast_1d(mu)[None, :])
    return xi2_from(*[(p[:, None] * x).sum(0) for x in mom], s)


def min_over_mu(f, mu_max, n=4000):
    """Minimum of ``f`` over ``(0, mu_max]``: a grid of ``n`` points, then golden section."""
    mus = np.linspace(mu_max / n, mu_max, n)
    i = int(np.nanargmin(f(mus)))
    a, b = mus[max(i - 1, 0)], mus[min(i + 1, n - 1)]
    g = (math.sqrt(5) - 1) / 2
    for _ in range(60):
        c1, c2 = b - g * (b - a), a + g * (b - a)
        if f(np.array([c1]))[0] < f(np.array([c2]))[0]:
            b = c2
        else:
            a = c1
    mu = 0.5 * (a + b)
    return float(f(np.array([mu]))[0]), float(mu)


def exact_by_diag(s, mus):
    """``(<S_z>, Var S_x, Var S_y, Cov(S_x, S_y))`` at each ``mu`` by diagonalising ``S_x``."""
    dim = int(round(2 * s + 1))
    m = -s + np.arange(dim)
    sp = np.diag(np.sqrt(s * (s + 1) - m[:-1] * (m[:-1] + 1)), -1)
    sx, sy, sz = 0.5 * (sp + sp.T), -0.5j * (sp - sp.T), np.diag(m)
    ev, u = np.linalg.eigh(sx)
    c0 = u[0].conj()  # <x_k | m = -s>
    sym = 0.5 * (sx @ sy + sy @ sx)
    out = []
    for mu in mus:
        psi = u @ (np.exp(-0.5j * mu * ev**2) * c0)  # exp(-i (mu/2) S_x^2), chi t = mu / 2
        ex, ey, ez, exx, eyy, exy = (
            float(np.real(psi.conj() @ op @ psi)) for op in (sx, sy, sz, sx @ sx, sy @ sy, sym)
        )
        out.append((ez, exx - ex**2, eyy - ey**2, exy - ex * ey))
    return np.array(out)


# ------------------------------------------------------------------ samplings + TWOQS
def fock_down(s, e_a, ph_a, e_b, ph_b):
    """The package's Wigner Fock sample of ``m = -s`` from exponentials and phases.

    ``alpha = sqrt(e_a / 2) e^{i ph_a}``, ``beta = sqrt(2s + e_b / 2) e^{i ph_b}`` with
    ``e ~ Exp(1)``, ``ph`` uniform: what ``sample_down(polar, ..., k=0,
    fock_sampling="fock")`` returns for ``polar(r) = (e_r, cos ph_r, sin ph_r)``.
    """
    return np.sqrt(0.5 * e_a) * np.exp(1j * ph_a), np.sqrt(2 * s + 0.5 * e_b) * np.exp(1j * ph_b)


def spins(alpha, beta):
    """Spin symbols ``(s_x, s_y, s_z)`` of Schwinger-boson amplitudes."""
    sp = np.conj(alpha) * beta
    return sp.real, sp.imag, 0.5 * (np.abs(alpha) ** 2 - np.abs(beta) ** 2)


def sample(rng, s, n, kind):
    """``n`` initial spin symbols ``(s_x, s_y, s_z)`` of ``m = -s`` (module docstring)."""
    if kind == "fock":
        ph = rng.uniform(0, 2 * np.pi, (2, n))
        e = rng.standard_exponential((2, n))
        return spins(*fock_down(s, e[0], ph[0], e[1], ph[1]))
    if kind == "coherent":
        z = 0.5 * rng.standard_normal((4, n))  # CN(0, 1/2): each part of variance 1/4
        return spins(z[0] + 1j * z[1], math.sqrt(2 * s) + z[2] + 1j * z[3])
    if kind == "sphere":
        ell = s + 0.5
        x, y = rng.standard_normal((2, n)) * math.sqrt(s / 2 + 1 / 8)
        return x, y, -np.sqrt(np.maximum(ell * ell - x * x - y * y, 0.0))
    raise ValueError(f"kind={kind!r}: expected one of {KINDS}")


def twoqs_sums(sx, sy, sz, mus):
    """Sums over samples of ``(s_x, s_y, s_z, s_x^2, s_y^2, s_x s_y)`` after the exact flow.

    Shape ``(6, len(mus))``: the Bloch vector rotated about ``x`` by ``mu s_x``.
    """
    ph = mus[:, None] * sx[None, :]
    c, sn = np.cos(ph), np.sin(ph)
    y = sy * c - sz * sn
    z = sz * c + sy * sn
    k = len(mus)
    return np.stack(
        [np.full(k, sx.sum()), y.sum(1), z.sum(1), np.full(k, (sx * sx).sum()), (y * y).sum(1)]
        + [(y * sx).sum(1)]
    )


def xi2_of_means(mom, s):
    """xi^2 from sample means of the six primitives (Weyl: ``S_a^2 -> s_a^2 - 1/8``)."""
    vx = mom[3] - 0.125 - mom[0] ** 2
    vy = mom[4] - 0.125 - mom[1] ** 2
    lam = lam_min(vx, vy, mom[5] - mom[0] * mom[1])
    return 2 * s * lam / mom[2] ** 2, lam


def twoqs_min_xi2(s, kind, n, mu_opt, seed, chunk=40_000):
    """TWOQS min xi^2 over the grid ``MU_GRID * mu_opt`` and its batch standard error."""
    mus = MU_GRID * mu_opt
    rng = np.random.default_rng([seed, int(round(2 * s)), KINDS.index(kind)])
    per = n // N_BATCH
    batch_sums = []
    for _ in range(N_BATCH):
        tot = np.zeros((6, len(mus)))
        for lo in range(0, per, chunk):
            tot += twoqs_sums(*sample(rng, s, min(chunk, per - lo), kind), mus)
        batch_sums.append(tot)
    mins = [xi2_of_means(b / per, s)[0].min() for b in batch_sums]
    xi2, lam = xi2_of_means(sum(batch_sums) / (per * N_BATCH), s)
    i = int(np.argmin(xi2))
    return dict(
        xi2=float(xi2[i]),
        sem=float(np.std(mins, ddof=1) / math.sqrt(N_BATCH)),
        mu=float(mus[i]),
        lam=float(lam[i]),
        grid_edge=bool(i in (0, len(mus) - 1)),
        n=per * N_BATCH,
    )


def run_s(s, n, seed, kinds=KINDS):
    """Every number of one ``S``: exact, mixture and each sampling's TWOQS."""
    mu_max = 12.0 * s ** (-2 / 3)
    xe, mue = min_over_mu(lambda mu: exact_xi2(s, mu), mu_max)
    xm, mum = min_over_mu(lambda mu: mixture_xi2(s, mu), mu_max)
    lam_exact = float(lam_min(*ku_moments(s, mue)[1:]))
    row = dict(S=s, exact=xe, mu_exact=mue, lam_exact=lam_exact, mixture=xm, mu_mixture=mum)
    for kind in kinds:
        r = twoqs_min_xi2(s, kind, n, mue, seed)
        r["rel_err"] = r["xi2"] / xe - 1
        r["rel_sem"] = r["sem"] / xe
        if kind == "coherent":
            r["rel_err_vs_mixture"] = r["xi2"] / xm - 1
        row[kind] = r
    return row


def fit_exponent(rows, kind="fock", s_range=FIT_S):
    """Weighted least-squares slope of ``log|rel. error|`` against ``log S`` over ``s_range``.

    Weights from the batch standard errors (``sigma_log = sem / |error|``); ``exponent_err``
    is the slope's standard error from those weights alone, ``chi2_dof`` their fit quality.
    """
    pts = [r for r in rows if s_range[0] <= r["S"] <= s_range[1]]
    if len(pts) < 3:
        return None
    x = np.log([r["S"] for r in pts])
    y = np.log([abs(r[kind]["rel_err"]) for r in pts])
    sig = np.array([r[kind]["rel_sem"] / abs(r[kind]["rel_err"]) for r in pts])
    (slope, icpt), cov = np.polyfit(x, y, 1, w=1 / sig, cov="unscaled")
    chi2 = float((((y - slope * x - icpt) / sig) ** 2).sum())
    return dict(
        kind=kind,
        s_range=list(s_range),
        exponent=float(slope),
        exponent_err=float(math.sqrt(cov[0, 0])),
        prefactor=math.exp(icpt),
        chi2_dof=chi2 / (len(pts) - 2),
    )


def markdown(doc):
    rows, mach = doc["rows"], doc["machine"]
    out = [
        "# One-axis twisting: TWOQS truncation error in min xi^2",
        "",
        f"Command: `{doc['command']}`; {doc['n']} samples per point, seed {doc['seed']}, "
        f"{doc['seconds']:.0f} s.",
        f"Machine: {mach['cpu']}, {mach['cores']} cores, load {mach['load']}; Python "
        f"{mach['python']}, NumPy {mach['numpy']}, SciPy {mach['scipy']}.",
        "",
        "Exact flow of H = (g/2S) S_x^2 (no step error); TWOQS min over 61 mu points "
        f"(0.7..1.3 of the exact optimum); sem from {N_BATCH} batches. Relative errors against the "
        "exact pure state; coherent also against its own target, the Poisson mixture.",
        "",
        "| S | exact pure (mu*) | Poisson mixture | "
        + " | ".join(f"{k} (sem) | rel. err. (sem)" for k in doc["kinds"])
        + " | coherent vs mixture |",
        "|---|---|---|" + "---|---|" * len(doc["kinds"]) + "---|",
    ]
    for r in rows:
        cells = [
            f"{r['S']}",
            f"{r['exact']:.5f} ({r['mu_exact']:.4f})",
            f"{r['mixture']:.5f} ({(r['mixture'] / r['exact'] - 1) * 100:+.1f} %)",
        ]
        for k in doc["kinds"]:
            t = r[k]
            edge = " (grid edge!)" if t["grid_edge"] else ""
            cells.append(f"{t['xi2']:.5f} ({t['sem']:.5f}){edge}")
            cells.append(f"{t['rel_err'] * 100:+.1f} % ({t['rel_sem'] * 100:.1f})")
        cv = r.get("coherent", {}).get("rel_err_vs_mixture")
        cells.append("" if cv is None else f"{cv * 100:+.1f} %")
        out.append("| " + " | ".join(cells) + " |")
    out += ["", "Relative error of min xi^2 against the exact pure state (as in the docs):", ""]
    out.append("| S | " + " | ".join(str(r["S"]) for r in rows) + " |")
    out.append("|---" * (len(rows) + 1) + "|")
    for k in doc["kinds"]:
        out.append(
            f"| {k} sampling | "
            + " | ".join(f"{r[k]['rel_err'] * 100:+.1f} %" for r in rows)
            + " |"
        )
    if "fock" in doc["kinds"]:
        out += ["", "Fock: min variance lambda (TWOQS - exact at each one's optimum):", ""]
        out.append(
            ", ".join(f"S = {r['S']}: {r['fock']['lam'] - r['lam_exact']:+.3f}" for r in rows)
        )
    fit = doc.get("fit")
    if fit:
        out += [
            "",
            f"Fit |rel. err.| of {fit['kind']} = {fit['prefactor']:.3f} S^({fit['exponent']:.3f}"
            f" +- {fit['exponent_err']:.3f}) over S = {fit['s_range'][0]}..{fit['s_range'][1]}"
            f" (weighted by the batch sem, chi2/dof {fit['chi2_dof']:.2f}).",
        ]
    if any(r[k]["grid_edge"] for r in rows for k in doc["kinds"]):
        out += ["", "WARNING: a TWOQS minimum lies at the edge of its mu grid (marked)."]
    return "\n".join(out) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="S = 10, 25, 100; 20k samples")
    ap.add_argument("--n", type=int, help="samples per point (default 2e6, quick 20k)")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    args = ap.parse_args(argv)
    size = SIZES["quick" if args.quick else "full"]
    n = args.n or size["n"]
    if n < 100 * N_BATCH:
        ap.error(f"--n {n}: at least {100 * N_BATCH} samples ({N_BATCH} batches)")
    sys.path.insert(0, HERE)
    from _shared import cpu_model, load_average, write_results

    t0 = time.process_time()
    rows = []
    for s in size["s"]:
        rows.append(run_s(s, n, args.seed))
        r = rows[-1]
        print(
            f"S={s:5d} exact {r['exact']:.5f} mixture {r['mixture']:.5f} "
            + " ".join(f"{k} {r[k]['rel_err'] * 100:+.1f}%" for k in KINDS),
            flush=True,
        )
    cmd = "python benchmarks/oat_truncation.py" + (" --quick" if args.quick else "")
    if args.n:
        cmd += f" --n {args.n}"
    if args.seed != 2026:
        cmd += f" --seed {args.seed}"
    doc = dict(
        command=cmd,
        n=n,
        seed=args.seed,
        kinds=list(KINDS),
        mu_grid=[float(MU_GRID[0]), float(MU_GRID[-1]), len(MU_GRID)],
        seconds=time.process_time() - t0,
        machine=dict(
            cpu=cpu_model(),
            cores=os.cpu_count(),
            load=load_average(),
            node=platform.node(),
            python=platform.python_version(),
            numpy=np.__version__,
            scipy=scipy.__version__,
        ),
        rows=rows,
        fit=fit_exponent(rows),
    )
    text = markdown(doc)
    stem = os.path.join(args.out, "oat_truncation" + ("_quick" if args.quick else ""))
    write_results(stem, doc, text)
    print(text)


if __name__ == "__main__":
    main()
