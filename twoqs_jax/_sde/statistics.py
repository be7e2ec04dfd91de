"""Streaming statistics over trajectory blocks, merged in a fixed order (Chan et al. update).

The atomic unit is a *block* of ``B`` consecutive global trajectory indices (``B`` a power of
two fixed by ``n_traj`` and the number of jackknife groups, :func:`traj_block`; chunk sizes
are multiples of it). The device reports, per block and observable, the mean and the sum of
squared deviations ``M2`` over its valid trajectories, each reduced by a fixed pairwise tree
of adds (:func:`twoqs_jax._sde.kernel._chunk_moments`; the mean is the block sum times the
reciprocal of the block's count, ``M2`` the sum of squared deviations from that mean). The
kernel reduces all values of one dtype as one array and computes each value apart from the
others, so every number of an observable depends on its own per-trajectory values only: the
same bits whatever other observables are requested. :class:`BlockMerger` merges the blocks
on the host, in float64, along a fixed binary tree over the *global* block index (a streaming
pairwise merge: block pairs ``(2j, 2j+1)``, then pairs of pairs, ...), vectorised over the
blocks of a chunk. The tree depends only on the block indices, so any chunk size, any number
of devices and any resume (also on another number of devices) give the same numbers, bit for
bit. Jackknife group ``g`` holds the blocks ``b`` with ``b mod G = g``; its sums are added in
increasing block order. :class:`RunningStats` is the final (merged) form.
"""

import equinox as eqx
import numpy as np

MAX_TRAJ_BLOCK = 64


def traj_block(n_traj: int, n_groups: int) -> int:
    """Trajectories per statistics block: the largest power of two ``<= 64`` that still
    leaves every one of the ``n_groups`` jackknife groups at least one block (1 for small
    runs). Depends on the run's size only, never on its chunking or devices.
    """
    b = 1
    while b * 2 <= MAX_TRAJ_BLOCK and b * 2 * n_groups <= n_traj:
        b *= 2
    return b


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


def _chan(na, ma, m2a, nb, mb, m2b):
    """Chan et al. merge of (count, mean, M2) pairs; counts broadcast over the leading axis."""
    n = na + nb
    shape = (-1,) + (1,) * (ma.ndim - 1)
    fa, fb = (nb / n).reshape(shape), (na * nb / n).reshape(shape)
    delta = mb - ma
    return ma + delta * fa, m2a + m2b + delta**2 * fb


def _merge_nodes(a: tuple, b: tuple) -> tuple:
    """Merge nodes ``a`` and ``b`` (``(n, mean, m2)``: ``(m,)`` counts and ``(m, F)`` packed
    values) elementwise along the leading axis (non-finite values of failed trajectories
    propagate quietly: they are counted and flagged).
    """
    with np.errstate(invalid="ignore", over="ignore"):
        mean, m2 = _chan(a[0], a[1], a[2], b[0], b[1], b[2])
    return a[0] + b[0], mean, m2


def _pack(arrays, k: int) -> np.ndarray:
    """``(k, F)`` float64: the arrays (leading axis ``k``) flattened and side by side."""
    cols = [np.asarray(v, np.float64).reshape(k, -1) for v in arrays]
    if len(cols) == 1:
        return cols[0]
    return np.concatenate(cols, axis=1) if cols else np.zeros((k, 0))


def _unpack(packed: np.ndarray, layout: list) -> dict:
    """Inverse of :func:`_pack`: name -> ``packed.shape[:1] + shape``."""
    out, start = {}, 0
    for name, shape in layout:
        size = int(np.prod(shape, dtype=np.int64))
        out[name] = packed[:, start : start + size].reshape(packed.shape[:1] + shape)
        start += size
    return out


