"""Results files: round trip of observables, coordinates, model and metadata."""

import json

import numpy as np
import pytest

import twoqs_jax as tq
from twoqs_jax._io import save_results  # the CLI's writer: `description` is not in tq.save


def test_round_trip(tmp_path):
    model = tq.lmg_dimer(2, J=0.7, lam=0.3)
    times = np.linspace(0, 1, 5)
    rng = np.random.default_rng(0)
    mean = {"Sz": rng.normal(size=(5, 2)), "SpSm": rng.normal(size=(5, 2, 2)) + 1j}
    sem = {"Sz": np.abs(rng.normal(size=(5, 2)))}
    sol = tq.Solution(method="twa", times=times, mean=mean, sem=sem, stats={"n_traj": 100})
    path = save_results(
        tmp_path / "r.h5",
        sol,
        model=model,
        settings={"dt": 0.01, "key": 3},
        description={"preset": "lmg_dimer", "J": 0.7},
    )
    res = tq.load(path)
    np.testing.assert_array_equal(res.coords["time"], times)
    np.testing.assert_array_equal(res.solution["Sz"], mean["Sz"])
    np.testing.assert_array_equal(res.solution["SpSm"], mean["SpSm"])
    np.testing.assert_array_equal(res.solution.error("Sz"), sem["Sz"])
    assert res.dims["Sz"] == ["time", "site"]
    assert res.dims["SpSm"] == ["time", "site", "site"]
    assert res.solution.stats["n_traj"] == 100
    assert res.meta["settings"] == {"dt": 0.01, "key": 3}
    assert res.meta["versions"]["jax"] is not None
    assert res.meta["description"]["preset"] == "lmg_dimer"
    np.testing.assert_array_equal(res.model.coupling, model.coupling)
    np.testing.assert_array_equal(res.model.edges, model.edges)
    # refusing to overwrite, then overwriting
    with pytest.raises(FileExistsError, match="overwrite"):
        tq.save(path, sol)
    tq.save(path, sol, overwrite=True)
    assert tq.load(path).model is None
    assert json.dumps(res.meta["versions"])


def test_not_a_results_file(tmp_path):
    import h5py

    p = tmp_path / "x.h5"
    with h5py.File(p, "w") as f:
        f.attrs["format"] = "other"
    with pytest.raises(ValueError, match="not a twoqs_jax results file"):
        tq.load(p)


def test_damaged_results_files_named_in_one_line(tmp_path):
    """Old main: a raw h5py error that did not name the file."""
    sol = tq.Solution(
        method="twa", times=np.arange(3.0), mean={"Sz": np.ones((3, 1))}, sem={}, stats={}
    )
    good = (tmp_path / "good.h5").as_posix()
    tq.save(good, sol)
    data = (tmp_path / "good.h5").read_bytes()
    cases = {"empty": b"", "truncated": data[: len(data) // 2], "text": b"Sz = 1\n"}
    for label, content in cases.items():
        p = tmp_path / f"{label}.h5"
        p.write_bytes(content)
        with pytest.raises(ValueError, match="damaged or not a twoqs_jax results file") as err:
            tq.load(p)
        assert str(p) in str(err.value) and "\n" not in str(err.value), label
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        tq.load(tmp_path / "missing.h5")
