"""Compile and start-up times of the command line's path, on one core.

Run: ``python benchmarks/compile_time.py [--quick] [--out DIR]``. Writes
``DIR/compile_time[_quick].{md,json}`` (default DIR: ``benchmarks/results``) naming the
machine. Every case runs in a fresh Python process pinned to one core (XLA on one thread), so
the numbers are those of a user's first command; each is repeated (3 rounds, 1 with
``--quick``) and the median reported, as wall time and as CPU time of the process (on a
loaded machine the CPU time is the steadier of the two). Cases:

1. ``config error``: ``twoqs run bad.toml`` (an unknown key) until it exits with code 2;
2. ``first run``: a ``twoqs run`` configuration (driven spin S = 50, 2048 trajectories,
   ``t_final = 5``, 51 saving times, chunks of 1024, the default method and observables; the
   same code path
   as the command line, less writing the results file) with an empty persistent compilation
   cache: import, tracing, lowering to StableHLO, XLA compilation and the run, separately;
3. ``repeat, new process``: the same configuration again in a new process with the cache of
   case 2 (``--repeats`` processes per round): the kernel's executable is loaded from the
   executable store (:mod:`twoqs_jax._sde.store`, no tracing), the small programs around it
   from JAX's persistent cache; paired with it, the same repeat with the store off
   (``TWOQS_NO_EXECUTABLE_STORE=1``: JAX's cache only, tracing and lowering run) in a cache
   filled by a first run with the store off (the store compiles the kernel on flat
   arguments, another program for JAX's cache);
4. ``new Omega and n_traj``: in the process of case 2, the same configuration with
   ``Omega = 0.7`` and 3072 trajectories (three chunks instead of two, same chunk size): new
   XLA compilations (0 expected) and the time of the call. (Below 64 x 32 = 2048
   trajectories the size of the statistics blocks, which is compiled in, depends on
   ``n_traj``: there a new ``n_traj`` compiles again.)

Compilations and their parts are read from JAX's monitoring events (tracing, lowering, one
backend compile per executable; a persistent-cache hit is a backend compile that read the
cache). These parts are wall-clock durations (JAX reports no CPU time per part): on a loaded
machine compare them with the CPU time of the whole call.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # _shared, when loaded by path
from _shared import RESULTS, cpu_model, load_average, write_results  # noqa: E402

CONFIG = """
[model]
preset = "driven_spin"
S = {S}
Omega = {Omega}
[method]
t_final = {t_final}
n_save = {n_save}
dt = 0.01
n_traj = {n_traj}
chunk_size = 1024
key = 0
"""
SIZES = {
    "full": dict(S=50, Omega=1.5, t_final=5.0, n_save=51, n_traj=2048, rounds=3),
    "quick": dict(S=10, Omega=1.5, t_final=0.5, n_save=6, n_traj=2048, rounds=1),
}
BAD = '[model]\npreset = "driven_spin"\nS = 50\nOmega = 1.5\nfoo = 2\n[method]\nt_final = 5\n'
EVENTS = {
    "/jax/core/compile/jaxpr_trace_duration": "trace_s",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower_s",
    "/jax/core/compile/backend_compile_duration": "compile_s",
}
ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def _env(cache_dir=None, store=True):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TWOQS_NO_CACHE", "TWOQS_NO_EXECUTABLE_STORE")
    }
    if not store:
        env["TWOQS_NO_EXECUTABLE_STORE"] = "1"
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    # Python writes and reads its bytecode (`__pycache__`) as in an ordinary install: with
    # PYTHONDONTWRITEBYTECODE=1 every new process would compile the package's source again,
    # and the modules first imported inside the solve call would charge it to the solve
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["XLA_FLAGS"] = ONE_THREAD
    env["OPENBLAS_NUM_THREADS"] = "1"
    if cache_dir is not None:
        env["TWOQS_CACHE_DIR"] = cache_dir
    return env


def _one_core() -> list:
    """A command prefix that pins the child to one core (``taskset``; none where missing)."""
    if shutil.which("taskset") is None or not hasattr(os, "sched_getaffinity"):
        return []
    return ["taskset", "-c", str(sorted(os.sched_getaffinity(0))[0])]


def _run(args, env, timeout=900):
    """``(completed process, wall s, CPU s of the child)``."""
    before = os.times()
    t0 = time.perf_counter()
    proc = subprocess.run(
        _one_core() + args, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    wall = time.perf_counter() - t0
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return proc, wall, cpu


def child(config_path: str, again: bool) -> dict:
    """One process of cases 2-4 (prints a JSON line)."""
    t0, c0 = time.perf_counter(), time.process_time()
    import twoqs_jax.cli as cli
    from twoqs_jax._config import load_config

    cfg = load_config(config_path, check_model=False)
    cache = cli.start_jax(cache=True)  # as `twoqs run`: float64 on, persistent cache on
    import jax.monitoring

    import twoqs_jax as tq

    tq.solve  # noqa: B018 - load the solver (what `twoqs run` imports)
    out = {"import_s": time.perf_counter() - t0, "import_cpu_s": time.process_time() - c0}
    totals = dict.fromkeys(EVENTS.values(), 0.0)
    counts = {"compiles": 0, "cache_hits": 0}

    def on_duration(event, duration, **kwargs):
        if event in EVENTS:
            totals[EVENTS[event]] += duration
        if event == "/jax/core/compile/backend_compile_duration":
            counts["compiles"] += 1

    def on_event(event, **kwargs):
        if event == "/jax/compilation_cache/cache_hits":
            counts["cache_hits"] += 1

    jax.monitoring.register_event_duration_secs_listener(on_duration)
    jax.monitoring.register_event_listener(on_event)

    def solve(cfg):
        for k in totals:
            totals[k] = 0.0
        counts.update(compiles=0, cache_hits=0)
        t, c = time.perf_counter(), time.process_time()
        sol = cli._execute(cfg, "twa", progress=False)[0]
        return {
            "wall_s": time.perf_counter() - t,
            "cpu_s": time.process_time() - c,
            **totals,
            **counts,
            "kernel_compile_s": float(sol.stats["compile_time"]),
            "n_traj": int(sol.stats["n_traj"]),
        }

    store = os.path.join(cache or "", "twoqs_executables")
    out["stored_before"] = len(os.listdir(store)) if os.path.isdir(store) else 0
    cfg.check_model()
    out["run"] = solve(cfg)
    if not again:
        import dataclasses

        new = dataclasses.replace(
            cfg, params={**cfg.params, "Omega": 0.7}, method={**cfg.method, "n_traj": 3072}
        )
        out["new_omega_n_traj"] = solve(new)
    print("RESULT " + json.dumps(out))
    return out


def _child_run(config_path, cache_dir, again, store=True):
    proc, wall, cpu = _run(
        [sys.executable, __file__, "--child", config_path] + (["--again"] if again else []),
        _env(cache_dir, store),
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child failed:\n{proc.stderr[-3000:]}")
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    return {**json.loads(line[len("RESULT ") :]), "process_wall_s": wall, "process_cpu_s": cpu}


def machine() -> dict:
    import jax

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "load_average_start": load_average(),
    }


def measure(quick: bool = False, rounds: int | None = None, repeats: int | None = None) -> dict:
    """Run the four cases (module docstring); returns the results dict."""
    sz = dict(SIZES["quick" if quick else "full"])
    if rounds is not None:
        sz["rounds"] = rounds
    sz["repeats"] = repeats if repeats is not None else (1 if quick else 3)
    repeats = sz["repeats"]
    rounds = sz["rounds"]
    with tempfile.TemporaryDirectory() as tmp:
        good = os.path.join(tmp, "good.toml")
        bad = os.path.join(tmp, "bad.toml")
        with open(good, "w") as f:
            f.write(CONFIG.format(**sz))
        with open(bad, "w") as f:
            f.write(BAD)
        errors = []
        for _ in range(rounds):
            proc, wall, cpu = _run(
                [sys.executable, "-m", "twoqs_jax.cli", "run", bad, "--out", bad + ".h5"], _env()
            )
            if proc.returncode != 2 or "model.foo" not in proc.stderr:
                raise RuntimeError(f"config error not reported: {proc.stderr[-2000:]}")
            errors.append({"wall_s": wall, "cpu_s": cpu})
        first, first_no_store, repeat, no_store = [], [], [], []
        for r in range(rounds):
            cache, cache_off = os.path.join(tmp, f"cache{r}"), os.path.join(tmp, f"off{r}")
            first.append(_child_run(good, cache, again=False))
            first_no_store.append(_child_run(good, cache_off, again=False, store=False))
            for _ in range(repeats):  # alternating: with the store, then JAX's cache only
                repeat.append(_child_run(good, cache, again=True))
                no_store.append(_child_run(good, cache_off, again=True, store=False))

    def med(rows, *path):
        vals = []
        for row in rows:
            for p in path:
                row = row[p]
            vals.append(row)
        return statistics.median(vals)

    summary = {
        "config_error": {k: med(errors, k) for k in ("wall_s", "cpu_s")},
        "first_run": {
            "import_s": med(first, "import_s"),
            **{k: med(first, "run", k) for k in first[0]["run"]},
            "process_wall_s": med(first, "process_wall_s"),
            "process_cpu_s": med(first, "process_cpu_s"),
        },
        "repeat_new_process": {
            "import_s": med(repeat, "import_s"),
            **{k: med(repeat, "run", k) for k in repeat[0]["run"]},
            "process_wall_s": med(repeat, "process_wall_s"),
            "process_cpu_s": med(repeat, "process_cpu_s"),
            "cpu_s_all": [row["run"]["cpu_s"] for row in repeat],
            "stored_before": min(row["stored_before"] for row in repeat),
        },
        "first_run_no_store": {
            **{k: med(first_no_store, "run", k) for k in first_no_store[0]["run"]},
            "process_cpu_s": med(first_no_store, "process_cpu_s"),
        },
        "repeat_no_store": {
            "import_s": med(no_store, "import_s"),
            **{k: med(no_store, "run", k) for k in no_store[0]["run"]},
            "process_wall_s": med(no_store, "process_wall_s"),
            "process_cpu_s": med(no_store, "process_cpu_s"),
            "cpu_s_all": [row["run"]["cpu_s"] for row in no_store],
        },
        "new_omega_n_traj": {
            k: med(first, "new_omega_n_traj", k) for k in first[0]["new_omega_n_traj"]
        },
    }
    return {
        "machine": machine(),
        "mode": "quick" if quick else "full",
        "config": sz,
        "rounds": {
            "config_error": errors,
            "first": first,
            "first_no_store": first_no_store,
            "repeat": repeat,
            "repeat_no_store": no_store,
        },
        "summary": summary,
    }


def markdown(res: dict) -> str:
    m, s, c = res["machine"], res["summary"], res["config"]
    f, r, n, e = s["first_run"], s["repeat_new_process"], s["new_omega_n_traj"], s["config_error"]
    j, fo = s["repeat_no_store"], s["first_run_no_store"]
    rows = [
        ("config error (`twoqs run bad.toml`, whole process)", e["wall_s"], e["cpu_s"], "", ""),
        ("first run: import twoqs_jax + JAX", f["import_s"], None, "", ""),
        (
            "first run: solve (trace + lower + compile + run)",
            f["wall_s"],
            f["cpu_s"],
            f["compiles"],
            f"trace {f['trace_s']:.2f}, lower {f['lower_s']:.2f}, XLA {f['compile_s']:.2f}",
        ),
        ("first run: whole process", f["process_wall_s"], f["process_cpu_s"], "", ""),
        (
            "first run, store off: solve",
            fo["wall_s"],
            fo["cpu_s"],
            fo["compiles"],
            f"trace {fo['trace_s']:.2f}, lower {fo['lower_s']:.2f}, XLA {fo['compile_s']:.2f}",
        ),
        ("repeat, new process: import", r["import_s"], None, "", ""),
        (
            "repeat, new process: solve (kernel from the executable store)",
            r["wall_s"],
            r["cpu_s"],
            f"{r['compiles']} ({r['cache_hits']} from the cache)",
            f"kernel load {r['kernel_compile_s']:.2f}; others: trace {r['trace_s']:.2f}, "
            f"lower {r['lower_s']:.2f}, XLA/cache {r['compile_s']:.2f}",
        ),
        ("repeat, new process: whole process", r["process_wall_s"], r["process_cpu_s"], "", ""),
        (
            "repeat, new process, store off (JAX's cache only): solve",
            j["wall_s"],
            j["cpu_s"],
            f"{j['compiles']} ({j['cache_hits']} from the cache)",
            f"trace {j['trace_s']:.2f}, lower {j['lower_s']:.2f}, XLA/cache {j['compile_s']:.2f}",
        ),
        (
            "new Omega and n_traj, same process: solve",
            n["wall_s"],
            n["cpu_s"],
            n["compiles"],
            f"trace {n['trace_s']:.2f}, lower {n['lower_s']:.2f}, XLA {n['compile_s']:.2f}",
        ),
    ]
    lines = [
        f"# Compile and start-up times ({res['mode']})",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores (each case in a new process pinned to one "
        f"core, XLA on one thread), {m['platform']}, Python {m['python']}, jax {m['jax']}; "
        f"load average at start {m['load_average_start']}. Medians of "
        f"{c['rounds']} round(s) ({c['rounds'] * c['repeats']} repeat processes with the "
        "store and as many without, alternating); CPU time is the process's (steadier than "
        "wall time on a shared machine).",
        "",
        f"Configuration: driven spin S = {c['S']}, Omega = {c['Omega']}, {c['n_traj']} "
        f"trajectories in chunks of 1024, t_final = {c['t_final']}, {c['n_save']} saving "
        "times, dt = 0.01, the "
        "default TWOQS method and observables, through the command line's code path "
        "(`twoqs_jax.cli._execute`, persistent compilation cache on as in `twoqs run`).",
        "",
        "| case | wall s | CPU s | XLA compilations | parts (wall s) |",
        "|---|---|---|---|---|",
    ]
    for name, wall, cpu, comp, parts in rows:
        cpu_text = "" if cpu is None else f"{cpu:.2f}"
        lines.append(f"| {name} | {wall:.2f} | {cpu_text} | {comp} | {parts} |")
    lines += [
        "",
        "Targets (issue 16): config error < 1 s; first run of a configuration < 3 s of "
        "compilation on one core; the same configuration again in a new process < 0.5 s of "
        "compilation; a new Omega or n_traj compiles nothing.",
        "",
        f"- config error < 1 s: {'met' if e['wall_s'] < 1 else 'NOT met'} "
        f"({e['wall_s']:.2f} s wall, {e['cpu_s']:.2f} s CPU)",
        f"- first run < 3 s of compilation: {'met' if f['cpu_s'] < 3 else 'NOT met'} "
        f"(the whole call took {f['cpu_s']:.2f} s CPU; tracing, lowering and XLA "
        f"{f['trace_s'] + f['lower_s'] + f['compile_s']:.2f} s wall)",
        f"- repeat in a new process < 0.5 s of compilation: the whole call took "
        f"{r['cpu_s']:.2f} s CPU (median; all: "
        f"{', '.join(f'{x:.2f}' for x in r['cpu_s_all'])}), "
        f"{'met' if r['cpu_s'] < 0.5 else 'NOT met'}; loading the kernel "
        f"{r['kernel_compile_s']:.2f} s wall ({r['stored_before']} stored executable(s) "
        f"found); with JAX's cache only {j['cpu_s']:.2f} s CPU (all: "
        f"{', '.join(f'{x:.2f}' for x in j['cpu_s_all'])})",
        f"- new Omega and n_traj compile nothing: {n['compiles']} new XLA compilations "
        f"({'met' if n['compiles'] == 0 else 'NOT met'})",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one round")
    parser.add_argument("--rounds", type=int, help="rounds (default: 3, 1 with --quick)")
    parser.add_argument(
        "--repeats", type=int, help="repeat processes per round (default: 3, 1 with --quick)"
    )
    parser.add_argument("--out", default=RESULTS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--again", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.again)
        return None
    res = measure(args.quick, args.rounds, args.repeats)
    name = "compile_time" + ("_quick" if args.quick else "")
    text = markdown(res)
    write_results(os.path.join(args.out, name), res, text)
    print(text)
    return res


if __name__ == "__main__":
    main()
