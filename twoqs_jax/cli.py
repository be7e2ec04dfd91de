"""The ``twoqs`` command line: a thin layer that parses arguments and calls the public API.

Commands::

    twoqs demo [--quick]                 the README's main job
    twoqs run CONFIG.toml [--resume]     one run from a config file -> results .h5
    twoqs sweep CONFIG.toml              a parameter grid ([sweep] section), vmapped for twa
    twoqs config --example NAME [--out F]  a commented example configuration (no NAME: list)
    twoqs compare CONFIG.toml            the same model by TWOQS, mean field and exact
    twoqs info                           version, devices JAX sees, precision

Exit codes: 0 success; 2 a user error (bad input, config errors naming the key, the value
and what is allowed; unwritable paths; damaged files; a blow-up), printed as one line; 1 an
internal error, printed as a short message (the traceback only with ``--debug``). Output
and checkpoint paths are checked before any work; nothing is overwritten unless
``--overwrite`` is given (a checkpoint left by a killed run is continued with ``--resume``).
Files are created with the user's umask. The command line (an application,
unlike the library) turns on float64 in JAX for the deterministic methods; TWOQS
trajectories use the config's ``precision`` (float32 by default).

Start-up: a configuration is read and checked before JAX is imported, so a config error is
reported at once (a bad model value, such as a negative rate, is found by the model layer
after JAX loads). Compiled programs are kept in JAX's persistent compilation cache, on by
default for the command line (the library never turns it on): ``TWOQS_CACHE_DIR`` (default
``~/.cache/twoqs_jax/jax``, the platform's user cache directory), off with ``--no-cache`` or
``TWOQS_NO_CACHE=1``; a cache directory the user set for JAX
(``JAX_COMPILATION_CACHE_DIR``) is kept. Running the same configuration again in a new
process then skips XLA's compilation, and the TWOQS kernel also its tracing and lowering: its
executable is loaded from the store beside the cache (:mod:`twoqs_jax._sde.store`; off alone
with ``TWOQS_NO_EXECUTABLE_STORE=1``).
"""

import argparse
import os
import sys
import time


def cache_dir() -> str:
    """The command line's compilation cache directory: ``TWOQS_CACHE_DIR``, else
    ``twoqs_jax/jax`` in the platform's user cache directory.
    """
    if os.environ.get("TWOQS_CACHE_DIR"):
        return os.environ["TWOQS_CACHE_DIR"]
    home = os.path.expanduser("~")
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.join(home, "AppData", "Local")
    elif sys.platform == "darwin":
        base = os.path.join(home, "Library", "Caches")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(home, ".cache")
    return os.path.join(base, "twoqs_jax", "jax")


def start_jax(cache: bool = True) -> str | None:
    """Import JAX for a command that computes: float64 on (the application, not the library)
    and, unless ``cache`` is False or ``TWOQS_NO_CACHE=1``, JAX's persistent compilation
    cache in :func:`cache_dir` for every compiled program (thresholds 0: the kernels compile
    in seconds, the small programs around them in milliseconds, and all recur). Returns the
    cache directory in use (``None``: off).
    """
    import jax

    jax.config.update("jax_enable_x64", True)
    current = jax.config.jax_compilation_cache_dir
    if current:  # the user's own choice (JAX_COMPILATION_CACHE_DIR) is kept
        return current
    if not cache or os.environ.get("TWOQS_NO_CACHE", "0") not in ("", "0"):
        return None
    path = cache_dir()
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:
        print(
            f"twoqs: note: compilation cache off (cannot create {path!r}: {err.strerror or err})",
            file=sys.stderr,
        )
        return None
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path


