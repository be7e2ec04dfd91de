"""Cost of the initial sample: the kernel's counter-based draw against ``jax.random``.

Run: ``python benchmarks/initial_sample.py [--quick] [--rounds R] [--out DIR]``. Writes
``DIR/initial_sample[_quick].{md,json}`` (default DIR: ``benchmarks/results``) naming the
machine. In a child process pinned to one core (one XLA device, one thread), jitted over
a chunk of trajectories, the Wigner Fock sample of the spin coherent state (the default
method's) with

- ``counter``: :func:`twoqs_jax._sde.kernel.initial_sample`, what the kernel draws (two
  counter-based Box-Muller hashes per site in polar form, :func:`twoqs_jax._sde.rng.polar`);
- ``jax.random``: the package's draw before (streams v1), ``jax.random.normal(fold_in(key,
  i), (6, n))``, an exponential from two normals and a phase from two more (``hypot`` and
  division), through the same transform.

Reported per case: nanoseconds of process CPU time per trajectory-site (paired rounds,
order alternating, median and range), the CPU time of lowering + compiling the jitted
sampler, and the number of fusion, call, custom-call and while instructions in its
optimised HLO (about the XLA:CPU kernels it runs).
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SIZES = {
    "full": dict(n_traj=16384, n_sites=(1, 64), reps=20),
    "quick": dict(n_traj=2048, n_sites=(1, 8), reps=5),
}
S, THETA, PHI = 100.0, 0.7, 0.3


def _child(size: dict, rounds: int) -> dict:
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    os.environ["XLA_FLAGS"] = (
        "--xla_force_host_platform_device_count=1 --xla_cpu_multi_thread_eigen=false"
        " intra_op_parallelism_threads=1"
    )
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    import jax
    import jax.numpy as jnp

    sys.path.insert(0, HERE)
    from _shared import cpu_model, load_average, machine_line

    from twoqs_jax._phase_space.sampling import sample_initial
    from twoqs_jax._sde.kernel import initial_sample

    key = jax.random.key(1)
    dtype = jnp.float32

    def legacy(key, i, spin, theta, phi):  # the v1 draw: six normals per site
        x = jax.random.normal(jax.random.fold_in(key, i), (6, spin.shape[0]), dtype)

        def polar(r):  # v1: |z|^2 from (x0, x1) or (x2, x3), the phase of x0 + i x1 or x4 + i x5
            u, v = (x[0], x[1]) if r == 0 else (x[4], x[5])
            h = jnp.hypot(u, v)
            e = 0.5 * (x[2 * r] ** 2 + x[2 * r + 1] ** 2)
            return e, u / h, v / h

        return sample_initial(polar, None, spin, theta, phi, 0, "fock", dtype)

    def counter(key, i, spin, theta, phi):
        return initial_sample(key, i, spin, theta, phi, 0, "fock", dtype)

    out = {"cases": {}, "machine": f"{cpu_model()}; {machine_line()}", "load": load_average()}
    n_traj, reps = size["n_traj"], size["reps"]
    idx = jnp.arange(n_traj, dtype=jnp.int32)
    for n in size["n_sites"]:
        spin, theta, phi = (jnp.full((n,), v, dtype) for v in (S, THETA, PHI))
        fns = {}
        for name, f in (("counter", counter), ("jax.random", legacy)):

            def run(key, idx, spin, theta, phi, f=f):
                a, b = jax.vmap(lambda i: f(key, i, spin, theta, phi))(idx)
                return jnp.sum(jnp.abs(a) ** 2) + jnp.sum(jnp.abs(b) ** 2)

            t0 = time.process_time()
            compiled = jax.jit(run).lower(key, idx, spin, theta, phi).compile()
            t_compile = time.process_time() - t0
            hlo = compiled.as_text() or ""
            kernels = len(re.findall(r" = \S+ (?:fusion|call|custom-call|while)\(", hlo))
            compiled(key, idx, spin, theta, phi).block_until_ready()
            fns[name] = compiled
            out["cases"][f"{name} n={n}"] = {
                "compile_cpu_s": t_compile,
                "kernels": kernels,
                "ns": [],
            }
        names = list(fns)
        for r in range(rounds):
            for name in names[r % 2 :] + names[: r % 2]:
                t0 = time.process_time()
                for _ in range(reps):
                    fns[name](key, idx, spin, theta, phi).block_until_ready()
                dt = time.process_time() - t0
                out["cases"][f"{name} n={n}"]["ns"].append(dt / (reps * n_traj * n) * 1e9)
    return out


def markdown(res: dict) -> str:
    lines = [
        "# Initial sample: counter-based against jax.random",
        "",
        f"Machine: {res['machine']}; load average at start {[round(x, 1) for x in res['load'] or ()]}; one pinned core, one "
        "XLA device and thread.",
        f"Command: `{res['command']}`. Wigner Fock sample of a spin coherent state (S = {S:g}, "
        f"float32), {res['n_traj']} trajectories per jitted call, {res['rounds']} alternating "
        "rounds; CPU time per trajectory-site, and the CPU time to lower and compile the sampler.",
        "",
        "| case | ns per trajectory-site (median) | range | compile CPU s | HLO fusions/calls/loops |",
        "|---|---|---|---|---|",
    ]
    for name, c in res["cases"].items():
        lines.append(
            f"| {name} | {statistics.median(c['ns']):.1f} | {min(c['ns']):.1f}-{max(c['ns']):.1f} | "
            f"{c['compile_cpu_s']:.2f} | {c['kernels']} |"
        )
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    mode = "quick" if args.quick else "full"
    size = SIZES[mode]
    if args.child:
        print(json.dumps(_child(size, args.rounds)))
        return None
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "--rounds", str(args.rounds)]
    out = subprocess.run(
        cmd + (["--quick"] if args.quick else []), capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"initial_sample child failed:\n{out.stderr[-4000:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res.update(
        command="python benchmarks/initial_sample.py" + (" --quick" if args.quick else ""),
        n_traj=size["n_traj"],
        rounds=args.rounds,
    )
    sys.path.insert(0, HERE)
    from _shared import write_results

    stem = os.path.join(args.out, "initial_sample" + ("_quick" if args.quick else ""))
    text = markdown(res)
    write_results(stem, res, text + "\n")
    print(text)
    return res


if __name__ == "__main__":
    main()
