"""Checkpoint/resume of long TWOQS runs, and progress bars over chunks.

After every chunk the driver writes the merged :class:`RunningStats` and the index of the
next chunk to ``path`` atomically (write a temporary file, then rename), so a killed run
loses at most the chunk in flight. Resuming loads them and continues with the next chunk;
because chunks draw their random numbers from ``fold_in(key, global_trajectory_index)`` and
are merged in the same order, a resumed run ends with numbers identical, bit for bit, to an
uninterrupted run with the same key.

A checkpoint carries a fingerprint of everything that determines the numbers (kernel
configuration, model arrays, initial state, key, package version); resuming from a file of
another run is refused with the reason.
"""

import hashlib
import json
import os
import sys
import tempfile

import jax
import numpy as np

from .statistics import RunningStats

FORMAT = "twoqs_jax-checkpoint-1"


def fingerprint(cfg, model, state, key_data, version: str) -> dict:
    """What must agree between a checkpoint and the run that resumes it."""
    h = hashlib.sha256()
    h.update(repr([type(j).__name__ for j in model.jumps]).encode())
    for leaf in (
        model.spin,
        model.field,
        model.edges,
        model.coupling,
        *[leaf for j in model.jumps for leaf in jax.tree.leaves(j)],
        state.theta,
        state.phi,
    ):
        a = np.ascontiguousarray(np.asarray(leaf))
        a = a.astype(np.complex128 if np.iscomplexobj(a) else np.float64)
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    fields = {k: v for k, v in vars(cfg).items() if k not in ("linear", "scheme")}
    fields["linear"] = [name for name, _ in cfg.linear]
    fields["scheme"] = repr(cfg.scheme)
    return {
        "config": json.loads(json.dumps(fields, default=str)),
        "model_state_sha256": h.hexdigest(),
        "key": json.loads(json.dumps(key_data, default=str)),
        "version": version,
    }


def _diff(a: dict, b: dict) -> str:
    for k in ("version", "model_state_sha256", "key"):
        if a.get(k) != b.get(k):
            what = {
                "version": "package version",
                "model_state_sha256": "model or initial state",
                "key": "random key",
            }[k]
            return f"its {what} differs ({a.get(k)!r} vs {b.get(k)!r})"
    for k in sorted(set(a["config"]) | set(b["config"])):
        if a["config"].get(k) != b["config"].get(k):
            return (
                f"its setting `{k}` differs ({a['config'].get(k)!r} in the file vs "
                f"{b['config'].get(k)!r} now)"
            )
    return "it does not match"


class Checkpoint:
    """A checkpoint file for one run (see the module docstring).

    Args:
        path: checkpoint file (``.npz``).
        resume: continue from ``path`` if it exists (otherwise start fresh and create it).
    """

    def __init__(self, path, resume: bool = False):
        self.path = os.fspath(path)
        self.resume = bool(resume)
        self.fingerprint = None

    def load(self):
        """``(next_chunk, stats)`` from the file, or ``(0, None)`` if there is nothing to resume."""
        if not (self.resume and os.path.exists(self.path)):
            return 0, None
        with np.load(self.path, allow_pickle=False) as z:
            if str(z["format"]) != FORMAT:
                raise ValueError(f"resume file {self.path!r} is not a twoqs_jax checkpoint.")
            stored = json.loads(str(z["fingerprint"]))
            if stored != self.fingerprint:
                raise ValueError(
                    f"cannot resume from {self.path!r}: it was written by another run; "
                    f"{_diff(stored, self.fingerprint)}."
                )
            names = json.loads(str(z["names"]))
            stats = RunningStats(
                count=float(z["count"]),
                mean={k: z[f"mean/{k}"] for k in names["mean"]},
                m2={k: z[f"m2/{k}"] for k in names["mean"]},
                group_count=z["group_count"],
                group_sum={k: z[f"gsum/{k}"] for k in names["gsum"]},
                clipped=z["clipped"],
                nonfinite=z["nonfinite"],
            )
            return int(z["next_chunk"]), stats

    def save(self, next_chunk: int, stats: RunningStats) -> None:
        """Write atomically: temporary file in the same directory, then rename."""
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        arrays = {
            "format": np.asarray(FORMAT),
            "fingerprint": np.asarray(json.dumps(self.fingerprint)),
            "names": np.asarray(
                json.dumps({"mean": list(stats.mean), "gsum": list(stats.group_sum)})
            ),
            "next_chunk": np.asarray(next_chunk),
            "count": np.asarray(stats.count),
            "group_count": np.asarray(stats.group_count),
            "clipped": np.asarray(stats.clipped),
            "nonfinite": np.asarray(stats.nonfinite),
        }
        for k in stats.mean:
            arrays[f"mean/{k}"] = stats.mean[k]
            arrays[f"m2/{k}"] = stats.m2[k]
        for k in stats.group_sum:
            arrays[f"gsum/{k}"] = stats.group_sum[k]
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise


def progress_bar(total: int, initial: int, n_traj_per_chunk: int, enabled):
    """A tqdm bar over chunks showing trajectories/s and the ETA.

    ``enabled=None`` shows it only on an interactive terminal (quiet in CI and pipes).
    """
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=initial,
        unit="chunk",
        desc="TWOQS",
        postfix={"traj/chunk": n_traj_per_chunk},
        file=sys.stderr,
        dynamic_ncols=True,
    )