def _info(args) -> int:
    import jax

    import twoqs_jax

    print(f"twoqs_jax {twoqs_jax.__version__}")
    print(f"jax {jax.__version__}, backend: {jax.default_backend()}")
    for d in jax.devices():
        print(f"  device {d.id}: {getattr(d, 'device_kind', d.platform)} ({d.platform})")
    x64 = jax.config.read("jax_enable_x64")
    print(f"default float precision: {'float64' if x64 else 'float32'} (jax_enable_x64={x64})")
    cores = os.cpu_count() or 1
    if jax.default_backend() == "cpu" and len(jax.devices()) < cores:
        print(
            f"hint: {cores} CPU cores but {len(jax.devices())} XLA device(s); TWOQS shards "
            "trajectories over devices, so export XLA_FLAGS="
            f"--xla_force_host_platform_device_count={cores} to use every core"
        )
    return 0


def demo(quick: bool = False, out: str = "demo_output", key: int = 0, verbose: bool = True):
    """The main job: driven-spin steady state across the transition, three ways.

    Paper 003 Eq. 29 (``H = Omega S_x``, ``kappa = Gamma/S``): TWOQS (Wigner, time average
    over ``[t_burn, t_burn + t_avg]``, one compiled call for the whole Omega sweep; the
    paper's SDEs, and the default: Fock sampling, the spin-length projection and the
    tangential noise) against
    the exact QuTiP steady state and the mean-field result
    ``<S_z>/S = -sqrt(1 - (Omega/Gamma)^2)`` below the transition (0 above). Prints a table
    and writes ``demo.png`` and ``demo.h5`` to ``out``.

    Returns:
        dict with the parameter grid, the projected TWOQS, exact and mean-field ``<S_z>/S``.
    """
    import jax
    import jax.numpy as jnp
    import numpy as np

    import twoqs_jax as tq
    from twoqs_jax._io import device_description

    S = 20 if quick else 100
    omegas = np.array([0.25, 0.75, 1.25, 1.75]) if quick else np.linspace(0.25, 2.0, 8)
    n_traj = 400 if quick else 4000
    # above threshold <S_z> relaxes with an envelope exp(-t Gamma / (0.69 S)) around
    # oscillations of period ~5.7 / Gamma: burn in for 2.5 S / Gamma and average over
    # several periods (docs/derivations/relaxation.md)
    t_burn, t_avg, dt = 2.5 * S, (10.0 if quick else 40.0), 0.02
    t0 = time.perf_counter()
    models = jax.vmap(lambda om: tq.driven_spin(S, om, 1.0))(jnp.asarray(omegas))
    obs = ["Sx", "Sy", "Sz", "varx", "vary", "varz"]
    runs = {}
    scheme = tq.EulerMaruyama(dt, noise="two_point")
    variants = (
        ("paper SDEs", tq.TWOQS.paper(scheme)),
        ("default (Fock sampling, projection, tangential noise)", tq.TWOQS(scheme)),
    )
    window = tq.SteadyState(t_burn=t_burn, t_avg=t_avg, every=25 * dt)
    for label, method in variants:
        runs[label] = tq.solve(
            models, tq.spin_down(), window, method, n_traj=n_traj, key=key, observables=obs
        )
    t_twa = time.perf_counter() - t0
    t0 = time.perf_counter()
    exact = tq.solve(models, None, tq.SteadyState(), tq.Exact())
    t_exact = time.perf_counter() - t0
    ex_z = np.real(exact["Sz"][:, 0]) / S
    ex_vz = np.real(exact["varz"][:, 0]) / S**2
    mf_z = -np.sqrt(np.clip(1 - omegas**2, 0, None))

    def col(sol, name, scale):
        return np.asarray(sol[name])[:, 0] / scale, np.asarray(sol.error(name))[:, 0] / scale

    if verbose:
        print(f"Driven spin S = {S}, Gamma = 1 (paper 003 Eq. 29), device: {device_description()}")
        print(
            f"TWOQS (Wigner, two-point increments): {n_traj} trajectories, dt = {dt}, "
            f"average over t in [{t_burn}, "
            f"{t_burn + t_avg}], two variants ({t_twa:.1f} s incl. compile); exact: QuTiP "
            f"({t_exact:.1f} s)"
        )
        for label, sol in runs.items():
            z, ze = col(sol, "Sz", S)
            vz, vze = col(sol, "varz", S**2)
            print(f"\nTWOQS, {label}:")
            head = (
                f"{'Omega':>6} | {'<Sz>/S TWOQS':>17} | {'exact':>8} | {'mean field':>10} | "
                f"{'Var(Sz)/S^2 TWOQS':>19} | {'exact':>7}"
            )
            print(head)
            print("-" * len(head))
            for i, om in enumerate(omegas):
                print(
                    f"{om:6.2f} | {z[i]:+8.4f} +- {ze[i]:.4f} | {ex_z[i]:+8.4f} | "
                    f"{mf_z[i]:+10.4f} | {vz[i]:9.4f} +- {vze[i]:.4f} | {ex_vz[i]:7.4f}"
                )
        print(
            "\n(+- is one standard error over trajectories. The paper's SDEs let every "
            "trajectory's spin length diffuse, which biases the mixed phase Omega > Gamma, and "
            "its coherent sampling adds S/2 to Var(S_z) of polarised states, and its decay noise "
            "drops the cross diffusion; the default (Fock sampling, the spin-length projection "
            "and the tangential noise) removes all three, see README.)"
        )

    os.makedirs(out, exist_ok=True)
    import matplotlib

    if os.environ.get("MPLBACKEND") is None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), constrained_layout=True)
    fine = np.linspace(0, omegas.max(), 200)
    axes[0].plot(fine, -np.sqrt(np.clip(1 - fine**2, 0, None)), "k--", lw=1, label="mean field")
    axes[0].plot(omegas, ex_z, "k-o", ms=3, lw=1, label=f"exact S={S}")
    axes[1].plot(omegas, ex_vz, "k-o", ms=3, lw=1, label="exact")
    for (label, sol), fmt in zip(runs.items(), ("s", "D")):
        z, ze = col(sol, "Sz", S)
        vz, vze = col(sol, "varz", S**2)
        axes[0].errorbar(omegas, z, yerr=2 * ze, fmt=fmt, ms=4, capsize=2, label=f"TWOQS, {label}")
        axes[1].errorbar(
            omegas, vz, yerr=2 * vze, fmt=fmt, ms=4, capsize=2, label=f"TWOQS, {label}"
        )
    axes[0].set_xlabel(r"$\Omega/\Gamma$")
    axes[0].set_ylabel(r"$\langle S_z\rangle/S$")
    axes[0].legend(frameon=False, fontsize=8)
    axes[1].set_xlabel(r"$\Omega/\Gamma$")
    axes[1].set_ylabel(r"$\mathrm{Var}(S_z)/S^2$")
    axes[1].legend(frameon=False, fontsize=8)
    fig.suptitle(f"Driven spin steady state, S = {S} (error bars: 2 s.e.)")
    png = os.path.join(out, "demo.png")
    fig.savefig(png, dpi=120)
    plt.close(fig)
    best = runs["default (Fock sampling, projection, tangential noise)"]
    h5 = tq.save(
        os.path.join(out, "demo.h5"),
        best,
        model=models,
        coords={"Omega": omegas},
        settings={
            "S": S,
            "n_traj": n_traj,
            "dt": dt,
            "t_burn": t_burn,
            "t_avg": t_avg,
            "every": 25 * dt,
            "key": key,
            "sampling": "fock",
            "constraint": "spin_length",
            "noise": "two_point",
        },
        overwrite=True,
    )
    if verbose:
        print(f"wrote {png} and {h5}")
    z, ze = col(best, "Sz", S)
    return {
        "omegas": omegas,
        "twa_z": z,
        "twa_z_err": ze,
        "exact_z": ex_z,
        "mf_z": mf_z,
        "png": png,
        "h5": h5,
    }


