"""Model construction, presets and every validation error of the model layer."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import twoqs_jax as tq


def test_graphs():
    assert tq.chain(5).n_edges == 4
    assert tq.ring(5).n_edges == 5
    np.testing.assert_array_equal(tq.ring(4).edges[-1], [3, 0])
    # 2D periodic 4x4: two bonds per site
    assert tq.square_lattice(4, 4).n_edges == 32
    assert tq.square_lattice(3, 2, periodic=False).n_edges == 3 * 1 + 2 * 2
    g = tq.edge_list([(0, 2), (1, 2)], 3, weights=[0.5, 2.0])
    np.testing.assert_allclose(g.weights, [0.5, 2.0])
    np.testing.assert_array_equal(tq.on_site(3).edges, [[0, 0], [1, 1], [2, 2]])


def test_model_arrays_and_flip_flop():
    g = tq.ring(6)
    m = tq.SpinModel(
        [1, 1.5, 2, 1, 1, 1],
        field={"x": 0.3, "z": jnp.arange(6.0)},
        couplings=[tq.flip_flop(g, 0.25), tq.Coupling(tq.on_site(6), {"xx": 1.0})],
        decay=0.1,
        dephasing=jnp.linspace(0, 1, 6),
    )
    assert m.n_sites == 6 and m.n_edges == 12
    np.testing.assert_allclose(m.spin, [1, 1.5, 2, 1, 1, 1])
    np.testing.assert_allclose(m.field[:, 0], 0.3)
    np.testing.assert_allclose(m.field[:, 2], np.arange(6))
    # S+S- + h.c. = 2 (SxSx + SySy)
    np.testing.assert_allclose(m.coupling[0], np.diag([0.5, 0.5, 0.0]))
    np.testing.assert_allclose(m.decay, 0.1)
    assert m.dimension == 3 * 4 * 5 * 3 * 3 * 3


def test_same_site_coupling_is_symmetrised():
    m = tq.SpinModel(2, couplings=tq.Coupling(tq.on_site(1), {"xy": 1.0}))
    np.testing.assert_allclose(m.symmetric_coupling[0], [[0, 0.5, 0], [0.5, 0, 0], [0, 0, 0]])


def test_presets_map_paper_rates():
    S = 10
    np.testing.assert_allclose(tq.superradiance(S, 2.0).decay, 0.2)  # Gamma/S
    np.testing.assert_allclose(tq.collective_dephasing(S, 0.5).dephasing, 1.0)  # 2 Gamma_phi
    oat = tq.one_axis_twisting(S, g=1.0, Gamma=0.5, Gamma_phi=0.25)
    np.testing.assert_allclose(oat.coupling[0, 0, 0], 1.0 / (2 * S))
    np.testing.assert_allclose([oat.decay[0], oat.dephasing[0]], [0.05, 0.5])
    d = tq.lmg_dimer(S, J=0.7, lam=0.3, g=1.0, gamma=0.5)
    np.testing.assert_allclose(d.decay, [0.05, 0.0])
    np.testing.assert_allclose(d.gain, [0.0, 0.05])
    np.testing.assert_allclose(d.field[:, 2], [-1.0, -1.0])
    np.testing.assert_allclose(d.coupling[0, 0, 0], -0.07)
    np.testing.assert_allclose(d.coupling[2], np.diag([0.03, 0.03, 0.0]))
    c1 = tq.heisenberg_chain(10, S, Jx=1.0, Jy=-0.5)
    c4 = tq.heisenberg_chain(10, S, Jx=1.0, Jy=-0.5, convention="fig7")
    np.testing.assert_allclose(c4.coupling, 4 * c1.coupling)
    np.testing.assert_allclose(c1.coupling[0, 0, 0], 1.0 / (2 * S))
    pt = tq.pt_chain(4, 2, J=1.0, gamma=1.0)
    np.testing.assert_allclose(pt.decay, [0.5, 0, 0.5, 0])
    np.testing.assert_allclose(pt.gain, [0, 0.5, 0, 0.5])


def test_presets_vmap_over_parameters():
    models = jax.vmap(lambda lam: tq.lmg_dimer(3, 0.5, lam))(jnp.linspace(0.0, 1.0, 4))
    assert models.coupling.shape == (4, 3, 3, 3)
    np.testing.assert_array_equal(models.edges, [[0, 0], [1, 1], [0, 1]])
    grad = jax.grad(lambda om: tq.driven_spin(5, om).field[0, 0] ** 2)(1.5)
    np.testing.assert_allclose(grad, 3.0)


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: tq.SpinModel(0), "spin"),
        (lambda: tq.SpinModel(-1), "spin"),
        (lambda: tq.SpinModel(0.3), "multiple of 1/2"),
        (lambda: tq.SpinModel(1, decay=-0.1), "decay"),
        (lambda: tq.SpinModel(1, gain=float("nan")), "gain"),
        (lambda: tq.SpinModel(1, dephasing=[1.0, 2.0]), "dephasing"),
        (lambda: tq.SpinModel(1, field={"w": 1.0}), "field"),
        (lambda: tq.SpinModel(1, field={"x": float("inf")}), "field"),
        (lambda: tq.Coupling(tq.on_site(1), {"xq": 1.0}), "matrix"),
        (lambda: tq.Coupling(tq.on_site(1), {"xx": float("nan")}), "matrix"),
        (lambda: tq.edge_list([(0, 3)], 3), "out of range"),
        (lambda: tq.edge_list([(-1, 0)], 3), "out of range"),
        (lambda: tq.SpinModel(1, n_sites=3, couplings=tq.flip_flop(tq.ring(4), 1.0)), "n_sites"),
        (lambda: tq.SpinModel([1, 1], n_sites=3), "spin"),
        (lambda: tq.SpinCoherentState([0.1, 0.2], [0.0, 0.1, 0.2]), "theta"),
        (lambda: tq.driven_spin(2.2, 1.0), "S"),
        (lambda: tq.heisenberg_chain(4, 2, convention="pauli"), "convention"),
    ],
)
def test_validation_errors_name_the_argument(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_coherent_state_bloch_vectors():
    st = tq.SpinCoherentState([0.0, np.pi / 2, np.pi], [0.0, np.pi / 2, 0.0])
    np.testing.assert_allclose(st.bloch_vectors(), [[0, 0, 1], [0, 1, 0], [0, 0, -1]], atol=1e-12)


def test_from_arrays_round_trip():
    m = tq.lmg_dimer(2, J=0.7, lam=0.3)
    r = tq.SpinModel.from_arrays(m.spin, m.field, m.edges, m.coupling, m.decay, m.gain, m.dephasing)
    for name in ("spin", "field", "coupling", "decay", "gain", "dephasing"):
        np.testing.assert_array_equal(getattr(r, name), getattr(m, name))
    np.testing.assert_array_equal(r.edges, m.edges)
    with pytest.raises(ValueError, match="per-edge"):
        tq.Coupling(tq.chain(3), np.zeros((5, 3, 3)))
