"""Random keys from seeds: every integer seed gives its own stream, in the API and the CLI.

``jax.random.key(seed)`` folds a Python int into 32 bits with ``jax_enable_x64`` off (``2**32``
and ``2**40`` then give the stream of ``0``) and into 64 bits with it on, and fails beyond.
:func:`resolve_key` keeps ``jax.random.key(seed)`` for ``0 <= seed < 2**32`` (the streams of
every earlier result) and maps any other integer, of any size or sign, without truncation:
it starts from ``jax.random.key(w_0)`` with ``w_0`` the lowest 32-bit word of ``|seed|`` and
folds in the remaining words, the number of words and the sign. Distinct integers take
distinct paths, so they give distinct streams (up to a collision of the PRNG's hash).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ._identity import IdentityCache

_WORD = 2**32


def seed_words(seed: int) -> tuple:
    """``(sign, words)``: the 32-bit words of ``|seed|``, lowest first."""
    sign = -1 if seed < 0 else 1
    m = abs(int(seed))
    words = []
    while True:
        words.append(m % _WORD)
        m //= _WORD
        if m == 0:
            break
    return sign, tuple(words)


def key_from_seed(seed: int):
    """The PRNG key of an integer seed (module docstring; the last 64 are kept: a key is
    immutable, and making one is a small device operation).
    """
    seed = int(seed)
    return _key_from_seed(
        seed,
        jax.config.jax_default_prng_impl,
        jax.config.jax_random_seed_offset,
        str(jax.config.jax_default_device),  # the cached key lives on the default device
    )


@functools.lru_cache(maxsize=64)
def _key_from_seed(seed: int, impl: str, offset: int, device: str):
    if 0 <= seed < _WORD:
        if impl == "threefry2x32" and offset == 0:
            # the data of `jax.random.key(seed)` ([0, seed]), wrapped without the small
            # programs that `key` traces and compiles in every new process
            return jax.random.wrap_key_data(np.array([0, seed], np.uint32), impl="threefry2x32")
        return jax.random.key(seed)
    sign, words = seed_words(seed)
    key = jax.random.key(words[0])
    for w in words[1:]:
        key = jax.random.fold_in(key, w)
    key = jax.random.fold_in(key, len(words))
    if sign < 0:
        key = jax.random.fold_in(key, _WORD - 1)
    return key


def resolve_key(key):
    """A typed PRNG key from an int seed (any size) or a jax key (typed or raw ``uint32``)."""
    if isinstance(key, bool):
        raise ValueError(f"`key` must be an int seed or a jax PRNG key, got {key!r}.")
    if isinstance(key, int | np.integer):
        return key_from_seed(int(key))
    if isinstance(key, jax.Array):
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            if key.shape != ():
                raise ValueError(f"`key` must be a single PRNG key, got shape {key.shape}.")
            return key
        if key.dtype == jnp.uint32 and key.shape == (2,):
            return jax.random.wrap_key_data(key)
    raise ValueError(f"`key` must be an int seed or a jax PRNG key (jax.random.key), got {key!r}.")


def key_info(key, seed=None) -> dict:
    """JSON-able description of a key (stored with results and checkpoints)."""
    info = _INFO.get(key)
    if info is None:
        info = {"impl": str(jax.random.key_impl(key)), "data": jax.random.key_data(key).tolist()}
        _INFO.put(key, info)
    info = {"impl": info["impl"], "data": list(info["data"])}  # a copy the caller may change
    if seed is not None:
        info["seed"] = int(seed)
    return info


_INFO = IdentityCache()  # key -> its description (keys are immutable)