def _demo(args) -> int:
    start_jax(args.cache)
    demo(quick=args.quick, out=args.out, key=args.key)
    return 0


def _device_context(name):
    import contextlib

    import jax

    if name in (None, "auto"):
        return contextlib.nullcontext()
    try:
        devs = jax.devices(name)
    except RuntimeError:
        raise ValueError(
            f"`method.device` = {name!r}: JAX sees no {name} device "
            f"(it sees {[d.platform for d in jax.devices()]})."
        ) from None
    return jax.default_device(devs[0])


def _execute(cfg, method, *, checkpoint=None, resume=False, progress=None):
    """Run ``cfg`` with ``method`` (sweeping if asked); returns (solution, model, coords).

    A sweep is a batch of models built with ``jax.vmap``: one compiled call for TWOQS and the
    ODEs, point by point for the exact solver (:func:`twoqs_jax.solve` does both).
    """
    import twoqs_jax as tq

    model0 = cfg.build_model()
    state = cfg.build_state(model0.n_sites)
    coords = cfg.sweep_points() or {}
    model = cfg.build_batch()
    kwargs = {"observables": cfg.method.get("observables")}
    if method == "twa":
        kwargs.update(n_traj=cfg.method["n_traj"], key=cfg.method.get("key", 0))
        kwargs["options"] = cfg.options(checkpoint=checkpoint, resume=resume, progress=progress)
    with _device_context(cfg.method.get("device")):
        sol = tq.solve(model, state, cfg.saveat(), cfg.method_object(method), **kwargs)
    return sol, model, coords


