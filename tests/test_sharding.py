"""Sharding the trajectory axis over devices (conftest: 4 host CPU devices) and the
chunk-size invariance of the block-keyed random streams.
"""

import jax
import numpy as np
import pytest

import twoqs_jax as tq


def _run(m, key=3, **options):
    return tq.solve(
        m,
        tq.spin_down(),
        tq.SaveAt([0.0, 0.1, 0.2]),
        tq.TWOQS.paper(tq.EulerMaruyama(0.02)),
        n_traj=400,
        key=key,
        observables=("Sz", "Sx", "varz", "xi2"),
        options=tq.Options(**options),
    )


def test_sharded_equals_one_device():
    """Trajectory i draws from fold_in(key, i) on whatever device runs it, so the sharded
    statistics equal the one-device ones up to the reduction order (float64: 1e-12).
    """
    assert len(jax.devices()) == 4
    m = tq.driven_spin(20, 1.5)
    one = _run(m, shard=False, chunk_size=200)
    four = _run(m, shard=True, chunk_size=200)
    two = _run(m, devices=jax.devices()[:2], chunk_size=200)
    assert one.stats["n_devices"] == 1 and four.stats["n_devices"] == 4
    assert two.stats["n_devices"] == 2
    for name in ("Sz", "Sx", "varz", "xi2"):
        for other in (four, two):
            np.testing.assert_allclose(other[name], one[name], rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(other.sem[name], one.sem[name], rtol=1e-10, atol=1e-12)
    # and it is not the same for another key (the comparison can fail)
    other_key = _run(m, key=4, shard=True, chunk_size=200)
    assert not np.allclose(other_key["Sz"][-1], one["Sz"][-1], rtol=1e-6)


@pytest.mark.slow
def test_sharded_steady_state_batch():
    """A batch of models (a sweep) sharded over 4 devices equals the one-device run."""
    batch = jax.vmap(lambda om: tq.driven_spin(20, om))(np.array([0.5, 1.5]))
    args = (
        tq.SteadyState(t_burn=0.2, t_avg=0.2, every=0.1),
        tq.TWOQS.paper(tq.EulerMaruyama(0.02)),
    )
    kw = dict(n_traj=400, key=5, observables=("Sz", "varz"))
    a = tq.solve(
        batch, tq.spin_down(), *args, options=tq.Options(chunk_size=200, shard=False), **kw
    )
    # auto: 4 devices, 200 % 4 == 0
    b = tq.solve(batch, tq.spin_down(), *args, options=tq.Options(chunk_size=200), **kw)
    assert b.stats["n_devices"] == 4
    for name in ("Sz", "varz"):
        np.testing.assert_allclose(b[name], a[name], rtol=1e-12, atol=1e-12)


def test_chunk_size_invariance_1e5():
    """1e5 trajectories, 1 site, few steps: the same numbers for one chunk of 1e5 and five
    sharded chunks of 20000 (noise blocks of 8 steps keyed per trajectory and block).
    """
    m = tq.driven_spin(10, 1.5)
    args = (tq.SaveAt([0.0, 0.08]), tq.TWOQS.paper(tq.EulerMaruyama(0.01)))
    kw = dict(n_traj=100_000, key=11, observables=("Sz",))
    a = tq.solve(
        m, tq.spin_down(), *args, options=tq.Options(chunk_size=100_000, shard=False), **kw
    )
    c = tq.solve(m, tq.spin_down(), *args, options=tq.Options(chunk_size=20_000, shard=True), **kw)
    for s in (c,):
        np.testing.assert_allclose(s["Sz"], a["Sz"], rtol=1e-12, atol=1e-10)
        np.testing.assert_allclose(s.sem["Sz"], a.sem["Sz"], rtol=1e-9)


def test_bad_sharding_input():
    m = tq.driven_spin(10, 1.5)
    args = (tq.SaveAt([0.0, 0.1]), tq.TWOQS.paper(tq.EulerMaruyama(0.01)))
    kw = dict(n_traj=10, key=0)
    with pytest.raises(ValueError, match="chunk_size"):
        tq.solve(m, tq.spin_down(), *args, options=tq.Options(shard=True, chunk_size=6), **kw)
    with pytest.raises(ValueError, match="shard"):
        tq.Options(shard="yes")
    with pytest.raises(ValueError, match="devices"):
        tq.solve(m, tq.spin_down(), *args, options=tq.Options(devices=["cpu"]), **kw)
