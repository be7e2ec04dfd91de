"""Values derived from an immutable object, kept while the object lives (looked up by
identity, never by content: JAX arrays are immutable, so an object whose leaves are all
concrete JAX arrays or Python/NumPy scalars cannot change after it is built).

Used for what :func:`twoqs_jax.solve` derives from a model alone (its validation, its
lowering to the phase-space arrays), so that a repeated solve of the same model object
skips that host work. Objects holding a tracer or a (mutable) NumPy array are never kept.
"""

import weakref

import jax
import numpy as np


def immutable(obj) -> bool:
    """Whether every leaf of ``obj`` is a concrete JAX array or a scalar."""
    for leaf in jax.tree.leaves(obj):
        if isinstance(leaf, jax.core.Tracer):
            return False
        if not isinstance(leaf, jax.Array | int | float | complex | bool | np.generic):
            return False
    return True


class IdentityCache:
    """``obj -> value`` by identity, for at most ``size`` live objects (oldest dropped first).

    An entry goes when its object is garbage collected; objects that take no weak
    reference, or are not :func:`immutable`, are not kept (:meth:`get` returns ``None``).
    """

    def __init__(self, size: int = 16):
        self.size = int(size)
        self._entries: dict = {}  # id(obj) -> (weak reference to obj, value)

    def get(self, obj):
        """The value kept for ``obj``, or ``None``."""
        hit = self._entries.get(id(obj))
        if hit is not None and hit[0]() is obj:
            return hit[1]
        return None

    def put(self, obj, value) -> None:
        """Keep ``value`` for ``obj`` (if ``obj`` is immutable and takes weak references)."""
        if not immutable(obj):
            return
        entries, key = self._entries, id(obj)
        try:
            ref = weakref.ref(obj, lambda _: entries.pop(key, None))
        except TypeError:
            return
        if len(entries) >= self.size:
            entries.pop(next(iter(entries)), None)
        entries[key] = (ref, value)
