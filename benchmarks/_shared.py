"""What the benchmark scripts share: the machine they ran on and writing their results files.

Not a benchmark. Scripts run as ``python benchmarks/<name>.py`` find it on ``sys.path``; a
script that tests load by file path (``run_all.py``, ``compile_time.py``,
``time_to_accuracy.py``) puts its own folder on ``sys.path`` first. Imports only the
standard library (JAX inside :func:`machine_line`), so ``gpu.py`` keeps its short list of
imported libraries.
"""

import json
import os
import platform

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def host() -> dict:
    """``platform``, ``processor`` and ``cpu_count`` of this machine, in that order."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
    }


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo``, else ``platform``'s processor or machine."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(x.split(":", 1)[1].strip() for x in f if x.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return cpu


def load_average() -> tuple[float, float, float] | None:
    """``os.getloadavg()`` where the system has it, else None."""
    return os.getloadavg() if hasattr(os, "getloadavg") else None


def machine_line() -> str:
    """One line naming the machine, the JAX version and its devices (imports JAX)."""
    import jax

    d = jax.devices()[0]
    return (
        f"{platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores, "
        f"JAX {jax.__version__} on {d.platform} ({len(jax.devices())} devices)"
    )


def write_results(stem: str, data, markdown: str | None = None, *, default=None) -> None:
    """Writes ``stem.json`` (``data``, indent 1) and, given ``markdown``, ``stem.md``.

    Creates the folder of ``stem``; ``default`` goes to :func:`json.dump` (e.g. ``str``).
    """
    os.makedirs(os.path.dirname(stem) or ".", exist_ok=True)
    with open(stem + ".json", "w") as f:
        json.dump(data, f, indent=1, default=default)
    if markdown is not None:
        with open(stem + ".md", "w") as f:
            f.write(markdown)
