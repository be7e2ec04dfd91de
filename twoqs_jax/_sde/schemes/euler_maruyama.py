"""The Euler-Maruyama scheme (Ito, strong order 1/2, weak order 1)."""

from typing import ClassVar

import equinox as eqx

from ..._phase_space.drift import em_increment_real
from .base import AbstractItoScheme, check_dt_noise
from .increments import GaussianIncrements, TwoPointIncrements

NOISES = {"two_point": TwoPointIncrements, "gaussian": GaussianIncrements}
DEFAULT_NOISE = "two_point"


class EulerMaruyama(AbstractItoScheme):
    """Euler-Maruyama: ``z_{t+dt} = z_t + A(z_t) dt + B(z_t) dW`` (Ito).

    Attributes:
        dt: the step (> 0). With :class:`SaveAt`, every saving time relative to ``ts[0]``
            must be an integer multiple of ``dt``; with :class:`SteadyState`, so must
            ``t_burn``, ``t_avg`` and ``every``.
        noise: ``"two_point"`` (default): weak increments ``+-sqrt(dt)`` with probability
            1/2 each. They have the first three moments of Wiener increments, which is what
            the weak order 1 of Euler-Maruyama needs (Kloeden & Platen, the simplified weak
            Euler scheme), and cost one random bit each, read inside the fused step: 2x the
            Gaussian throughput on one CPU core (benchmarks/results/like_for_like.md). Every test
            against exact results passes with either; in the one case where both time-step
            errors were measured, the two-point one was smaller (docs/derivations/twoqs.md).
            ``"gaussian"``: ``sqrt(dt) N(0, 1)`` increments, needed when single trajectories
            should be Wiener paths (not only their averages).

    Examples:
        >>> import twoqs_jax as tq
        >>> scheme = tq.EulerMaruyama(dt=0.01)
    """

    dt: float = eqx.field(static=True)
    noise: str = eqx.field(static=True, default=DEFAULT_NOISE)

    def __init__(self, dt: float, noise: str = DEFAULT_NOISE) -> None:
        """``dt``: the step (> 0); ``noise``: ``"two_point"`` or ``"gaussian"``."""
        self.dt, self.noise = check_dt_noise(dt, noise, NOISES)

    @property
    def increments(self):
        """Two-point or Gaussian increments (a static object chosen from ``noise``)."""
        return NOISES[self.noise]()

    # the step also takes all trajectories of a chunk at once, site-major (``(n, T)`` rows)
    site_major: ClassVar[bool] = True
    # the site-major step takes the projection as a scale (``em_increment_real``'s ``scale``)
    scaled_projection: ClassVar[bool] = True

    def step(
        self,
        model,
        z,
        dW,
        k,
        fused,
        sqrt,
        tangential=False,
        coupling_mask=None,
        scale=None,
        field_mask=None,
        rate_mask=None,
    ):
        """One fused Euler-Maruyama step in real arithmetic (``em_increment_real``): of one
        trajectory (``(n,)`` components), or site-major of a whole chunk (``(n, T)``, with
        ``fused``; ``coupling_mask``, ``field_mask``, ``rate_mask``: the static masks of the
        coupling components, field components and rates that may be nonzero; ``scale``: the
        step from ``sqrt(scale) z``, divided by ``sqrt(scale)``).
        """
        return em_increment_real(
            model,
            z,
            dW,
            self.dt,
            k,
            fused,
            sqrt,
            tangential,
            coupling_mask,
            scale,
            field_mask,
            rate_mask,
        )
