"""XLA:CPU compiler options against the first compile of the TWOQS kernel, on one core.

Run: ``taskset -c 1 python benchmarks/compile_options.py [--rounds 3] [--out DIR]``. Writes
``DIR/compile_options.{md,json}`` (default DIR: ``benchmarks/results``) naming the machine.

The chunk function is the one the command line compiles for the configuration of
``benchmarks/compile_time.py`` (driven spin S = 50, 2048 trajectories in chunks of 1024,
51 saving times, float64 on as in ``twoqs run``), captured at the package's compile call
(``twoqs_jax._sde.driver._compile``) with the executable store and JAX's cache off. Each
variant is a dict of per-executable options (``lowered.compile(compiler_options=...)``, the
way the package could pass them without touching global settings); the variants are compiled
in turn, ``--rounds`` times (alternating), each after ``jax.clear_caches()`` and a fresh
lowering, and timed in CPU time of the process. The first round runs each executable on the
captured arguments and compares every output array with the default's, bit for bit (NaN equal
to NaN), and counts the fusions of the compiled HLO.

A second part compiles synthetic programs of ``n`` independent elementwise fusions
(``x * (i + 1) + i`` on a ``(16, 1)`` float32 array, one output each) for the fixed cost of
one fusion, with the default options and at ``xla_backend_optimization_level = 1``.

Options that XLA does not accept per executable (``No such compile option``) are reported as
such. XLA runs on one thread (``XLA_FLAGS`` as in ``compile_time.py``, unless set).
"""

import argparse
import os
import re
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # _shared, when loaded by path
from _shared import RESULTS, cpu_model, load_average, write_results  # noqa: E402
from compile_time import CONFIG, ONE_THREAD, SIZES  # noqa: E402

VARIANTS = {
    "default": {},
    "optimization level 2": {"xla_backend_optimization_level": 2},
    "optimization level 1": {"xla_backend_optimization_level": 1},
    "LLVM expensive passes off": {"xla_llvm_disable_expensive_passes": True},
    "one LLVM module (split count 1)": {"xla_cpu_parallel_codegen_split_count": 1},
    "preset FAST_COMPILE": {"xla_cpu_opt_preset": "CPU_OPT_PRESET_FAST_COMPILE"},
    "fusion emitters off": {"xla_cpu_use_fusion_emitters": False},
    "multi-output fusion": {"xla_cpu_use_multi_output_fusion": True},
}


def _capture():
    """The chunk function, its arguments and the time of the first solve."""
    import twoqs_jax.cli as cli
    from twoqs_jax._config import load_config
    from twoqs_jax._sde import driver

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "good.toml")
        with open(path, "w") as f:
            f.write(CONFIG.format(**SIZES["full"]))
        cfg = load_config(path, check_model=False)
    cli.start_jax(cache=False)
    captured = {}
    original = driver._compile

    def capture(fn, static, args):
        captured["fn"], captured["args"] = fn, args
        return original(fn, static, args)

    driver._compile = capture
    try:
        cfg.check_model()
        t = time.process_time()
        cli._execute(cfg, "twa", progress=False)
        first = time.process_time() - t
    finally:
        driver._compile = original
    return captured["fn"], captured["args"], first


def _compile(fn, args, opts):
    import jax

    jax.clear_caches()
    lowered = fn.lower(*args)
    t = time.process_time()
    exe = lowered.compile(compiler_options=opts) if opts else lowered.compile()
    return exe, time.process_time() - t


def _outputs(exe, args):
    import jax
    import numpy as np

    return [np.asarray(x) for x in jax.tree.leaves(exe(*args))]


def _per_fusion(rounds: int) -> list:
    import jax
    import jax.numpy as jnp

    x = jnp.ones((16, 1), jnp.float32)
    rows = []
    for _ in range(rounds):
        for label in ("default", "optimization level 1"):
            for n in (100, 200):

                def f(x, n=n):
                    return tuple(x * (i + 1.0) + i for i in range(n))

                exe, cpu = _compile(jax.jit(f), (x,), VARIANTS[label])
                fusions = exe.as_text().count("fusion(")
                rows.append({"options": label, "n": n, "fusions": fusions, "cpu_s": cpu})
    return rows


