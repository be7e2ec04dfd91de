"""What tq.solve keeps per model object (twoqs_jax._identity): the lowering and the
validation of a model are computed once per live, immutable model object; the host lowering
equals the traced one bit for bit; mutable or traced objects are never kept.
"""

import gc

import equinox as eqx
import jax
import numpy as np
import pytest

import twoqs_jax as tq
from twoqs_jax._identity import IdentityCache, immutable
from twoqs_jax._phase_space.lowering import lower


def _model():
    return tq.SpinModel(
        [3.0, 2.5],
        field={"x": [1.0, 0.3]},
        jumps=[tq.Decay([0.4, 0.1]), tq.Gain(0.05), tq.Dephasing([0.2, 0.7]), tq.Decay(0.3)],
    )


def test_host_lowering_equals_traced_lowering_bit_for_bit():
    model = _model()
    host = lower(model)
    traced = jax.jit(lower)(model)
    for name in ("decay", "gain", "dephasing", "spin", "field", "coupling"):
        a, b = np.asarray(getattr(host, name)), np.asarray(getattr(traced, name))
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.array_equal(a.view(np.uint8), b.view(np.uint8)), name
    np.testing.assert_allclose(np.asarray(host.decay), [0.7, 0.4], rtol=1e-6)


def test_lowering_is_kept_per_model_object_while_it_lives():
    model = _model()
    first = lower(model)
    assert lower(model) is first
    other = _model()  # equal content, another object: lowered anew
    assert lower(other) is not first
    cache = IdentityCache(size=2)
    cache.put(model, 1)
    assert cache.get(model) == 1 and cache.get(other) is None
    del model, first
    gc.collect()
    assert len(cache._entries) == 0  # the entry went with its object


def test_cache_is_bounded_and_skips_mutable_or_traced_objects():
    cache = IdentityCache(size=2)
    models = [_model() for _ in range(3)]
    for i, m in enumerate(models):
        cache.put(m, i)
    assert cache.get(models[0]) is None and cache.get(models[2]) == 2
    assert immutable(models[0])
    mutable = eqx.tree_at(lambda m: m.spin, models[0], np.array([3.0, 2.5]))  # a NumPy leaf
    assert not immutable(mutable)
    cache.put(mutable, 9)
    assert cache.get(mutable) is None

    def f(x):
        m = eqx.tree_at(lambda m: m.spin, models[0], models[0].spin * x)
        assert not immutable(m)
        cache.put(m, 9)
        assert cache.get(m) is None
        return x

    jax.jit(f)(1.0)


def test_an_invalid_model_is_refused_every_time():
    bad = eqx.tree_at(lambda m: m.field, _model(), _model().field.at[0, 0].set(np.nan))
    for _ in range(2):
        with pytest.raises(ValueError, match="field"):
            bad.validate()
    good = _model()
    good.validate()
    good.validate()  # remembered: no work, no error


def test_lowering_follows_the_float64_setting():
    with jax.enable_x64(False):
        model = _model()  # float32 arrays
    for x64 in (False, True, False):
        with jax.enable_x64(x64):
            expected = np.float64 if x64 else np.float32
            assert np.asarray(lower(model).decay).dtype == expected
