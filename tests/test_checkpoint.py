"""Checkpoint/resume: a run killed mid-way and resumed equals an uninterrupted run bit for
bit (also on another number of devices); existing checkpoints are never replaced by a fresh
run; damaged or foreign files and changed settings are refused in one line naming them; a
full disk never loses the previous checkpoint; files respect the umask.
"""

import errno
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from helpers import assert_same

import twoqs_jax as tq
from twoqs_jax._sde import checkpoint as ckmod  # the file format, checked on purpose

SAVE = tq.SaveAt([0.0, 0.25, 0.5])
METHOD = tq.TWOQS.paper(tq.EulerMaruyama(0.01))
KW = dict(n_traj=60, key=7, observables=["Sz", "varz"])


def _model():
    return tq.driven_spin(5, 1.2)


def _run(model=None, checkpoint=None, n_traj=60, chunk_size=10, **options):
    opts = tq.Options(
        chunk_size=chunk_size, dtype="float64", checkpoint=checkpoint, shard=False, **options
    )
    model = _model() if model is None else model
    return tq.solve(model, tq.spin_down(), SAVE, METHOD, **{**KW, "n_traj": n_traj}, options=opts)


@pytest.fixture(scope="module")
def ref():
    return _run()


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A checkpoint of the finished reference run (a fresh copy per use)."""
    ck = str(tmp_path_factory.mktemp("ck") / "full.npz")
    _run(checkpoint=ck)
    return ck


def test_resume_refuses_changed_settings_naming_them(tmp_path, ref, finished):
    # a partial run with another n_traj is refused for the full run, naming n_traj
    ck = str(tmp_path / "run.npz")
    _run(checkpoint=ck, n_traj=30)
    with pytest.raises(ValueError, match=r"`n_traj` differs \(30 in the file, 60 now\)"):
        _run(checkpoint=ck, resume=True)
    # a changed model parameter is named with its old and new value, not two hashes
    with pytest.raises(ValueError, match=r"`model.field` differs \(\[\[1.2, 0. , 0. \]\] in"):
        _run(tq.driven_spin(5, 1.3), checkpoint=finished, resume=True)
    with pytest.raises(ValueError, match=r"the setting `dt` differs \(0.01 in the file, 0.005"):
        tq.solve(
            _model(),
            tq.spin_down(),
            SAVE,
            tq.TWOQS.paper(tq.EulerMaruyama(0.005)),
            **KW,
            options=tq.Options(chunk_size=10, checkpoint=finished, resume=True),
        )
    # resuming a finished run does no work and returns the same numbers
    assert_same(_run(checkpoint=finished, resume=True), ref)


def test_checkpoint_of_other_random_streams_refused(tmp_path, monkeypatch):
    """A checkpoint written with another version of the random streams (v1: the initial
    sample from ``jax.random``) is refused, naming the streams: mixing its chunks with this
    version's would give a run no single key describes.
    """
    ck = str(tmp_path / "old.npz")
    monkeypatch.setattr(ckmod, "STREAMS", "threefry2x32-20 counters v1")
    _run(checkpoint=ck, n_traj=20)
    monkeypatch.undo()
    with pytest.raises(ValueError, match=r"the setting `random_streams` differs \('threefry"):
        _run(checkpoint=ck, n_traj=20, resume=True)


def test_fresh_run_never_replaces_a_checkpoint(tmp_path, finished):
    """Old main: a fresh run silently replaced a checkpoint of 9 of 20 chunks with chunk 1."""
    ck = str(tmp_path / "ck.npz")
    with open(finished, "rb") as f:
        data = f.read()
    with open(ck, "wb") as f:
        f.write(data)
    with pytest.raises(FileExistsError, match="resume=True.*overwrite=True") as err:
        _run(checkpoint=ck)
    assert ck in str(err.value) and "\n" not in str(err.value)
    with open(ck, "rb") as f:
        assert f.read() == data
    _run(checkpoint=ck, overwrite=True)  # explicitly asked: replaced


def _damaged(tmp_path, finished):
    with open(finished, "rb") as f:
        good = f.read()
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0xFF
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, x=np.arange(3))
    ck1 = tmp_path / "v1.npz"  # the format of the old main (no checksum)
    np.savez(ck1, format=np.asarray("twoqs_jax-checkpoint-1"), next_chunk=np.asarray(2))
    return {
        "empty": (b"", "is empty"),
        "truncated": (good[: len(good) // 3], "damaged or truncated"),
        "flipped byte": (bytes(flipped), "damaged"),
        "text": (b"Sz = 0.5\nvarz = 0.1\n", "not a twoqs_jax checkpoint"),
        "foreign npz": (foreign.read_bytes(), "not a twoqs_jax checkpoint"),
        "old format": (ck1.read_bytes(), "not a twoqs_jax checkpoint"),
    }


def test_damaged_or_foreign_checkpoints_refused_in_one_line(tmp_path, finished):
    """Old main: BadZipFile, 'Bad CRC-32', EOFError, numpy's allow_pickle advice."""
    for label, (data, needle) in _damaged(tmp_path, finished).items():
        ck = tmp_path / f"{label.replace(' ', '_')}.npz"
        ck.write_bytes(data)
        with pytest.raises(ckmod.CheckpointError) as err:
            _run(checkpoint=str(ck), resume=True)
        msg = str(err.value)
        assert needle in msg and str(ck) in msg and "\n" not in msg, (label, msg)
        assert ck.read_bytes() == data  # left as it was


