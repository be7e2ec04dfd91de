"""Checkpoint/resume: a run killed mid-way and resumed equals an uninterrupted run bit for bit."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import twoqs_jax as tq

SAVE = tq.SaveAt([0.0, 0.25, 0.5])
METHOD = tq.TWOQS.paper(tq.EulerMaruyama(0.01))
KW = dict(n_traj=60, key=7, observables=["Sz", "varz"])


def _model():
    return tq.driven_spin(5, 1.2)


def _run(model, checkpoint=None, resume=False, n_traj=60):
    opts = tq.Options(chunk_size=10, dtype="float64", checkpoint=checkpoint, resume=resume)
    return tq.solve(model, tq.spin_down(), SAVE, METHOD, **{**KW, "n_traj": n_traj}, options=opts)


def test_resume_equals_uninterrupted(tmp_path):
    ref = _run(_model())
    ck = str(tmp_path / "run.npz")
    # A 'killed' run: emulate it by resuming from a checkpoint written after 3 of 6 chunks.
    part = _run(_model(), checkpoint=ck, n_traj=30)
    assert part.stats["n_traj"] == 30 and os.path.exists(ck)
    # n_traj differs, so this file must be refused for the full run ...
    with pytest.raises(ValueError, match="n_traj"):
        _run(_model(), checkpoint=ck, resume=True)
    # ... and a run of another model is refused too.
    full_ck = str(tmp_path / "full.npz")
    _run(_model(), checkpoint=full_ck)
    with pytest.raises(ValueError, match="model or initial state"):
        _run(tq.driven_spin(5, 1.3), checkpoint=full_ck, resume=True)
    # resuming a finished run does no work and returns the same numbers
    again = _run(_model(), checkpoint=full_ck, resume=True)
    for name in ("Sz", "varz"):
        np.testing.assert_array_equal(again[name], ref[name])
        np.testing.assert_array_equal(again.error(name), ref.error(name))


SCRIPT = textwrap.dedent(
    """
    import sys, time
    import jax
    jax.config.update("jax_enable_x64", True)
    import twoqs_jax as tq
    from twoqs_jax._sde import checkpoint as ckmod
    slow = sys.argv[2] == "slow"
    if slow:  # make every chunk slow enough to kill the process in the middle of the run
        save = ckmod.Checkpoint.save
        def slow_save(self, c, s):
            save(self, c, s)
            print(f"chunk {c}", flush=True)
            time.sleep(0.4)
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


def test_kill_and_resume_in_a_subprocess(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    ck = str(tmp_path / "ck.npz")
    env = {**os.environ, "XLA_FLAGS": ""}
    proc = subprocess.Popen(
        [sys.executable, str(script), ck, "slow"], stdout=subprocess.PIPE, text=True, env=env
    )
    # wait until two chunks are checkpointed, then kill the run hard
    deadline = time.time() + 240
    seen = 0
    while seen < 2 and time.time() < deadline:
        line = proc.stdout.readline()
        if line.startswith("chunk"):
            seen += 1
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert seen == 2 and os.path.exists(ck)
    with np.load(ck) as z:
        assert 2 <= int(z["next_chunk"]) < 6  # killed mid-way
    subprocess.run([sys.executable, str(script), ck, "fast"], check=True, env=env)
    ref = _run(_model())
    np.testing.assert_array_equal(np.load(ck + ".Sz.npy"), np.asarray(ref["Sz"]))
    np.testing.assert_array_equal(np.load(ck + ".varz_sem.npy"), np.asarray(ref.error("varz")))
