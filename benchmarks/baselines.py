"""NumPy baselines of the package's default TWOQS SDE, for like-for-like speed ratios.

The driven spin (paper 003 Eq. 29): ``H = Omega S_x``, decay ``L = S^-`` at
``kappa = Gamma / S`` (standard dissipator), from spin down, Wigner representation, Ito,
Euler-Maruyama, exactly what ``tq.TWOQS(tq.EulerMaruyama(dt, noise))`` integrates by
default (docs/derivations/twoqs.md): Fock sampling of the initial state, the tangential
decay noise, and the spin-length projection. Written as a physicist writes it (complex
arithmetic, one NumPy call per term), vectorised over trajectories::

    xi     = (dW1 + i dW2) / sqrt(2)                        (E|xi|^2 = dt)
    dalpha = [-i (Omega/2) beta  - (kappa/2)(|beta|^2 + 1/2) alpha] dt + sqrt(kappa/2) beta xi
    dbeta  = [-i (Omega/2) alpha + (kappa/2)(|alpha|^2 - 1/2) beta] dt
             - sqrt(kappa/2) alpha conj(xi)

then ``(alpha, beta)`` rescaled to its initial ``|alpha|^2 + |beta|^2`` (the projection).
Initial sample: ``alpha ~ CN(0, 1/2)``, ``|beta|^2 = 2S + Exp(mean 1/2)`` with a uniform
phase.

``increments`` chooses how the two real increments of variance ``dt`` per step and
trajectory are drawn (``np.random.default_rng``, PCG64):

- ``"gaussian"``: ``rng.standard_normal((2, n), dtype)`` (ziggurat), times ``sqrt(dt)``;
- ``"int8"``: two-point ``+-sqrt(dt)`` from ``rng.integers(0, 2, (2, n), dtype=int8)``;
- ``"packed"``: two-point from random bytes unpacked with ``np.unpackbits`` (one random bit
  per increment, the cheapest NumPy source of signs).

Examples:
    >>> from baselines import numpy_driven_spin
    >>> sz = numpy_driven_spin(100, 1.5, 4096, 16, 0.01, "float32", increments="packed")
"""

import numpy as np

INCREMENTS = ("gaussian", "int8", "packed")


def _increment_source(rng, increments, n, dt, dtype):
    """A function ``() -> (2, n)`` real increments of variance ``dt`` (dtype ``dtype``)."""
    sq = np.sqrt(np.asarray(dt, dtype))  # a dtype scalar: int8 * float32 stays float32
    if increments == "gaussian":
        return lambda: rng.standard_normal((2, n), dtype=dtype) * sq
    two_sq = 2 * sq
    if increments == "int8":
        return lambda: rng.integers(0, 2, (2, n), dtype=np.int8) * two_sq - sq
    if increments == "packed":
        n_bytes = (2 * n + 7) // 8

        def packed():
            bits = np.unpackbits(rng.integers(0, 256, n_bytes, dtype=np.uint8), count=2 * n)
            return bits.reshape(2, n) * two_sq - sq

        return packed
    raise ValueError(f"`increments` must be one of {INCREMENTS}, got {increments!r}.")


def numpy_driven_spin(
    S, omega, n_traj, n_steps, dt, dtype="float32", *, increments="gaussian", gamma=1.0, seed=0
):
    """``<S_z>/S`` at ``t = n_steps dt`` of the default TWOQS of the driven spin (module
    docstring); the work is ``n_traj * n_steps`` site-steps.

    Args:
        S, omega, gamma: spin length, drive ``Omega`` and ``Gamma`` (``kappa = Gamma/S``).
        n_traj, n_steps, dt: trajectories, Euler-Maruyama steps, time step.
        dtype: "float32" (complex64 amplitudes) or "float64" (complex128).
        increments: "gaussian", "int8" or "packed" (module docstring).
        seed: seed of ``np.random.default_rng``.

    Returns:
        ``(mean, standard error)`` of ``S_z / S`` over the trajectories.
    """
    rng = np.random.default_rng(seed)
    rdt = np.dtype(dtype)
    cdt = np.complex64 if rdt == np.float32 else np.complex128
    kappa = gamma / S
    half = 0.5 * omega
    a = ((rng.normal(size=n_traj) + 1j * rng.normal(size=n_traj)) * 0.5).astype(cdt)
    nb0 = 2 * S + rng.exponential(0.5, n_traj)
    b = (np.sqrt(nb0) * np.exp(2j * np.pi * rng.random(n_traj))).astype(cdt)
    r0 = np.sqrt(np.abs(a) ** 2 + np.abs(b) ** 2).astype(rdt)
    draw = _increment_source(rng, increments, n_traj, dt, rdt)
    c = rdt.type(np.sqrt(kappa / 4))  # sqrt(kappa/2) / sqrt(2)
    for _ in range(n_steps):
        w = draw()
        xi = c * (w[0] + 1j * w[1])
        na, nb = np.abs(a) ** 2, np.abs(b) ** 2
        da = (-1j * half * b - kappa / 2 * (nb + 0.5) * a) * dt + b * xi
        db = (-1j * half * a + kappa / 2 * (na - 0.5) * b) * dt - a * np.conj(xi)
        a, b = a + da, b + db
        s = r0 / np.sqrt(np.abs(a) ** 2 + np.abs(b) ** 2)
        a, b = a * s, b * s
    sz = 0.5 * (np.abs(a) ** 2 - np.abs(b) ** 2) / S
    return float(np.mean(sz)), float(np.std(sz) / np.sqrt(n_traj))
