"""Checkpoint/resume of long TWOQS runs, and progress bars over chunks.

After every chunk the driver writes the merge state of the statistics
(:class:`~.statistics.BlockMerger`: the pending nodes of its fixed merge tree, the jackknife
group sums, the health counters and the index of the next trajectory block) to ``path``
atomically: a temporary file in the same directory, flushed to disk, then renamed over the
old one. A killed run loses at most the chunk in flight; a failed write (a full disk, say)
leaves the previous checkpoint intact. Resuming loads the state and continues with the next
block; the merge order depends only on global block indices, so a resumed run ends with
numbers identical, bit for bit, to an uninterrupted run with the same key, whatever the chunk
size or number of devices of either part.

Format (``FORMAT``, ``FORMAT_VERSION``): an uncompressed ``.npz`` (zip) of named arrays plus
``format``, ``format_version``, ``fingerprint`` and ``meta`` (JSON strings) and ``checksum``
(SHA-256 over every other entry's name, dtype, shape and bytes). Anything else (an empty,
truncated, damaged, text or foreign file, another version) is refused with one line that
names the file.

A checkpoint carries a fingerprint of everything that determines the numbers (kernel
settings, every model array by name, the initial state, the key, the package version);
resuming a file of another run is refused naming the first setting that differs, with its
value in the file and now. A fresh run never replaces an existing checkpoint unless asked
(``overwrite``).
"""

import hashlib
import importlib.util
import json
import os
import sys
import zipfile
import zlib

import numpy as np

from .._optional import require
from .rng import STREAMS
from .statistics import BlockMerger