def test_full_disk_keeps_previous_checkpoint(tmp_path, monkeypatch, ref):
    """An injected ENOSPC at the third chunk's write: the error says so, the checkpoint of
    two chunks is intact (no temporary file left), and resuming ends bit for bit as ref.
    """
    ck = str(tmp_path / "ck.npz")
    write, calls = ckmod._write_npz, []

    def full_disk(tmp, arrays):
        calls.append(tmp)
        if len(calls) == 3:
            with open(tmp, "wb") as f:
                f.write(b"PK\x03\x04 partial")  # a partly written file
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        write(tmp, arrays)

    monkeypatch.setattr(ckmod, "_write_npz", full_disk)
    with pytest.raises(OSError, match="No space left on device.*previous checkpoint is intact"):
        _run(checkpoint=ck)
    monkeypatch.setattr(ckmod, "_write_npz", write)
    assert sorted(os.listdir(tmp_path)) == ["ck.npz"]
    _, meta, _ = ckmod.read_checkpoint(ck)
    assert meta["merger"]["next_block"] * 1 == 20  # two chunks of 10 one-trajectory blocks
    assert_same(_run(checkpoint=ck, resume=True), ref)


def test_files_respect_the_umask(tmp_path):
    """Old main: checkpoints and results files were created 0600 (mkstemp)."""
    old = os.umask(0o022)
    try:
        ck = str(tmp_path / "ck.npz")
        sol = _run(checkpoint=ck)
        h5 = tq.save(str(tmp_path / "r.h5"), sol)
    finally:
        os.umask(old)
    assert os.stat(ck).st_mode & 0o777 == 0o644
    assert os.stat(h5).st_mode & 0o777 == 0o644


def test_resume_on_another_device_count_is_bit_identical(tmp_path, monkeypatch, ref):
    """Two chunks on one device, the rest sharded over 4 devices with another chunk size:
    the numbers are those of the one-device run, bit for bit, and stats record both parts.
    """
    ck = str(tmp_path / "ck.npz")
    save = ckmod.Checkpoint.save

    def dying(self, merger):
        save(self, merger)
        if merger.next_block == 20:
            raise KeyboardInterrupt

    monkeypatch.setattr(ckmod.Checkpoint, "save", dying)
    with pytest.raises(KeyboardInterrupt):
        _run(checkpoint=ck)
    monkeypatch.setattr(ckmod.Checkpoint, "save", save)
    opts = tq.Options(chunk_size=8, dtype="float64", checkpoint=ck, resume=True, shard=True)
    sol = tq.solve(_model(), tq.spin_down(), SAVE, METHOD, **KW, options=opts)
    assert_same(sol, ref)
    assert sol.stats["n_devices"] == 4
    assert [(s["first_traj"], s["n_devices"]) for s in sol.stats["segments"]] == [(0, 1), (20, 4)]


