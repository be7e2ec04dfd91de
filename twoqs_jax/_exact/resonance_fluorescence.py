"""Analytic steady state of cooperative resonance fluorescence (the driven spin), any S.

:func:`twoqs_jax.driven_spin` is ``H = Omega S_x`` with ``kappa D[S^-]``, ``kappa = Gamma/S``
(standard dissipator, hbar = 1). Its steady state is known in closed form (Puri & Lawande,
Phys. Lett. A 72, 200 (1979); Carmichael, J. Phys. B 13, 3551 (1980)), so its moments cost
``O(S)`` instead of a sparse LU of a ``(2S+1)^2``-dimensional Liouvillian.
"""

import math

import numpy as np

from .._checks import check_positive, check_spin_length


def _real_scalar(name: str, value) -> float:
    """``value`` as a Python float, raising a ValueError naming ``name`` otherwise."""
    arr = np.asarray(value)
    if arr.ndim != 0 or arr.dtype.kind not in "biuf" or arr.dtype.kind == "b":
        raise ValueError(f"`{name}` must be a real scalar, got {value!r}.")
    x = float(arr)
    if not math.isfinite(x):
        raise ValueError(f"`{name}` must be finite, got {value!r}.")
    return x


def _log1pexp(x: float) -> float:
    """``log(1 + exp(x))`` without overflow."""
    return x + math.log1p(math.exp(-x)) if x > 0 else math.log1p(math.exp(x))