def _summary(sol, coords, S):
    """A short table of the final (or steady-state) <S_z>/S per sweep point and site."""
    import numpy as np

    z = np.real(np.asarray(sol["Sz"]))
    e = np.real(np.asarray(sol.error("Sz")))
    if sol.times is not None:
        z, e = z[..., -1, :], e[..., -1, :]
    z, e = np.atleast_2d(z), np.atleast_2d(e)
    S = np.broadcast_to(np.atleast_2d(np.asarray(S, dtype=float)), z.shape)  # per point, site
    n_points = len(next(iter(coords.values()))) if coords else 1
    when = "steady state" if sol.times is None else f"t = {float(sol.times[-1]):g}"
    print(f"<S_z>/S at {when} ({sol.method}):")
    for i in range(n_points):
        head = "  " + ", ".join(f"{k} = {float(v[i]):<8.4g}" for k, v in coords.items())
        cells = ", ".join(
            f"{z[i, j] / S[i, j]:+.4f}" + (f" +- {e[i, j] / S[i, j]:.4f}" if e[i, j] > 0 else "")
            for j in range(z.shape[1])
        )
        status = sol.stats.get("status")
        note = f"  ({status[i]})" if isinstance(status, list) and status[i] != "ok" else ""
        print(f"{head} [{cells}]{note}")


def _output_path(args, cfg):
    from twoqs_jax._sde.checkpoint import check_writable

    path = args.out or cfg.output
    if path is None:
        stem = os.path.splitext(os.path.basename(args.config))[0]
        path = f"{stem}.h5"
    if os.path.exists(path) and not (args.overwrite or args.resume):
        raise FileExistsError(
            f"output {path!r} exists; pass --overwrite to replace it (nothing was written)."
        )
    check_writable(path, "output")  # before any work, not after hours of it
    return path


def _run_cmd(args, require_sweep=False) -> int:
    from twoqs_jax._config import load_config

    cfg = load_config(args.config, check_model=False)  # before JAX loads: errors at once
    if require_sweep and cfg.sweep is None:
        raise ValueError(f"`twoqs sweep` needs a [sweep] section in {args.config!r}.")
    start_jax(args.cache)
    import numpy as np

    from twoqs_jax._io import save_results

    cfg.check_model()
    path = _output_path(args, cfg)
    method = cfg.method["name"]
    ckpt = path + ".checkpoint.npz" if method == "twa" else None
    if args.resume and (ckpt is None or not os.path.exists(ckpt)):
        raise ValueError(f"--resume: no checkpoint {ckpt!r} to resume from.")
    if ckpt is not None and os.path.exists(ckpt) and not args.resume:
        if not args.overwrite:
            raise FileExistsError(
                f"checkpoint {ckpt!r} of an unfinished run exists; pass --resume to continue "
                "it or --overwrite to start afresh (nothing was changed)."
            )
        os.remove(ckpt)  # explicitly asked: start afresh
    progress = True if args.progress else (False if args.quiet else None)
    t0 = time.perf_counter()
    sol, model, coords = _execute(
        cfg, method, checkpoint=ckpt, resume=args.resume, progress=progress
    )
    wall = time.perf_counter() - t0
    settings = {**cfg.method, "wall_time": wall, "config": cfg.as_dict()}
    save_results(
        path,
        sol,
        model=model,
        settings=settings,
        coords=coords,
        description={"preset": cfg.preset, **cfg.params},
        overwrite=True,
    )
    if ckpt is not None and os.path.exists(ckpt):
        os.remove(ckpt)
    _summary(sol, coords, np.asarray(model.spin))
    print(f"wrote {path} ({wall:.1f} s)")
    return 0