SCRIPT = textwrap.dedent(
    """
    import sys, time
    import jax
    jax.config.update("jax_enable_x64", True)
    import twoqs_jax as tq
    from twoqs_jax._sde import checkpoint as ckmod
    if sys.argv[2] == "slow":  # announce every checkpoint, then wait to be killed
        save = ckmod.Checkpoint.save
        def slow_save(self, merger):
            save(self, merger)
            print(f"chunk {merger.next_block // 10}", flush=True)
            time.sleep(0.3)
        ckmod.Checkpoint.save = slow_save
    sol = tq.solve(tq.driven_spin(5, 1.2), tq.spin_down(), tq.SaveAt([0.0, 0.25, 0.5]),
                   tq.TWOQS.paper(tq.EulerMaruyama(0.01)), n_traj=60, key=7,
                   observables=["Sz", "varz"],
                   options=tq.Options(chunk_size=10, dtype="float64", checkpoint=sys.argv[1],
                                      resume=True))
    import numpy as np
    np.save(sys.argv[1] + ".Sz.npy", np.asarray(sol["Sz"]))
    np.save(sys.argv[1] + ".varz_sem.npy", np.asarray(sol.error("varz")))
    """
)


@pytest.mark.parametrize("kills", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_sigkill_at_random_chunks_then_resume(tmp_path, ref, kills):
    """SIGKILL at random chunks (fixed seed), each run resuming the last checkpoint, then a
    run to the end: the numbers of an uninterrupted run, bit for bit.
    """
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    ck = str(tmp_path / "ck.npz")
    env = {**os.environ, "XLA_FLAGS": ""}
    rng = random.Random(15)
    done = 0
    for _ in range(kills):
        kill_at = done + rng.randint(1, 2)
        proc = subprocess.Popen(
            [sys.executable, str(script), ck, "slow"], stdout=subprocess.PIPE, text=True, env=env
        )
        deadline = time.time() + 240
        seen = done
        while seen < kill_at and time.time() < deadline:
            line = proc.stdout.readline()
            if not line:
                break  # the run ended (or failed) before it was killed
            if line.startswith("chunk"):
                seen = int(line.split()[1])
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        _, meta, _ = ckmod.read_checkpoint(ck)
        done = meta["merger"]["next_block"] // 10
        assert kill_at <= done < 6, (kill_at, done)  # killed mid-way, progress kept
    subprocess.run([sys.executable, str(script), ck, "fast"], check=True, env=env)
    np.testing.assert_array_equal(np.load(ck + ".Sz.npy"), np.asarray(ref["Sz"]))
    np.testing.assert_array_equal(np.load(ck + ".varz_sem.npy"), np.asarray(ref.error("varz")))


def test_unwritable_checkpoint_refused_before_any_work(tmp_path, monkeypatch):
    """Old main: TWOQS failed on its temporary file after compiling and running chunk 1."""
    from twoqs_jax._sde import driver  # patched: nothing may compile before the refusal

    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setattr(driver, "compiled", lambda *a: pytest.fail("compiled before preflight"))
    with pytest.raises(NotADirectoryError, match=r"checkpoint .*file/ck.npz.* cannot be written"):
        _run(checkpoint=str(blocker / "ck.npz"))
    with pytest.raises(IsADirectoryError, match="cannot be written"):
        _run(checkpoint=str(tmp_path))
