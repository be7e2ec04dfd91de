"""Computing a value once on XLA:CPU, whatever reads it.

XLA:CPU has no multi-output fusion: an elementwise producer read by several consumers is
copied into the fusion of each of them (its instructions are compiled, and run, once per
consumer), while a reduction is never fused into its consumers: its result is materialised.
:func:`materialise` uses that to compute a shared intermediate once (the block sums of the
kernel's statistics), which makes the program smaller (faster to compile and to load from
the executable store). Whether it also runs faster is measured case by case: the reduction
can cost more than the copies (the kernel's counter-based initial sample, docs/performance.md).
"""

import jax
import jax.numpy as jnp
from jax import lax


def _lowest(dtype):
    if jnp.issubdtype(dtype, jnp.floating):
        return -jnp.inf
    return jnp.iinfo(dtype).min


def materialise(tree):
    """``tree``, computed once (module docstring): its arrays of one shape go, stacked per
    dtype (complex ones as their real and imaginary parts), through a ``max`` with the
    dtype's lowest value (``-inf``, or the integer minimum), which returns them bit for bit
    (signed zeros, NaN and infinities included).

    Args:
        tree: a PyTree of real, integer or complex arrays, all of one shape.

    Returns:
        ``tree``, the same values.

    Examples:
        >>> import jax.numpy as jnp
        >>> materialise((jnp.float32(-0.0), jnp.uint32(7)))
        (Array(-0., dtype=float32), Array(7, dtype=uint32))
    """
    leaves, treedef = jax.tree.flatten(tree)
    parts = []
    for x in leaves:
        parts += [jnp.real(x), jnp.imag(x)] if jnp.iscomplexobj(x) else [jnp.asarray(x)]
    groups: dict = {}
    for k, x in enumerate(parts):
        groups.setdefault(x.dtype, []).append(k)
    out = [None] * len(parts)
    for dtype, ks in groups.items():
        stacked = jnp.stack([parts[k] for k in ks])
        low = jnp.full_like(stacked, _lowest(dtype))
        done = jnp.max(jnp.stack([stacked, low]), axis=0)
        for j, k in enumerate(ks):
            out[k] = done[j]
    result, pos = [], 0
    for x in leaves:
        if jnp.iscomplexobj(x):
            result.append(lax.complex(out[pos], out[pos + 1]))
            pos += 2
        else:
            result.append(out[pos])
            pos += 1
    return jax.tree.unflatten(treedef, result)