class BlockMerger:
    """Fixed-order float64 merge of per-block statistics (module docstring).

    Feed the blocks in global order with :meth:`add` (any number per call); :meth:`result`
    gives the :class:`RunningStats`. The state is a binary counter of pending tree nodes
    (at most one per level), the per-group sums, and integer health counters; it round-trips
    through :meth:`state` / :meth:`from_state` (checkpoints). Inside, every name's values
    are flattened into the columns of one ``(blocks, F)`` float64 array, so that a tree level
    costs a few NumPy operations whatever the number of observables (the operations on each
    element are those of a merge name by name: the same bits).

    Args:
        n_groups: jackknife groups ``G``.
    """

    def __init__(self, n_groups: int):
        self.n_groups = int(n_groups)
        self.next_block = 0
        self.nodes: list = []  # (level, (n, mean, m2)) from the left (highest level) on
        self.layout: list | None = None  # (name, shape) of the packed mean/m2 columns
        self.group_layout: list | None = None  # the same for the group sums
        self.group_count = None
        self.group_sum = None  # (G, F_g) packed
        self.clipped = None
        self.nonfinite = None
        self.bad_block = None

    def add(self, counts, mean, m2, gsum, clipped, bad, bad_block) -> None:
        """Merge the next ``K`` blocks (leading axis ``K`` of every array; ``counts`` > 0).

        ``mean``, ``m2``, ``gsum``: name -> ``(K, ...)`` arrays. ``clipped``, ``bad``
        (``(K, ...)`` integers, summed) and ``bad_block`` (minimum) are the health counters
        of the blocks (a trailing batch axis for sweeps).
        """
        counts = np.asarray(counts, np.float64)
        k = counts.shape[0]
        if k == 0:
            return
        if self.layout is None:
            self.layout = [(n, np.shape(v)[1:]) for n, v in mean.items()]
        if self.group_layout is None:
            self.group_layout = [(n, np.shape(v)[1:]) for n, v in gsum.items()]
        names = [n for n, _ in self.layout]
        cur = (counts, _pack([mean[n] for n in names], k), _pack([m2[n] for n in names], k))
        gcols = _pack([gsum[n] for n, _ in self.group_layout], k)
        groups = (self.next_block + np.arange(k)) % self.n_groups
        if self.group_sum is None:
            self.group_count = np.zeros(self.n_groups)
            self.group_sum = np.zeros((self.n_groups, gcols.shape[1]))
            self.clipped = np.zeros(np.shape(clipped)[1:], np.int64)
            self.nonfinite = np.zeros(np.shape(bad)[1:], np.int64)
            self.bad_block = np.full(np.shape(bad_block)[1:], np.iinfo(np.int64).max)
        with np.errstate(invalid="ignore", over="ignore"):
            for s in range(0, k, self.n_groups):  # distinct groups per slice: block order
                g = groups[s : s + self.n_groups]
                self.group_count[g] += counts[s : s + self.n_groups]
                self.group_sum[g] += gcols[s : s + self.n_groups]
        self.clipped = self.clipped + np.sum(np.asarray(clipped, np.int64), axis=0)
        self.nonfinite = self.nonfinite + np.sum(np.asarray(bad, np.int64), axis=0)
        self.bad_block = np.minimum(self.bad_block, np.min(np.asarray(bad_block), axis=0))
        self.next_block += k
        leftovers, level = [], 0
        while cur[0].shape[0]:
            if self.nodes and self.nodes[-1][0] == level:
                prev = self.nodes.pop()[1]
                cur = tuple(np.concatenate([p, c]) for p, c in zip(prev, cur))
            m = cur[0].shape[0]
            if m % 2:
                leftovers.append((level, tuple(x[m - 1 : m] for x in cur)))
            cur = _merge_nodes(tuple(x[0 : m - 1 : 2] for x in cur), tuple(x[1:m:2] for x in cur))
            level += 1
        self.nodes.extend(reversed(leftovers))

    def result(self) -> "RunningStats":
        """The merged statistics (pending nodes folded from the left)."""
        node = self.nodes[0][1]
        for _, other in self.nodes[1:]:
            node = _merge_nodes(node, other)
        layout = self.layout or []
        return RunningStats(
            count=float(node[0][0]),
            mean={k: v[0] for k, v in _unpack(node[1], layout).items()},
            m2={k: v[0] for k, v in _unpack(node[2], layout).items()},
            group_count=self.group_count,
            group_sum=_unpack(self.group_sum, self.group_layout or []),
            clipped=self.clipped.astype(np.float64),
            nonfinite=self.nonfinite.astype(np.float64),
        )

    def state(self) -> tuple[dict, dict]:
        """``(meta, arrays)``: JSON-able metadata and named float64/int arrays."""
        layout = self.layout or []
        meta = {
            "n_groups": self.n_groups,
            "next_block": self.next_block,
            "levels": [lv for lv, _ in self.nodes],
            "names": sorted(n for n, _ in layout) if self.nodes else [],
            "gsum_names": sorted(n for n, _ in self.group_layout or []),
        }
        arrays = {}
        for i, (_, (n, mean, m2)) in enumerate(self.nodes):
            arrays[f"node{i}/n"] = n
            for k, v in _unpack(mean, layout).items():
                arrays[f"node{i}/mean/{k}"] = v
            for k, v in _unpack(m2, layout).items():
                arrays[f"node{i}/m2/{k}"] = v
        if self.group_sum is not None:
            arrays["group_count"] = self.group_count
            for k, v in _unpack(self.group_sum, self.group_layout or []).items():
                arrays[f"gsum/{k}"] = v
            arrays["clipped"] = self.clipped
            arrays["nonfinite"] = self.nonfinite
            arrays["bad_block"] = self.bad_block
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict, arrays: dict) -> "BlockMerger":
        """Rebuild from :meth:`state` (``KeyError`` if an array is missing)."""
        self = cls(meta["n_groups"])
        self.next_block = int(meta["next_block"])
        names = list(meta["names"])
        for i, lv in enumerate(meta["levels"]):
            n = np.asarray(arrays[f"node{i}/n"], np.float64)
            if self.layout is None:
                self.layout = [(k, np.shape(arrays[f"node{i}/mean/{k}"])[1:]) for k in names]
            mean = _pack([arrays[f"node{i}/mean/{k}"] for k in names], n.shape[0])
            m2 = _pack([arrays[f"node{i}/m2/{k}"] for k in names], n.shape[0])
            self.nodes.append((int(lv), (n, mean, m2)))
        if "group_count" in arrays:
            self.group_count = np.asarray(arrays["group_count"], np.float64)
            gnames = list(meta["gsum_names"])
            self.group_layout = [(k, np.shape(arrays[f"gsum/{k}"])[1:]) for k in gnames]
            self.group_sum = _pack([arrays[f"gsum/{k}"] for k in gnames], self.n_groups)
            self.clipped = np.asarray(arrays["clipped"], np.int64)
            self.nonfinite = np.asarray(arrays["nonfinite"], np.int64)
            self.bad_block = np.asarray(arrays["bad_block"], np.int64)
        return self