def driven_spin_steady_state(S: float, Omega: float, Gamma: float = 1.0) -> dict:
    """Exact steady-state moments of ``driven_spin(S, Omega, Gamma)`` from the closed form.

    Master equation (standard dissipator, hbar = 1, ``kappa = Gamma / S``)::

        drho/dt = -i Omega [S_x, rho] + kappa (S^- rho S^+ - {S^+ S^-, rho} / 2)

    Steady state (Puri & Lawande, Phys. Lett. A 72, 200 (1979); Carmichael, J. Phys. B 13,
    3551 (1980))::

        rho_ss = X^+ X / Tr(X^+ X),   X = sum_{n=0}^{2S} (S^+ / g)^n = (1 - S^+ / g)^{-1},
        g = i Omega / kappa = i Omega S / Gamma.

    (With ``H = +Omega S_x``; the other sign of ``g`` or ``X X^+`` is not stationary. For
    ``S = 1/2`` it is the optical-Bloch steady state ``<S_z> = -1 / (2 (1 + 2 |g|^2))``.)

    In the Dicke basis ``|m_i>``, ``m_i = -S + i``, ``X`` is lower triangular and, with
    ``c_i = sqrt(S(S+1) - m_i (m_i + 1))``, ``w_b = sum_j |X_{jb}|^2`` obeys
    ``w_{2S} = 1``, ``w_b = 1 + c_b^2 w_{b+1} / |g|^2``; the whole state follows:
    ``rho_{ab} = (g^*)^{-(b-a)} c_a ... c_{b-1} w_b / sum w`` for ``a <= b``. So
    ``P(m_b) = w_b / sum w``, ``<S^+> = sum_b c_b^2 w_{b+1} / (g^* sum w)``, i.e.
    ``<S_x> = 0`` and ``<S_y> = <S^+ S^-> / |g| = kappa <S^+ S^-> / Omega`` (the stationary
    Ehrenfest equation for ``S_z``); also ``<S^+ S^-> = |g|^2 (1 - (2S+1) / sum w)``, so
    below threshold ``<S_y> = |g| = Omega S / Gamma`` up to exponentially small terms.
    ``Tr rho^2 = sum_b w_b^2 (2 u_b - 1) / (sum w)^2`` with ``u_0 = 1``,
    ``u_b = 1 + c_{b-1}^2 u_{b-1} / |g|^2``. The recursions run in logarithms (``w_0``
    reaches ``(2S)!^2 / |g|^{4S}``), with a log-sum-exp normalisation.

    Cost: ``O(S)`` time and memory (two Python loops over the ``2S + 1`` levels): about
    1 ms at ``S = 1000`` and 15 ms at ``S = 5000`` on one CPU core, where the QuTiP steady
    state already takes 0.2 s at ``S = 40``. Float64 NumPy only, no JAX.

    Args:
        S: spin length, a positive integer or half-integer.
        Omega: drive amplitude (real, finite). ``Omega = 0`` gives ``|S, -S>``.
        Gamma: collective decay, ``kappa = Gamma / S`` (> 0).

    Returns:
        dict of floats: ``"Sz"``, ``"Sz2"`` (``<S_z^2>``), ``"SpSm"`` (``<S^+ S^->``), ``"Sx"``,
        ``"Sy"`` and ``"purity"`` (``Tr rho^2``).

    Examples:
        >>> import twoqs_jax as tq
        >>> r = tq.driven_spin_steady_state(1000, Omega=0.5)
        >>> round(r["Sz"] / 1000, 3)  # mean field: -sqrt(1 - 0.5**2) = -0.866
        -0.866
    """
    S = _real_scalar("S", S)
    check_spin_length("S", S)
    Omega = _real_scalar("Omega", Omega)
    Gamma = _real_scalar("Gamma", Gamma)
    check_positive("Gamma", Gamma)
    D = int(round(2 * S)) + 1
    S = (D - 1) / 2
    if Omega == 0.0:
        return {"Sz": -S, "Sz2": S * S, "SpSm": 0.0, "Sx": 0.0, "Sy": 0.0, "purity": 1.0}

    kappa = Gamma / S
    log_g2 = 2 * math.log(abs(Omega) / kappa)  # log |g|^2
    m = -S + np.arange(D)
    c2 = S * (S + 1) - m[:-1] * (m[:-1] + 1)  # c_i^2 = |<m_i + 1|S^+|m_i>|^2, i < 2S
    t = (np.log(c2) - log_g2).tolist()  # log(c_i^2 / |g|^2)

    log_w = [0.0] * D  # w_b = 1 + (c_b^2/|g|^2) w_{b+1}, w_{2S} = 1
    for b in range(D - 2, -1, -1):
        log_w[b] = _log1pexp(t[b] + log_w[b + 1])
    log_u = [0.0] * D  # u_b = sum_{a<=b} |rho_ab|^2 / rho_bb^2 = 1 + (c_{b-1}^2/|g|^2) u_{b-1}
    for b in range(1, D):
        log_u[b] = _log1pexp(t[b - 1] + log_u[b - 1])
    log_w = np.asarray(log_w)
    log_u = np.asarray(log_u)

    log_z = np.logaddexp.reduce(log_w)
    p = np.exp(log_w - log_z)  # P(m_b)
    sz = float(p @ m)
    sz2 = float(p @ (m * m))
    spsm = float(p[1:] @ c2)  # S^+ S^- |m_{b}> = c_{b-1}^2 |m_b>, no cancellation
    # Tr rho^2 = sum_b w_b^2 (2 u_b - 1) / (sum w)^2; log(2u - 1) = log u + log(2 - 1/u)
    log_terms = 2 * log_w + log_u + np.log(2 - np.exp(-log_u))
    purity = float(np.exp(np.logaddexp.reduce(log_terms) - 2 * log_z))
    sy = spsm * kappa / Omega
    return {"Sz": sz, "Sz2": sz2, "SpSm": spsm, "Sx": 0.0, "Sy": sy, "purity": purity}


