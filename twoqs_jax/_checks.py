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


def check_finite(name: str, value) -> None:
    """Raise if ``value`` holds NaN or inf."""
    if not is_concrete(value):
        return
    arr = np.asarray(value)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` must be finite, got {_short(value)}.")


def check_nonnegative(name: str, value) -> None:
    """Raise if ``value`` holds a negative, NaN or infinite entry."""
    if not is_concrete(value):
        return
    check_finite(name, value)
    arr = np.asarray(value)
    if np.any(arr < 0):
        raise ValueError(f"`{name}` must be >= 0 (a Lindblad rate), got {_short(value)}.")


def check_positive(name: str, value) -> None:
    """Raise if ``value`` holds an entry <= 0, NaN or inf."""
    if not is_concrete(value):
        return
    check_finite(name, value)
    arr = np.asarray(value)
    if np.any(arr <= 0):
        raise ValueError(f"`{name}` must be > 0, got {_short(value)}.")


def check_spin_length(name: str, value) -> None:
    """Raise unless every entry is a positive multiple of 1/2."""
    if not is_concrete(value):
        return
    check_positive(name, value)
    arr = np.asarray(value, dtype=float)
    if np.any(np.abs(2 * arr - np.round(2 * arr)) > 1e-9):
        raise ValueError(
            f"`{name}` (spin length S) must be a positive multiple of 1/2, got {_short(value)}."
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
