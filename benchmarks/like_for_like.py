"""Like-for-like speed: the TWOQS kernel against NumPy with the same SDE and the same noise.

Run: ``python benchmarks/like_for_like.py [--quick | --tiny] [--rounds R] [--out DIR]``
(``benchmarks/run_all.py`` runs it first). Writes ``DIR/like_for_like[_quick|_tiny].{md,json}`` (default DIR: ``benchmarks/results``) naming the
machine. Two parts, each in a fresh child process:

1. **One core against one core** (the ratios that compare implementations): the child is
   pinned to one core (``sched_setaffinity``), JAX sees one XLA host device and runs one
   thread. It integrates the driven spin (S = 100, Omega = 1.5, Gamma = 1, float32, dt =
   0.01) with ``tq.solve`` and the package's default method (``tq.TWOQS``: Fock sampling,
   tangential decay noise, spin-length projection; all trajectories in one compiled call,
   ``chunk_size = n_traj``, as NumPy integrates them as one array), two-point (default) and
   Gaussian increments, and the *same SDE* in NumPy (``baselines.py``) with Gaussian increments,
   two-point increments from ``int8`` draws and two-point increments from packed random
   bytes. Cases alternate in paired rounds (order rotated each round); a rate is
   site-steps per second of *process CPU time* (on a shared machine wall time measures the
   neighbours; with one pinned thread CPU time is the core time the case got), compilation
   excluded (one warm-up call per case). Reported: medians and ``[min, max]`` of the
   per-round paired ratios.
2. **All cores** (labelled as such): ``tq.solve`` sharded over one XLA device per core,
   wall clock, against the same one-core NumPy runs in that process.

Both parts also print ``<S_z>/S`` at the end of every case with its standard error: the
NumPy and package runs integrate the same SDE, so they must agree within errors.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SIZES = {
    "full": dict(n_traj=65536, n_steps=256, rounds=5),
    "quick": dict(n_traj=4096, n_steps=64, rounds=2),
    "tiny": dict(n_traj=512, n_steps=16, rounds=1),
}
S, OMEGA, DT = 100, 1.5, 0.01
NUMPY_CASES = ("gaussian", "int8", "packed")
PACKAGE_CASES = ("two_point", "gaussian")
# the same-noise pairs: package increments -> the NumPy baselines with that noise
PAIRS = {"two_point": ("packed", "int8"), "gaussian": ("gaussian",)}


def machine() -> dict:
    """CPU model, cores, Python/NumPy/JAX versions (the results file names the machine)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import jax
    import numpy as np

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "node": platform.node(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "jax": jax.__version__,
        "jax_devices": [str(d) for d in jax.devices()],
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def _child(part: str, size: dict, rounds: int) -> dict:
    """One part, in this (fresh) process: XLA settings before JAX is imported."""
    flags = " ".join(  # this part sets the number of devices
        f for f in os.environ.get("XLA_FLAGS", "").split() if "device_count" not in f
    )
    if part == "one_core":
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        flags += (
            " --xla_force_host_platform_device_count=1 --xla_cpu_multi_thread_eigen=false"
            " intra_op_parallelism_threads=1"
        )
    else:
        flags += f" --xla_force_host_platform_device_count={len(os.sched_getaffinity(0))}"
    os.environ["XLA_FLAGS"] = flags.strip()
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    import jax
    import numpy as np

    sys.path.insert(0, HERE)
    from baselines import numpy_driven_spin

    import twoqs_jax as tq

    n_traj, n_steps = size["n_traj"], size["n_steps"]
    work = n_traj * n_steps
    model = tq.driven_spin(S, OMEGA)
    n_dev = len(jax.devices())
    # all trajectories in one compiled call, as NumPy integrates them as one array (the
    # package's default chunk of 4096 costs a fixed amount per chunk: docs/performance.md)
    chunk = {}
    values = {}

    def package(noise):
        def run():
            sol = tq.solve(
                model,
                tq.spin_down(),
                tq.SaveAt([0.0, n_steps * DT]),
                tq.TWOQS(tq.EulerMaruyama(DT, noise=noise)),
                n_traj=n_traj,
                key=1,
                observables=("Sz",),
                options=tq.Options(dtype="float32", chunk_size=n_traj, progress=False),
            )
            chunk[noise] = sol.stats["chunk_size"]
            values[f"twoqs_jax {noise}"] = (
                float(np.asarray(sol["Sz"]).ravel()[-1]) / S,
                float(np.asarray(sol.error("Sz")).ravel()[-1]) / S,
            )

        return run

    def numpy(inc):
        def run():
            values[f"numpy {inc}"] = numpy_driven_spin(
                S, OMEGA, n_traj, n_steps, DT, "float32", increments=inc
            )

        return run

    cases = [(f"numpy {i}", numpy(i)) for i in NUMPY_CASES]
    cases += [(f"twoqs_jax {n}", package(n)) for n in PACKAGE_CASES]
    clock = time.process_time if part == "one_core" else time.perf_counter
    for _, fn in cases:  # warm-up: compilation excluded
        fn()
    rates = {name: [] for name, _ in cases}
    for r in range(rounds):
        for name, fn in cases[r % len(cases) :] + cases[: r % len(cases)]:
            t0 = clock()
            fn()
            rates[name].append(work / (clock() - t0))
    return {
        "part": part,
        "clock": "process CPU time" if part == "one_core" else "wall clock",
        "devices": n_dev,
        "chunk_size": chunk,
        "n_traj": n_traj,
        "n_steps": n_steps,
        "rates": rates,
        "Sz_over_S": values,
        "machine": machine(),
    }


def _ratio(rates: dict, a: str, b: str) -> dict:
    r = [x / y for x, y in zip(rates[a], rates[b], strict=True)]
    return {"median": statistics.median(r), "min": min(r), "max": max(r)}


def summarize(part: dict) -> dict:
    """Medians of the rates and the same-noise paired ratios of one part."""
    rates = part["rates"]
    part["median"] = {k: statistics.median(v) for k, v in rates.items()}
    part["ratios"] = {
        f"twoqs_jax {noise} / numpy {inc}": _ratio(rates, f"twoqs_jax {noise}", f"numpy {inc}")
        for noise, incs in PAIRS.items()
        for inc in incs
    }
    return part


def markdown(res: dict) -> str:
    m = res["one_core"]["machine"]
    lines = [
        "# Like-for-like kernel speed (same SDE, same noise)",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores (`{m['node']}`); Python {m['python']}, "
        f"NumPy {m['numpy']}, JAX {m['jax']}; load average at start {m['load_average']}.",
        f"Command: `{res['command']}`. Driven spin S = {S}, Omega = {OMEGA}, Gamma = 1, "
        f"float32, dt = {DT}, {res['one_core']['n_traj']} trajectories x "
        f"{res['one_core']['n_steps']} steps; the package's default method (Fock sampling, "
        "tangential decay noise, spin-length projection) and the same SDE in NumPy "
        "(`benchmarks/baselines.py`). Compilation excluded.",
        "",
    ]
    for key, title in (
        ("one_core", "One core against one core"),
        ("all_cores", "All cores (package sharded over every core; NumPy on one core)"),
    ):
        p = res[key]
        lines += [
            f"## {title}",
            "",
            f"{p['devices']} XLA device(s), one chunk of all trajectories "
            f"({', '.join(f'{k}: {v}' for k, v in p['chunk_size'].items())}), rates per second of "
            f"{p['clock']}, {len(next(iter(p['rates'].values())))} alternating rounds.",
            "",
            "| case | site-steps/s (median) | range | <S_z>/S at the end |",
            "|---|---|---|---|",
        ]
        for name, v in p["rates"].items():
            mean, err = p["Sz_over_S"][name]
            lines.append(
                f"| {name} | {p['median'][name]:.3g} | {min(v):.3g}-{max(v):.3g} | "
                f"{mean:.4f} +- {err:.4f} |"
            )
        lines += [
            "",
            "| same-noise ratio | median | [min, max] of paired rounds |",
            "|---|---|---|",
        ]
        for name, r in p["ratios"].items():
            lines.append(f"| {name} | **{r['median']:.2f}x** | [{r['min']:.2f}, {r['max']:.2f}] |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes")
    ap.add_argument("--tiny", action="store_true", help="smoke-test sizes (the test suite)")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--part", choices=("one_core", "all_cores"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    flag = [] if mode == "full" else [f"--{mode}"]
    size = SIZES[mode]
    rounds = args.rounds or size["rounds"]
    if args.part:  # child process: print the part's JSON
        print(json.dumps(_child(args.part, size, rounds)))
        return None
    res = {"command": " ".join(["python benchmarks/like_for_like.py", *flag])}
    for part in ("one_core", "all_cores"):
        cmd = [sys.executable, os.path.abspath(__file__), "--part", part, "--rounds", str(rounds)]
        out = subprocess.run(cmd + flag, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"like_for_like part {part!r} failed:\n{out.stderr[-4000:]}")
        res[part] = summarize(json.loads(out.stdout.strip().splitlines()[-1]))
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, "like_for_like" + ("" if mode == "full" else f"_{mode}"))
    with open(stem + ".json", "w") as f:
        json.dump(res, f, indent=1)
    text = markdown(res)
    with open(stem + ".md", "w") as f:
        f.write(text + "\n")
    print(text)
    return res


if __name__ == "__main__":
    main()