def _compare_cmd(args) -> int:
    from twoqs_jax._config import load_config

    cfg = load_config(args.config, check_model=False)  # before JAX loads: errors at once
    if cfg.sweep is not None:
        raise ValueError("`twoqs compare` takes a config without [sweep].")
    start_jax(args.cache)
    cfg.check_model()
    import numpy as np

    import twoqs_jax as tq

    model = cfg.build_model()
    methods = ["twa", "meanfield", "exact"]
    cost = tq.exact.estimate_exact_cost(model, kind="steady" if cfg.steady else "evolve")
    results = {}
    for method in methods:
        if method == "exact" and cost.memory > 8 * 2**30:
            print(f"exact: skipped ({cost.memory / 2**30:.1f} GiB estimated)")
            continue
        if method == "twa" and "dt" not in cfg.method:
            raise ValueError("`twoqs compare` needs `method.dt` and `method.n_traj` for TWOQS.")
        t0 = time.perf_counter()
        results[method] = _execute(cfg, method)[0]
        print(f"{method}: {time.perf_counter() - t0:.1f} s")
    S = np.asarray(model.spin)
    names = ["Sx", "Sy", "Sz"]

    def last(sol, name):
        v = np.real(np.asarray(sol[name]))
        return v[-1] if sol.times is not None else v

    ref = "exact" if "exact" in results else "meanfield"
    print("\nsite | obs | " + " | ".join(f"{m:>18}" for m in results) + f" | TWOQS-{ref}")
    for i in range(model.n_sites):
        for name in names:
            cells = []
            for _m, sol in results.items():
                v = last(sol, name)[i] / S[i]
                e = (
                    np.real(np.asarray(sol.error(name)))[-1]
                    if sol.times is not None
                    else np.real(np.asarray(sol.error(name)))
                )[i] / S[i]
                cells.append(f"{v:+.4f}" + (f" +- {e:.4f}" if e > 0 else " " * 9))
            d = (last(results["twa"], name)[i] - last(results[ref], name)[i]) / S[i]
            print(
                f"{i:4d} | {name:>3}/S | " + " | ".join(f"{c:>18}" for c in cells) + f" | {d:+.4f}"
            )
    if results["twa"].times is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from twoqs_jax import plot

        fig, axes = plt.subplots(1, 3, figsize=(11, 3.2), constrained_layout=True)
        for ax, name in zip(axes, names):
            for m, sol in results.items():
                plot.time_trace(sol, name, ax=ax, scale=1 / S[0], label=m)
            ax.set_ylabel(f"<{name}>/S (site 0)")
        axes[0].legend(frameon=False)
        png = args.figure or os.path.splitext(os.path.basename(args.config))[0] + "_compare.png"
        fig.savefig(png, dpi=110)
        plt.close(fig)
        print(f"wrote {png}")
    return 0


def _config_cmd(args) -> int:
    from twoqs_jax._config import example_names, example_text

    if args.example is None:
        print("shipped example configurations (twoqs config --example NAME [--out FILE]):")
        for name in example_names():
            print(f"  {name}")
        return 0
    text = example_text(args.example)
    if args.out is None:
        print(text, end="")
        return 0
    if os.path.exists(args.out) and not args.overwrite:
        raise FileExistsError(f"{args.out!r} exists; pass --overwrite to replace it.")
    with open(args.out, "w") as f:
        f.write(text)
    print(f"wrote {args.out}")
    return 0