def _sigmoid(x: float) -> float:
    """``1 / (1 + exp(-x))`` without overflow."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def driven_spin_steady_state_derivative(S: float, Omega: float, Gamma: float = 1.0) -> dict:
    """Closed-form steady-state moments of the driven spin and their exact derivatives.

    Every moment of :func:`driven_spin_steady_state` but ``<S_y>`` depends on
    ``(Omega, Gamma)`` only through ``x = log |g|^2 = 2 log(|Omega| S / Gamma)``, so the
    recursions are differentiated in ``x`` (forward mode, carried through the same loops):
    with ``t_b = log c_b^2 - x`` and ``sigma`` the logistic function,

        d log w_b / dx = sigma(t_b + log w_{b+1}) (d log w_{b+1}/dx - 1),
        d log u_b / dx = sigma(t_{b-1} + log u_{b-1}) (d log u_{b-1}/dx - 1),
        dP_b / dx = P_b (d log w_b/dx - sum_a P_a d log w_a/dx),

    then ``d/dOmega = (2 / Omega) d/dx`` and ``d/dGamma = -(2 / Gamma) d/dx``, and
    ``<S_y> = kappa <S^+ S^-> / Omega`` (``kappa = Gamma / S``) by the product rule. Exact
    up to round-off (tested against central differences and against the Liouvillian
    derivative of :func:`twoqs_jax.exact.steady_state_derivative`); ``O(S)`` cost.

    Args:
        S: spin length, a positive integer or half-integer.
        Omega: drive amplitude (real, finite, nonzero: the moments depend on ``Omega^2``,
            and at ``Omega = 0`` their derivatives vanish but that of ``<S_y>`` does not).
        Gamma: collective decay, ``kappa = Gamma / S`` (> 0).

    Returns:
        dict with ``"value"``, ``"Omega"`` (``d/dOmega``) and ``"Gamma"`` (``d/dGamma``),
        each a dict of floats with the keys of :func:`driven_spin_steady_state`
        (``Sz``, ``Sz2``, ``SpSm``, ``Sx``, ``Sy``, ``purity``).

    Examples:
        >>> import twoqs_jax as tq
        >>> d = tq.exact.driven_spin_steady_state_derivative(20, 1.5)
        >>> round(d["Omega"]["Sz"] / 20, 4)  # d(<S_z>/S)/dOmega above threshold
        0.0331
    """
    S = _real_scalar("S", S)
    check_spin_length("S", S)
    Omega = _real_scalar("Omega", Omega)
    if Omega == 0.0:
        raise ValueError(
            "`Omega` must be nonzero for the derivative, got 0.0 (use "
            "driven_spin_steady_state for the value; the moments are even in Omega)."
        )
    Gamma = _real_scalar("Gamma", Gamma)
    check_positive("Gamma", Gamma)
    value = driven_spin_steady_state(S, Omega, Gamma)
    D = int(round(2 * S)) + 1
    S = (D - 1) / 2
    kappa = Gamma / S
    log_g2 = 2 * math.log(abs(Omega) / kappa)
    m = -S + np.arange(D)
    c2 = S * (S + 1) - m[:-1] * (m[:-1] + 1)
    t = (np.log(c2) - log_g2).tolist()
    log_w, dlog_w = [0.0] * D, [0.0] * D
    for b in range(D - 2, -1, -1):
        arg = t[b] + log_w[b + 1]
        log_w[b] = _log1pexp(arg)
        dlog_w[b] = _sigmoid(arg) * (dlog_w[b + 1] - 1.0)
    log_u, dlog_u = [0.0] * D, [0.0] * D
    for b in range(1, D):
        arg = t[b - 1] + log_u[b - 1]
        log_u[b] = _log1pexp(arg)
        dlog_u[b] = _sigmoid(arg) * (dlog_u[b - 1] - 1.0)
    log_w, dlog_w = np.asarray(log_w), np.asarray(dlog_w)
    log_u, dlog_u = np.asarray(log_u), np.asarray(dlog_u)
    p = np.exp(log_w - np.logaddexp.reduce(log_w))
    dp = p * (dlog_w - p @ dlog_w)
    inv_u = np.exp(-log_u)
    log_terms = 2 * log_w + log_u + np.log(2 - inv_u)
    dterms = 2 * dlog_w + dlog_u + inv_u * dlog_u / (2 - inv_u)
    weights = np.exp(log_terms - np.logaddexp.reduce(log_terms))
    dx = {
        "Sz": float(dp @ m),
        "Sz2": float(dp @ (m * m)),
        "SpSm": float(dp[1:] @ c2),
        "Sx": 0.0,
        "purity": value["purity"] * float(weights @ dterms - 2 * p @ dlog_w),
    }
    d_om = {k: 2.0 / Omega * v for k, v in dx.items()}
    d_ga = {k: -2.0 / Gamma * v for k, v in dx.items()}
    sy = value["Sy"]
    d_om["Sy"] = d_om["SpSm"] * kappa / Omega - sy / Omega
    d_ga["Sy"] = d_ga["SpSm"] * kappa / Omega + sy / Gamma
    return {"value": value, "Omega": d_om, "Gamma": d_ga}
