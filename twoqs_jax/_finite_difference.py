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


def differences(
    vals: np.ndarray, n_par: int, h: float, richardson: bool, steps: np.ndarray | None = None
) -> np.ndarray:
    """Per-trajectory derivative estimates from values at the :func:`offsets`.

    Args:
        vals: ``(c, K, *shape)`` values of every trajectory at the ``K`` points.
        steps: ``(n_scales, n_par)`` half-distances ``(p_+ - p_-)/2`` of the points actually
            run (:func:`realised_steps`; in float32 ``p +- h`` is rounded); ``None``: the
            nominal ``h`` (and ``2h``).

    Returns:
        ``(c, *shape, n_par)``: ``[O(p + h e_j) - O(p - h e_j)] / 2h`` per trajectory, or the
        Richardson combination ``(4 D(h) - D(2h)) / 3``.
    """
    if steps is None:
        steps = np.array([[s * h] * n_par for s in ((1, 2) if richardson else (1,))])

    def central(s):
        first = 1 + (s - 1) * 2 * n_par
        plus = vals[:, first : first + 2 * n_par : 2]
        minus = vals[:, first + 1 : first + 2 * n_par : 2]
        return np.moveaxis(plus - minus, 1, -1) / (2 * steps[s - 1])

    d = central(1)
    if richardson:
        d = (4 * d - central(2)) / 3
    return d


def realised_steps(points: np.ndarray, n_par: int, richardson: bool) -> np.ndarray:
    """``(n_scales, n_par)``: ``(p_+ - p_-)/2`` of the points of :func:`offsets` as run."""
    out = []
    for s in (1, 2) if richardson else (1,):
        first = 1 + (s - 1) * 2 * n_par
        plus, minus = (
            points[first : first + 2 * n_par : 2],
            points[first + 1 : first + 2 * n_par : 2],
        )
        out.append(np.diagonal(plus - minus) / 2)
    return np.array(out)


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


def piece(vals: dict, points: np.ndarray, h: float, richardson: bool) -> dict:
    """Per-trajectory values at ``p`` and derivative estimates ``"d/" + name`` (parameters
    last) from a chunk's values ``(c, K, ...)`` at the ``points`` (:func:`check_points`),
    divided by the steps as run.
    """
    n_par = points.shape[1]
    steps = realised_steps(points, n_par, richardson)
    out = {}
    for k, v in vals.items():
        v = np.asarray(v, np.float64)
        out[k], out["d/" + k] = v[:, 0], differences(v, n_par, h, richardson, steps)
    return out


def check_points(make_model, vec, unflatten, h: float, richardson: bool, dtype=None) -> np.ndarray:
    """The parameter points ``(K, n_par)`` as the run sees them (rounded to ``vec``'s dtype
    and to the run's ``dtype``); every model on them is built and validated first, so that a
    step that leaves the model's domain (a negative rate), or one lost to rounding, is an
    error naming ``h``.
    """
    n_par = int(np.size(vec))
    pts = np.asarray(vec, np.float64)[None, :] + offsets(n_par, h, richardson)
    # the points as the run sees them: in the parameters' dtype (float32 rounds p +- h)
    pts = np.asarray(jnp.asarray(pts, vec.dtype), np.float64)
    if dtype is not None:  # the trajectories cast the model's parameters to the run's dtype
        pts = np.asarray(jnp.asarray(pts, dtype), np.float64)
    steps = realised_steps(pts, n_par, richardson)
    for j in range(n_par):
        if not np.all(steps[:, j] > 0.5 * h * np.array([1, 2][: len(steps)])):
            raise ValueError(
                f"`h`={h!r} of tq.FiniteDifference is lost to rounding at parameter {j} "
                f"(value {float(np.asarray(vec)[j])!r} in {dtype or vec.dtype}: the step run is "
                f"{float(steps[0, j])!r}); use a larger `h` or float64 "
                "(jax_enable_x64)."
            )
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
