"""Streaming statistics over trajectory chunks, merged exactly (Chan et al. pairwise update).

A chunk reports, per observable, its mean and sum of squared deviations ``M2`` over its
valid trajectories, plus plain sums per jackknife group (trajectory ``i`` belongs to group
``i mod G``, so groups do not depend on the chunk size). :class:`RunningStats` holds these
as float64 numpy arrays; ``merge`` combines two of them exactly as if all trajectories had
been processed together (up to float64 round-off), so chunks, devices and checkpointed runs
can be combined in any order.
"""

import equinox as eqx
import numpy as np


def _f64(tree):
    return {k: np.asarray(v, dtype=np.float64) for k, v in tree.items()}


class RunningStats(eqx.Module):
    """Mergeable moments of per-trajectory observables.

    Attributes:
        count: number of trajectories merged so far.
        mean: name -> mean over trajectories.
        m2: name -> sum of squared deviations from ``mean``.
        group_count: ``(G,)`` trajectories per jackknife group.
        group_sum: name -> ``(G, ...)`` sums per group (only the names derived observables
            need).
        clipped: Wigner diffusion clips, summed over site-steps and trajectories (float).
        nonfinite: number of trajectories whose state became NaN or inf.
    """

    count: float
    mean: dict
    m2: dict
    group_count: np.ndarray
    group_sum: dict
    clipped: float
    nonfinite: float

    @classmethod
    def from_chunk(cls, out: dict, count: float, group_count: np.ndarray) -> "RunningStats":
        """Wrap one chunk's device output (see :mod:`twoqs_jax._sde.kernel`)."""
        return cls(
            count=float(count),
            mean=_f64(out["mean"]),
            m2=_f64(out["m2"]),
            group_count=np.asarray(group_count, dtype=np.float64),
            group_sum=_f64(out["gsum"]),
            clipped=np.asarray(out["clipped"], dtype=np.float64),
            nonfinite=np.asarray(out["bad"], dtype=np.float64),
        )

    def merge(self, other: "RunningStats") -> "RunningStats":
        """Combine with the statistics of a disjoint set of trajectories."""
        na, nb = self.count, other.count
        n = na + nb
        mean, m2 = {}, {}
        for name in self.mean:
            delta = other.mean[name] - self.mean[name]
            mean[name] = self.mean[name] + delta * (nb / n)
            m2[name] = self.m2[name] + other.m2[name] + delta**2 * (na * nb / n)
        return RunningStats(
            count=n,
            mean=mean,
            m2=m2,
            group_count=self.group_count + other.group_count,
            group_sum={k: self.group_sum[k] + other.group_sum[k] for k in self.group_sum},
            clipped=self.clipped + other.clipped,
            nonfinite=self.nonfinite + other.nonfinite,
        )

    def sem(self, name: str) -> np.ndarray:
        """Standard error of ``mean[name]`` (sample variance with ``count - 1``)."""
        return np.sqrt(self.m2[name] / (self.count - 1) / self.count)

    def jackknife(self, fn):
        """Value ``fn(means)`` and its delete-one-group jackknife standard error.

        ``fn`` maps a dict of means (the grouped names) to an array; groups that hold no
        trajectory are skipped.
        """
        total = {k: v.sum(axis=0) for k, v in self.group_sum.items()}
        n = self.group_count.sum()
        full = fn({k: v / n for k, v in total.items()})
        used = np.flatnonzero(self.group_count > 0)
        g = len(used)
        if g < 2:
            return full, np.full(np.shape(full), np.nan)
        reps = []
        for j in used:
            nj = n - self.group_count[j]
            reps.append(fn({k: (total[k] - self.group_sum[k][j]) / nj for k in total}))
        reps = np.stack(reps)
        sem = np.sqrt((g - 1) / g * np.sum((reps - reps.mean(axis=0)) ** 2, axis=0))
        return full, sem
