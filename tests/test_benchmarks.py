"""The benchmark suite runs end to end (tiny sizes) and writes its result files."""

import importlib.util
import json
import pathlib

import numpy as np


def test_run_all_tiny(tmp_path):
    path = pathlib.Path(__file__).parents[1] / "benchmarks" / "run_all.py"
    spec = importlib.util.spec_from_file_location("run_all", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main(["--tiny", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "suite_tiny.json").read_text())
    assert (tmp_path / "suite_tiny.md").exists()
    assert data["machine"]["versions"]["jax"]
    impls = {r["impl"] for r in data["kernel"]}
    assert {"numpy", "twoqs_jax", "diffrax Euler+UnsafeBrownianPath"} <= impls
    assert all(r["site_steps_per_s"] > 0 for r in data["kernel"])
    assert {r["devices"] for r in data["kernel"]} >= {1}
    assert data["exact_vs_twoqs"][0]["n_traj_for_target"] >= 2
    # every S has the closed-form reference; the TWOQS error bound is finite
    for r in data["exact_vs_twoqs"]:
        assert np.isfinite(r["analytic_Sz_over_S"]) and np.isfinite(r["twa_error_bound"])
    one, sweep = data["scale"]["single"], data["scale"]["sweep"]
    assert one["wall_incl_compile_s"] >= one["compile_s"] >= 0
    assert len(sweep["Sz_over_S"]) == 9 and all(np.isfinite(sweep["Sz_over_S"]))
    gpu = data["machine"]["platform_name"] == "gpu"
    assert ("cannot be measured" in data["gpu_targets"]) != gpu
