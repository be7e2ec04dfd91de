"""Input validation helpers: every error names the argument and its value."""

from collections.abc import Iterable

import jax
import numpy as np


def is_concrete(x) -> bool:
    """True when ``x`` holds concrete values (not a JAX tracer), so it can be checked."""
    leaves = jax.tree_util.tree_leaves(x)
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in leaves)


def _short(value) -> str:
    arr = np.asarray(value)
    if arr.size <= 8:
        return repr(arr.tolist())
    return f"array of shape {arr.shape} (first values {arr.ravel()[:4].tolist()})"


def is_complex(value) -> bool:
    """True when ``value`` (a number, array or tracer) has a complex dtype."""
    if isinstance(value, complex):
        return True
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        try:
            dtype = np.asarray(value).dtype
        except (TypeError, ValueError):
            return False
    return np.issubdtype(dtype, np.complexfloating)


def check_real(name: str, value, where: str = "") -> None:
    """Raise if ``value`` is complex (works on tracers: the dtype is known while tracing).

    A complex number where the physics needs a real one is an error, never a silent cast
    (e.g. ``Omega = 1 + 1j`` in ``H = Omega S_x`` would make ``H`` non-Hermitian).
    """
    if is_complex(value):
        raise ValueError(
            f"`{name}` must be real{where}, got the complex value {_short(value)}."
            if is_concrete(value)
            else f"`{name}` must be real{where}, got a complex array."
        )


def check_finite(name: str, value, where: str = "") -> None:
    """Raise if ``value`` holds NaN or inf."""
    if not is_concrete(value):
        return
    arr = np.asarray(value)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"`{name}` must be a number{where}, got {value!r}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` must be finite{where}, got {_short(value)}.")


def check_nonnegative(name: str, value, where: str = "") -> None:
    """Raise if ``value`` holds a negative, NaN or infinite entry."""
    if not is_concrete(value):
        return
    check_finite(name, value, where)
    arr = np.asarray(value)
    if np.any(arr < 0):
        raise ValueError(f"`{name}` must be >= 0 (a Lindblad rate){where}, got {_short(value)}.")


check_nonnegative_rate = check_nonnegative


def check_positive(name: str, value, where: str = "") -> None:
    """Raise if ``value`` holds an entry <= 0, NaN or inf."""
    if not is_concrete(value):
        return
    check_finite(name, value, where)
    arr = np.asarray(value)
    if np.any(arr <= 0):
        raise ValueError(f"`{name}` must be > 0{where}, got {_short(value)}.")


def check_spin_length(name: str, value, where: str = "") -> None:
    """Raise unless every entry is a positive multiple of 1/2."""
    check_real(name, value, where)
    if not is_concrete(value):
        return
    check_positive(name, value, where)
    arr = np.asarray(value, dtype=float)
    if np.any(np.abs(2 * arr - np.round(2 * arr)) > 1e-9):
        raise ValueError(
            f"`{name}` (spin length S) must be a positive multiple of 1/2{where}, "
            f"got {_short(value)}."
        )


def check_shape(name: str, value, shape: tuple) -> None:
    """Raise unless ``value`` has exactly ``shape``."""
    got = np.shape(value)
    if tuple(got) != tuple(shape):
        raise ValueError(f"`{name}` must have shape {tuple(shape)}, got shape {tuple(got)}.")


def check_int(name: str, value, minimum: int | None = None) -> int:
    """Return ``value`` as int, raising if it is not an integer or below ``minimum``."""
    try:
        integral = not isinstance(value, bool) and float(value).is_integer()
    except (TypeError, ValueError):
        integral = False
    if not integral:
        raise ValueError(f"`{name}` must be an integer, got {value!r}.")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {value}.")
    return value


def check_in(name: str, value, allowed: Iterable) -> None:
    """Raise unless ``value`` is one of ``allowed``."""
    allowed = list(allowed)
    if value not in allowed:
        raise ValueError(f"`{name}` must be one of {allowed}, got {value!r}.")