def measure(rounds: int) -> dict:
    """Both parts (module docstring); returns the results dict."""
    import jax
    import numpy as np

    fn, args, first = _capture()
    ref = None
    rows = {name: {"options": opts, "cpu_s": []} for name, opts in VARIANTS.items()}
    for r in range(rounds):
        for name, opts in VARIANTS.items():
            row = rows[name]
            if "error" in row:
                continue
            try:
                exe, cpu = _compile(fn, args, opts)
            except Exception as err:  # an option XLA does not take per executable
                row["error"] = str(err).splitlines()[0][:200]
                continue
            row["cpu_s"].append(cpu)
            if r == 0:
                out = _outputs(exe, args)
                ref = out if ref is None else ref
                row["identical"] = len(out) == len(ref) and all(
                    a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
                    for a, b in zip(out, ref, strict=True)
                )
                row["fusions"] = len(re.findall(r"\bfusion\(", exe.as_text() or ""))
    return {
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "jax": jax.__version__,
            "xla_flags": os.environ.get("XLA_FLAGS", ""),
            "load_average_start": load_average(),
        },
        "rounds": rounds,
        "first_solve_cpu_s": first,
        "kernel": rows,
        "per_fusion": _per_fusion(rounds),
    }


def markdown(res: dict) -> str:
    m = res["machine"]
    lines = [
        "# XLA:CPU compiler options against the kernel's first compile",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, jax {m['jax']}, XLA_FLAGS `{m['xla_flags']}`,"
        f" load average at start {m['load_average_start']}. One process; CPU time of"
        f" `lowered.compile(compiler_options=...)` after `jax.clear_caches()`, {res['rounds']}"
        " alternating round(s). Kernel: the command line's chunk function of"
        " `benchmarks/compile_time.py` (driven spin S = 50, 2048 trajectories in chunks of"
        f" 1024, 51 saving times); the first solve took {res['first_solve_cpu_s']:.2f} s CPU.",
        "",
        "| options | compile CPU s (median) | all rounds | fusions | outputs bit-identical |",
        "|---|---|---|---|---|",
    ]
    for name, row in res["kernel"].items():
        opts = ", ".join(f"`{k}={v}`" for k, v in row["options"].items()) or "(none)"
        if "error" in row:
            lines.append(f"| {name}: {opts} | not accepted: {row['error']} | | | |")
            continue
        times = ", ".join(f"{t:.2f}" for t in row["cpu_s"])
        lines.append(
            f"| {name}: {opts} | {statistics.median(row['cpu_s']):.2f} | {times} |"
            f" {row.get('fusions')} | {row.get('identical')} |"
        )
    lines += [
        "",
        "Fixed cost of one fusion: synthetic programs of n independent elementwise fusions",
        "(`x * (i + 1) + i`, `(16, 1)` float32, one output each).",
        "",
        "| options | n | fusions | compile CPU s | ms per fusion |",
        "|---|---|---|---|---|",
    ]
    for row in res["per_fusion"]:
        lines.append(
            f"| {row['options']} | {row['n']} | {row['fusions']} | {row['cpu_s']:.2f} |"
            f" {1000 * row['cpu_s'] / row['n']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=RESULTS)
    a = parser.parse_args(argv)
    # before JAX starts (this process only): XLA on one thread, no store and no persistent
    # cache, so that every compilation is a real one
    os.environ.setdefault("XLA_FLAGS", ONE_THREAD)
    os.environ["TWOQS_NO_CACHE"] = "1"
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    res = measure(a.rounds)
    text = markdown(res)
    write_results(os.path.join(a.out, "compile_options"), res, text)
    print(text)


if __name__ == "__main__":
    main()
