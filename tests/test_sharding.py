"""Sharding the trajectory axis over devices (conftest: 4 host CPU devices) and the
chunk-size invariance of the block-keyed random streams.
"""

import jax
import numpy as np
import pytest

import twoqs_jax as tq


def _run(m, key=3, n_traj=400, **options):
    return tq.solve(
        m,
        tq.spin_down(m.n_sites),
        tq.SaveAt([0.0, 0.1, 0.2]),
        tq.TWOQS.paper(tq.EulerMaruyama(0.02)),
        n_traj=n_traj,
        key=key,
        observables=("Sz", "Sx", "varz", "xi2", "SzSz"),
        options=tq.Options(**options),
    )


def _assert_bits(a, b):
    for name in a.mean:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
        np.testing.assert_array_equal(a.error(name), b.error(name), err_msg=name)


def test_bit_identical_on_1_2_4_devices_and_three_chunk_sizes():
    """Statistics blocks of 8 trajectories (400 trajectories, 32 jackknife groups) reduced by
    a fixed tree and merged along a fixed tree over global block indices: the same bits on
    1, 2 and 4 devices and chunks of 400, 64 and 96 trajectories (old main: 1e-7 in
    S_z between chunkings and 1 vs 2 devices), for a coupled 2-site chain (the couplings go
    through matrix products, whose width changes with the chunk).
    """
    assert len(jax.devices()) == 4
    m = tq.heisenberg_chain(2, 10, Jx=0.5, Jy=-0.3, Gamma=1.0)
    one = _run(m, shard=False, chunk_size=400)
    assert one.stats["traj_block"] == 8 and one.stats["n_devices"] == 1
    runs = {
        "2 devices, chunk 64": _run(m, devices=jax.devices()[:2], chunk_size=64),
        "4 devices, chunk 96": _run(m, shard=True, chunk_size=96),
    }
    assert [r.stats["n_devices"] for r in runs.values()] == [2, 4]
    for label, other in runs.items():
        assert other.stats["chunk_size"] != one.stats["chunk_size"], label
        _assert_bits(one, other)
    # and it is not the same for another key (the comparison can fail)
    other_key = _run(m, key=4, shard=True, chunk_size=96)
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
    # auto: 4 devices, 256 = 4 devices x 8 blocks of 8 trajectories
    b = tq.solve(batch, tq.spin_down(), *args, options=tq.Options(chunk_size=256), **kw)
    assert b.stats["n_devices"] == 4
    for name in ("Sz", "varz"):
        np.testing.assert_array_equal(b[name], a[name])


def test_chunk_size_invariance_1e5():
    """1e5 trajectories, 1 site, few steps: the same bits for one chunk of 1e5 and five
    chunks of 20480 sharded over 4 devices (statistics blocks of 64 trajectories).
    """
    m = tq.driven_spin(10, 1.5)
    args = (tq.SaveAt([0.0, 0.08]), tq.TWOQS.paper(tq.EulerMaruyama(0.01)))
    kw = dict(n_traj=100_000, key=11, observables=("Sz",))
    a = tq.solve(
        m, tq.spin_down(), *args, options=tq.Options(chunk_size=100_000, shard=False), **kw
    )
    c = tq.solve(m, tq.spin_down(), *args, options=tq.Options(chunk_size=20_480, shard=True), **kw)
    np.testing.assert_array_equal(c["Sz"], a["Sz"])
    np.testing.assert_array_equal(c.sem["Sz"], a.sem["Sz"])


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