FORMAT = "twoqs_jax-checkpoint"
FORMAT_VERSION = 2


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used (damaged, foreign, or of another run)."""


def _summary(a: np.ndarray) -> str:
    if a.size <= 8:
        return np.array2string(a, precision=8, separator=", ").replace("\n", "")
    return (
        f"array{a.shape} (min {np.min(np.real(a)):.6g}, max {np.max(np.real(a)):.6g}, "
        f"mean {np.mean(a):.6g})"
    )


def fingerprint(cfg, model, state, key_data, version: str) -> dict:
    """What must agree between a checkpoint and the run that resumes it (JSON-able).

    Every model array, jump field and initial angle by name (SHA-256 of its float64 bytes
    and a short printable summary), the jump types, the key, the package version and the
    kernel settings that change the numbers (not ``chunk_size``, which does not).
    """
    arrays = {
        "model.spin": model.spin,
        "model.field": model.field,
        "model.edges": model.edges,
        "model.coupling": model.coupling,
    }
    for i, j in enumerate(model.jumps):
        for name in j.real_fields + j.complex_fields:
            arrays[f"model.jumps[{i}].{name}"] = getattr(j, name)
    arrays["state.theta"] = state.theta
    arrays["state.phi"] = state.phi
    entries = {}
    for name, leaf in arrays.items():
        a = np.ascontiguousarray(np.asarray(leaf))
        a = a.astype(np.complex128 if np.iscomplexobj(a) else np.float64)
        h = hashlib.sha256(str(a.shape).encode() + a.tobytes()).hexdigest()
        entries[name] = {"sha256": h, "value": _summary(a)}
    fields = {k: v for k, v in vars(cfg).items() if k not in ("linear", "scheme", "chunk_size")}
    fields["linear"] = [name for name, _ in cfg.linear]
    fields["scheme"] = repr(cfg.scheme)
    fields["dt"] = cfg.dt
    fields["random_streams"] = STREAMS  # a checkpoint of other streams must not be mixed in
    return {
        "config": json.loads(json.dumps(fields, default=str)),
        "arrays": entries,
        "jump_types": [type(j).__name__ for j in model.jumps],
        "key": json.loads(json.dumps(key_data, default=str)),
        "version": version,
    }


def _diff(a: dict, b: dict) -> str:
    """The first difference between two fingerprints, in words (``a``: file, ``b``: now)."""
    if a.get("version") != b.get("version"):
        return f"the package version differs ({a.get('version')!r} in the file, {b.get('version')!r} now)"
    if a.get("key") != b.get("key"):
        return f"the random `key` differs ({a.get('key')!r} in the file, {b.get('key')!r} now)"
    if a.get("jump_types") != b.get("jump_types"):
        return (
            f"the jump terms differ ({a.get('jump_types')} in the file, {b.get('jump_types')} now)"
        )
    ca, cb = a.get("config", {}), b.get("config", {})
    first = [k for k in ("n_traj", "dt") if k in ca or k in cb]
    for k in first + sorted((set(ca) | set(cb)) - set(first)):
        if ca.get(k) != cb.get(k):
            return f"the setting `{k}` differs ({ca.get(k)!r} in the file, {cb.get(k)!r} now)"
    aa, ab = a.get("arrays", {}), b.get("arrays", {})
    for k in list(ab) + [k for k in aa if k not in ab]:
        if aa.get(k, {}).get("sha256") != ab.get(k, {}).get("sha256"):
            va, vb = aa.get(k, {}).get("value"), ab.get(k, {}).get("value")
            return f"`{k}` differs ({va} in the file, {vb} now)"
    return "it does not match this run"


def _checksum(arrays: dict) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def read_checkpoint(path: str) -> tuple[dict, dict, dict]:
    """``(fingerprint, meta, arrays)`` of a checkpoint file; :class:`CheckpointError` (one
    line naming the file) for anything that is not an intact checkpoint of this format.
    """

    def bad(why):
        return CheckpointError(
            f"checkpoint {path!r} {why}; it cannot be resumed (start afresh with "
            "overwrite=True / --overwrite)."
        )

    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as err:
        raise CheckpointError(f"cannot read checkpoint {path!r}: {err.strerror or err}.") from None
    if size == 0:
        raise bad("is empty")
    if head != b"PK\x03\x04":
        raise bad("is not a twoqs_jax checkpoint (not an .npz archive)")
    try:
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, EOFError, ValueError, OSError, KeyError, zlib.error) as err:
        why = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise bad(f"is damaged or truncated ({why})") from None
    try:
        fmt = str(arrays.pop("format"))
        version = int(arrays.pop("format_version"))
        stored = str(arrays.pop("checksum"))
    except (KeyError, ValueError, TypeError):
        raise bad("is not a twoqs_jax checkpoint (no format or checksum)") from None
    if fmt != FORMAT:
        raise bad(f"is not a twoqs_jax checkpoint (format {fmt!r})")
    if version != FORMAT_VERSION:
        raise bad(f"has format version {version}; this twoqs_jax reads version {FORMAT_VERSION}")
    if _checksum(arrays) != stored:
        raise bad("is damaged (checksum mismatch)")
    try:
        fp = json.loads(str(arrays.pop("fingerprint")))
        meta = json.loads(str(arrays.pop("meta")))
    except (KeyError, ValueError):
        raise bad("is damaged (no fingerprint or metadata)") from None
    return fp, meta, arrays


def atomic_target(path: str):
    """A context manager giving a temporary path next to ``path``, created with the user's
    umask (like ``open``), renamed over ``path`` when the block succeeds and removed when it
    fails: an interrupted or failed write never replaces the old file.
    """
    import contextlib
    import secrets

    @contextlib.contextmanager
    def cm():
        directory = os.path.dirname(os.path.abspath(path))
        tmp = os.path.join(
            directory, f".{os.path.basename(path)}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        )
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        os.close(fd)
        try:
            yield tmp
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)
            raise

    return cm()


def check_writable(path: str, what: str) -> None:
    """Refuse (``OSError`` naming ``what`` and ``path``) before any work if ``path`` cannot
    be created: its directory is made if missing and a probe file is created and removed.
    """
    import secrets

    directory = os.path.dirname(os.path.abspath(path))
    try:
        if os.path.exists(directory) and not os.path.isdir(directory):
            raise NotADirectoryError(f"{directory!r} is not a directory")
        os.makedirs(directory, exist_ok=True)
        if os.path.isdir(path):
            raise IsADirectoryError("it is a directory")
        probe = os.path.join(directory, f".twoqs-probe.{os.getpid()}.{secrets.token_hex(4)}")
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.remove(probe)
    except OSError as err:
        raise type(err)(f"{what} {path!r} cannot be written: {err.strerror or err}.") from None


def _write_npz(tmp: str, arrays: dict) -> None:
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())


class Checkpoint:
    """A checkpoint file for one run (see the module docstring).

    Args:
        path: checkpoint file (``.npz``).
        resume: continue from ``path`` if it exists (otherwise start fresh and create it).
        overwrite: a fresh run may replace an existing ``path`` (otherwise refused).
    """

    def __init__(self, path, resume: bool = False, overwrite: bool = False):
        self.path = os.fspath(path)
        self.resume = bool(resume)
        self.overwrite = bool(overwrite)
        self.fingerprint = None
        self.history: list = []

    def preflight(self) -> None:
        """Before any work: the path is writable and a fresh run would not replace a file."""
        check_writable(self.path, "checkpoint")
        if os.path.exists(self.path) and not self.resume and not self.overwrite:
            raise FileExistsError(
                f"checkpoint {self.path!r} exists; a fresh run would replace it: resume it "
                "(resume=True / --resume) or start afresh (overwrite=True / --overwrite)."
            )

    def load(self, n_groups: int):
        """The :class:`BlockMerger` to continue from, or ``None`` if there is nothing to
        resume. Refuses a damaged file or one of another run (:class:`CheckpointError`).
        """
        if not (self.resume and os.path.exists(self.path)):
            return None
        stored, meta, arrays = read_checkpoint(self.path)
        if stored != self.fingerprint:
            raise CheckpointError(
                f"cannot resume from {self.path!r}: it was written by another run; "
                f"{_diff(stored, self.fingerprint)}."
            )
        try:
            merger = BlockMerger.from_state(meta["merger"], arrays)
            self.history = list(meta.get("history", []))
        except (KeyError, ValueError, TypeError):
            raise CheckpointError(
                f"checkpoint {self.path!r} is damaged (incomplete statistics); it cannot be "
                "resumed (start afresh with overwrite=True / --overwrite)."
            ) from None
        if merger.n_groups != n_groups:
            raise CheckpointError(f"cannot resume from {self.path!r}: `n_groups` differs.")
        return merger

    def save(self, merger: BlockMerger) -> None:
        """Write atomically (see :func:`atomic_target`); on failure the old file is intact."""
        meta_m, arrays = merger.state()
        arrays = {k: np.asarray(v) for k, v in arrays.items()}
        arrays["fingerprint"] = np.asarray(json.dumps(self.fingerprint))
        arrays["meta"] = np.asarray(json.dumps({"merger": meta_m, "history": self.history}))
        checksum = _checksum(arrays)
        arrays["format"] = np.asarray(FORMAT)
        arrays["format_version"] = np.asarray(FORMAT_VERSION)
        arrays["checksum"] = np.asarray(checksum)
        with atomic_target(self.path) as tmp:
            _write_npz(tmp, arrays)


def progress_bar(total: int, initial: int, n_traj_per_chunk: int, enabled):
    """A tqdm bar over chunks showing trajectories/s and the ETA.

    ``enabled=None`` shows it only on an interactive terminal (quiet in CI and pipes).
    """
    if enabled is None:
        enabled = sys.stderr.isatty() and importlib.util.find_spec("tqdm") is not None
    if not enabled:
        return None
    tqdm = require("tqdm.auto", "the progress bar (Options(progress=True))").tqdm

    return tqdm(
        total=total,
        initial=initial,
        unit="chunk",
        desc="TWOQS",
        postfix={"traj/chunk": n_traj_per_chunk},
        file=sys.stderr,
        dynamic_ncols=True,
    )
