"""Analytic mean-field steady state of the central spin model (paper 002 Eqs. 7-9).

Valid on resonance (``omega = eps``, ``w_x = w_z = 0``) without central pump. With
``Gamma_T = Gamma_up + Gamma_down``, ``Gamma_Delta = Gamma_up - Gamma_down``: the central spin
stays down (``<s0z> = -1``) for ``Gamma_up / Gamma_T <= R_c = (1 + Gamma_T kappa / (4 g^2 N))/2``;
above it (the lasing, U(1)-broken solution)

    <s0z> = -(1 - Gamma_Delta N / kappa)/2 - sqrt((1 - Gamma_Delta N / kappa)^2 + Gamma_T^2/g^2)/2
    <snz> = -kappa Gamma_T / (4 g^2 N <s0z>)
    |<s0+>|^2 = -<s0z> (1 + <s0z>) / 2,   <sn+> = i kappa <s0+> / (2 g N <s0z>).
"""

import numpy as np

from .model import CentralSpinModel


def critical_pump_ratio(model: CentralSpinModel) -> float:
    """``R_c = (1 + Gamma_T kappa / (4 g^2 N)) / 2`` (paper 002, Sec. III A)."""
    gt = float(model.Gamma_up + model.Gamma_down)
    return 0.5 * (1 + gt * float(model.kappa) / (4 * float(model.g) ** 2 * model.N))


def central_meanfield_analytic(model: CentralSpinModel) -> dict:
    """Paper 002 Eqs. 7-9: ``{"sz0", "szn", "abs_sp0_sq", "lasing", "R_c"}`` (floats).

    Raises:
        ValueError: off resonance, with a central drive or pump (the formula does not apply).
    """
    if not isinstance(model, CentralSpinModel):
        raise ValueError(f"`model` must be a CentralSpinModel, got {type(model)}.")
    for name in ("w_x", "w_z", "kappa_up"):
        if float(getattr(model, name)) != 0:
            raise ValueError(f"Eqs. 7-9 need `{name}` = 0, got {float(getattr(model, name))!r}.")
    if float(model.omega) != float(model.eps):
        raise ValueError(
            f"Eqs. 7-9 need omega == eps, got omega = {float(model.omega)!r}, "
            f"eps = {float(model.eps)!r}."
        )
    N, k, g = model.N, float(model.kappa), float(model.g)
    gu, gd = float(model.Gamma_up), float(model.Gamma_down)
    gt, gdel = gu + gd, gu - gd
    rc = critical_pump_ratio(model)
    if gu / gt <= rc:
        return {"sz0": -1.0, "szn": gdel / gt, "abs_sp0_sq": 0.0, "lasing": False, "R_c": rc}
    a = 1 - gdel * N / k
    sz0 = -0.5 * a - 0.5 * np.sqrt(a**2 + gt**2 / g**2)
    szn = -k * gt / (4 * g**2 * N * sz0)
    return {"sz0": sz0, "szn": szn, "abs_sp0_sq": -sz0 * (1 + sz0) / 2, "lasing": True, "R_c": rc}
