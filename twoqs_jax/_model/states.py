"""Initial states shared by every solver.

Angles follow the Bloch-sphere convention: ``theta`` is measured from the +z axis and
``phi`` from the +x axis, so a spin coherent state has
``<S> = S (sin theta cos phi, sin theta sin phi, cos theta)``. ``theta = pi`` is the state
``m = -S`` (all spins down, the Schwinger b-mode holding 2S quanta).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike
from jaxtyping import Array, Float

from .._checks import check_finite, check_int, is_concrete


class SpinCoherentState(eqx.Module):
    """A product of spin coherent states, one per site.

    Attributes:
        theta: ``(n,)`` polar angles from +z.
        phi: ``(n,)`` azimuthal angles from +x.
    """

    theta: Float[Array, " n"]
    phi: Float[Array, " n"]

    def __init__(self, theta: ArrayLike, phi: ArrayLike = 0.0, n_sites: int | None = None):
        """Build from angles (scalars are broadcast to ``n_sites``)."""
        # concrete angles are converted and broadcast in NumPy, then put on the device (no
        # eager jnp operation, which would compile in every new process: the same values, of
        # the default float dtype)
        host = is_concrete((theta, phi))
        xp = np if host else jnp
        real = jax.dtypes.canonicalize_dtype(np.float64)
        theta = xp.asarray(theta, dtype=real)
        phi = xp.asarray(phi, dtype=real)
        if n_sites is None:
            n_sites = max(theta.size if theta.ndim else 1, phi.size if phi.ndim else 1)
        n = check_int("n_sites", n_sites, minimum=1)
        for name, v in (("theta", theta), ("phi", phi)):
            if v.ndim > 1 or (v.ndim == 1 and v.shape[0] != n):
                raise ValueError(f"`{name}` must be a scalar or have shape ({n},), got {v.shape}.")
            check_finite(name, v)
        if host:
            # one device_put: jnp.asarray would trace and compile a conversion in every
            # new process
            self.theta, self.phi = jax.device_put(
                (np.broadcast_to(theta, (n,)), np.broadcast_to(phi, (n,)))
            )
        else:
            self.theta = jnp.broadcast_to(theta, (n,))
            self.phi = jnp.broadcast_to(phi, (n,))

    @property
    def n_sites(self) -> int:
        """Number of sites."""
        return int(self.theta.shape[0])

    def bloch_vectors(self) -> Float[Array, "n 3"]:
        """Unit vectors ``<S_i> / S_i``."""
        st = jnp.sin(self.theta)
        return jnp.stack(
            [st * jnp.cos(self.phi), st * jnp.sin(self.phi), jnp.cos(self.theta)], axis=-1
        )


def spin_down(n_sites: int = 1) -> SpinCoherentState:
    """All sites in ``m = -S``."""
    return SpinCoherentState(np.pi, 0.0, n_sites=n_sites)


def spin_up(n_sites: int = 1) -> SpinCoherentState:
    """All sites in ``m = +S``."""
    return SpinCoherentState(0.0, 0.0, n_sites=n_sites)


def along_x(n_sites: int = 1) -> SpinCoherentState:
    """All sites polarised along +x."""
    return SpinCoherentState(np.pi / 2, 0.0, n_sites=n_sites)
