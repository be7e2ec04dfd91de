r"""Central finite differences with common random numbers (:class:`FiniteDifference`).

Every trajectory ``i`` is run at the parameter points ``p`` and ``p +- h e_j`` (and
``p +- 2h e_j`` for Richardson extrapolation) with the same random numbers: its initial
sample and its increments are drawn from ``(key, i)`` only (as in :func:`twoqs_jax.solve`),
so its conserved spin lengths, its initial point and its noise are shared by all points. The
per-trajectory estimate of ``d<O>/dp_j`` is the paired difference

``D_i = [O_i(p + h e_j) - O_i(p - h e_j)] / 2h``

(Richardson: ``(4 D_i(h) - D_i(2h)) / 3``), whose mean is the central difference of the
expectations and whose standard error is that of the ``D_i``. Bias: the difference
quotient's, ``h^2 O'''/6`` (Richardson: ``-h^4 O^{(5)}/30``); variance: that of the paired
difference, which falls with the window length for a steady state and from which every
part shared by the two runs (the spin lengths) cancels. Derivation and measurements:
``docs/methods/gradients.md#finite-difference``.

This module builds the points and the compiled runs; :mod:`twoqs_jax._gradient` reduces them.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np


def offsets(n_par: int, h: float, richardson: bool) -> np.ndarray:
    """Parameter offsets ``(K, n_par)``: ``0``, then ``+h e_j, -h e_j`` for every ``j``, then
    (Richardson) ``+2h e_j, -2h e_j``.
    """
    eye = np.eye(n_par)
    rows = [np.zeros((1, n_par))]
    for s in (1, 2) if richardson else (1,):
        for j in range(n_par):
            rows.append(np.stack([s * h * eye[j], -s * h * eye[j]]))
    return np.concatenate(rows)


def differences(vals: np.ndarray, n_par: int, h: float, richardson: bool) -> np.ndarray:
    """Per-trajectory derivative estimates from values at the :func:`offsets`.

    Args:
        vals: ``(c, K, *shape)`` values of every trajectory at the ``K`` points.

    Returns:
        ``(c, *shape, n_par)``: ``[O(p + h e_j) - O(p - h e_j)] / 2h`` per trajectory, or the
        Richardson combination ``(4 D(h) - D(2h)) / 3``.
    """

    def central(s):
        first = 1 + (s - 1) * 2 * n_par
        plus = vals[:, first : first + 2 * n_par : 2]
        minus = vals[:, first + 1 : first + 2 * n_par : 2]
        return np.moveaxis((plus - minus) / (2 * s * h), 1, -1)

    d = central(1)
    if richardson:
        d = (4 * d - central(2)) / 3
    return d


@functools.lru_cache(maxsize=16)
def compiled_points(cfg, make_model, treedef, shapes):
    """``jit(vmap_i(vmap_k(trajectory)))``: the values (and clip counts) of a chunk of
    trajectories at a batch of parameter vectors ``(K, n_par)``; the random numbers depend on
    ``(key, i)`` only, so every point of trajectory ``i`` shares them (cached).
    """
    from ._gradient import _trajectory

    sizes = [int(np.prod(s)) for s in shapes]

    def unflatten(v):
        parts = jnp.split(v, np.cumsum(sizes)[:-1]) if len(sizes) > 1 else [v]
        return treedef.unflatten([q.reshape(s) for q, s in zip(parts, shapes, strict=True)])

    def per_traj(points, theta, phi, key, i):
        def at(v):
            return _trajectory(cfg, make_model, unflatten(v), theta, phi, key, i)

        return jax.vmap(at)(points)

    return jax.jit(jax.vmap(per_traj, in_axes=(None, None, None, None, 0)))


def piece(vals: dict, n_par: int, h: float, richardson: bool) -> dict:
    """Per-trajectory values at ``p`` and derivative estimates ``"d/" + name`` (parameters
    last) from a chunk's values ``(c, K, ...)`` at the :func:`offsets`.
    """
    out = {}
    for k, v in vals.items():
        v = np.asarray(v, np.float64)
        out[k], out["d/" + k] = v[:, 0], differences(v, n_par, h, richardson)
    return out


def check_points(make_model, vec, unflatten, h: float, richardson: bool) -> np.ndarray:
    """The parameter points ``(K, n_par)``; every model on them is built and validated first,
    so that a step that leaves the model's domain (a negative rate) is an error naming ``h``.
    """
    pts = np.asarray(vec)[None, :] + offsets(int(np.size(vec)), h, richardson)
    for p in pts[1:]:
        try:
            model = make_model(unflatten(jnp.asarray(p, vec.dtype)))
            model.validate()
        except (ValueError, TypeError) as err:
            raise ValueError(
                f"`h`={h!r} of tq.FiniteDifference moves the parameters to {p.tolist()}, where "
                f"the model is invalid ({err}); use a smaller `h`."
            ) from err
    return pts