def _cache_flag(parser) -> None:
    parser.add_argument(
        "--no-cache",
        dest="cache",
        action="store_false",
        help="do not use the persistent compilation cache (also: TWOQS_NO_CACHE=1)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``twoqs``."""
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the full traceback of an error",
    )
    p = argparse.ArgumentParser(
        prog="twoqs",
        description="TWOQS, mean-field and exact simulations of driven-dissipative spins.",
        parents=[debug],
    )
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser(
        "demo", help="the main job: driven-spin steady state, three ways", parents=[debug]
    )
    d.add_argument("--quick", action="store_true", help="small sizes (a few seconds)")
    d.add_argument("--out", default="demo_output", help="output directory (default: %(default)s)")
    d.add_argument("--key", type=int, default=0, help="random seed (default: %(default)s)")
    _cache_flag(d)
    d.set_defaults(func=_demo)
    i = sub.add_parser("info", help="version, devices JAX sees, precision", parents=[debug])
    i.set_defaults(func=_info)
    for name, helptext, func in (
        ("run", "run one configuration (TOML) and write a results file", _run_cmd),
        (
            "sweep",
            "run a parameter grid given in the config's [sweep] section",
            lambda a: _run_cmd(a, require_sweep=True),
        ),
    ):
        r = sub.add_parser(name, help=helptext, parents=[debug])
        r.add_argument(
            "config", help="TOML configuration (commented examples: twoqs config --example NAME)"
        )
        r.add_argument("--out", help="results file (.h5); default: [output] path or CONFIG.h5")
        r.add_argument(
            "--overwrite",
            action="store_true",
            help="replace an existing output and start afresh over an existing checkpoint",
        )
        r.add_argument(
            "--resume",
            action="store_true",
            help="continue a killed TWOQS run from its checkpoint (OUT.checkpoint.npz)",
        )
        g = r.add_mutually_exclusive_group()
        g.add_argument("--progress", action="store_true", help="always show a progress bar")
        g.add_argument("--quiet", action="store_true", help="never show a progress bar")
        _cache_flag(r)
        r.set_defaults(func=func)
    e = sub.add_parser(
        "config", help="print or write a commented example configuration", parents=[debug]
    )
    e.add_argument("--example", help="name of a shipped example (omit to list them)")
    e.add_argument("--out", help="write to this file instead of printing")
    e.add_argument("--overwrite", action="store_true", help="replace an existing file")
    e.set_defaults(func=_config_cmd)
    c = sub.add_parser(
        "compare", help="the same model by TWOQS, mean field and exact", parents=[debug]
    )
    c.add_argument("config", help="TOML configuration (twa settings dt, n_traj needed)")
    c.add_argument("--figure", help="figure file (default: CONFIG_compare.png)")
    _cache_flag(c)
    c.set_defaults(func=_compare_cmd)
    return p


def _one_line(err) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _user_errors() -> tuple:
    # bad input or environment: the message says what to change; OSError covers unwritable
    # or missing paths and a full disk (a checkpoint write keeps the previous checkpoint)
    # NotImplementedError: a combination the package refuses before any work (it says which)
    errors = (ValueError, OSError, NotImplementedError)
    twoqs = sys.modules.get("twoqs_jax._twoqs")  # not imported: no run, so no blow-up
    return errors if twoqs is None else (*errors, twoqs.TrajectoryBlowUp)


def main(argv=None) -> int:
    """Entry point of the ``twoqs`` console script (exit codes: module docstring)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        if debug:
            raise
        print("twoqs: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if debug:
            raise
        if isinstance(err, _user_errors()):
            print(f"twoqs: error: {_one_line(err)}", file=sys.stderr)
            return 2
        print(
            f"twoqs: internal error: {type(err).__name__}: {_one_line(err)[:300]} "
            "(rerun with --debug for the traceback, and please report it)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
