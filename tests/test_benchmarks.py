"""The benchmark suite runs end to end (tiny sizes) and writes its result files."""

import json
import pathlib

import numpy as np
import pytest
from helpers import load_benchmark


@pytest.mark.slow  # a new process running every benchmark: ~1 minute alone on 2 cores
def test_run_all_tiny(tmp_path):
    load_benchmark("run_all").main(["--tiny", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "suite_tiny.json").read_text())
    # like for like (one core, same SDE and noise): every ratio measured, the NumPy and the
    # package runs of the same SDE agree (a smoke test of the baselines, 512 trajectories)
    lfl = json.loads((tmp_path / "like_for_like_tiny.json").read_text())
    assert set(lfl["one_core"]["ratios"]) == {
        "twoqs_jax two_point / numpy packed",
        "twoqs_jax two_point / numpy int8",
        "twoqs_jax gaussian / numpy gaussian",
    }
    assert all(r["median"] > 0 for r in lfl["one_core"]["ratios"].values())
    assert lfl["one_core"]["devices"] == 1
    vals = lfl["one_core"]["Sz_over_S"]
    ref, err = vals["numpy gaussian"]
    for mean, sem in vals.values():
        assert abs(mean - ref) < 5 * np.hypot(sem, err)
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


@pytest.mark.slow  # a minute or more of new processes; run with --slow
def test_compile_time_quick(tmp_path):
    # new processes on one core: a config error (exit 2, checked inside), a first run with an
    # empty persistent cache, the same configuration again from the cache
    res = load_benchmark("compile_time").main(["--quick", "--out", str(tmp_path)])
    assert (tmp_path / "compile_time_quick.md").exists()
    assert json.loads((tmp_path / "compile_time_quick.json").read_text())["machine"]["cpu"]
    s = res["summary"]
    assert s["first_run"]["compiles"] >= 1 and s["first_run"]["cache_hits"] == 0
    # the repeat loads the kernel from the executable store: nothing compiled, nothing read
    # from JAX's cache; with the store off, the kernel comes from JAX's cache
    rep = s["repeat_new_process"]
    assert rep["stored_before"] >= 1 and rep["compiles"] == 0 and rep["cache_hits"] == 0
    assert s["repeat_no_store"]["cache_hits"] >= 1
    assert s["new_omega_n_traj"]["compiles"] == 0 and s["new_omega_n_traj"]["n_traj"] == 3072
    assert s["config_error"]["wall_s"] > 0


@pytest.mark.slow  # a minute or more of new processes; run with --slow
def test_gpu_script_refuses_without_gpu_and_runs_its_cpu_smoke(tmp_path):
    import subprocess
    import sys

    import jax

    script = pathlib.Path(__file__).parents[1] / "benchmarks" / "gpu.py"

    def run(*args):
        return subprocess.run(
            [sys.executable, str(script), "--out", str(tmp_path), *args],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )

    if jax.devices()[0].platform != "gpu":
        proc = run()
        assert proc.returncode == 0, proc.stderr
        assert "no GPU" in proc.stdout and not list(tmp_path.iterdir())
    proc = run("--cpu-smoke")
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "gpu_cpu-smoke.json").read_text())
    assert (tmp_path / "gpu_cpu-smoke.md").exists()
    assert not {"qutip", "matplotlib", "h5py"} & set(data["optional_loaded"])
    assert set(data["verdicts"]) == {"site_steps_per_s", "steady_state_s", "sweep_s"}
    ss = data["cases"]["steady_state"]
    assert ss["first_call"]["compile_s"] > 0 and ss["second_call"]["site_steps_per_s"] > 0
    assert len(data["cases"]["sweep"]["Sz_over_S"]) == 9
    assert data["cases"]["ring"]["site_steps_per_s"] > 0


@pytest.mark.slow  # a minute or more of new processes; run with --slow
def test_time_to_accuracy_quick(tmp_path):
    """benchmarks/time_to_accuracy.py --quick (S = 20, one dt per scheme, no LMG dimer to keep
    the default suite short) runs and writes its tables.
    """
    import warnings

    import twoqs_jax as tq

    mod = load_benchmark("time_to_accuracy")
    with warnings.catch_warnings():  # the smoke test's windows are too short to relax
        warnings.simplefilter("ignore", tq.TWOQSAccuracyWarning)
        doc = mod.main(["--quick", "--no-lmg", "--n-traj", "16", "--out", str(tmp_path / "tta")])
    data = json.loads((tmp_path / "tta.json").read_text())
    assert (tmp_path / "tta.md").exists() and data["machine"]
    assert {r["scheme"] for r in data["driven"]} == {"euler", "wk2"}
    assert all(np.isfinite(r["Sz_err"]) and r["steps"] > 0 for r in data["driven"])
    assert len(doc["summary"]) == 2 * len(mod.TARGETS)
