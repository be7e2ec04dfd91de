"""The `twoqs` command line end to end on small problems (in-process, shared JIT cache)."""

import os

import numpy as np
import pytest

import twoqs_jax as tq
from twoqs_jax._sde import checkpoint as ckmod
from twoqs_jax.cli import demo, main

CONFIG = """
[model]
preset = "driven_spin"
S = 5
Omega = 0.8
[method]
name = "{method}"
t_final = 0.5
n_save = 3
dt = 0.01
n_traj = 40
chunk_size = 10
key = 3
precision = "float64"
"""


def _write(tmp_path, text, name="c.toml"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_run_writes_self_describing_results(tmp_path, capsys):
    cfg = _write(tmp_path, CONFIG.format(method="twa"))
    out = str(tmp_path / "r.h5")
    assert main(["run", cfg, "--out", out, "--quiet"]) == 0
    res = tq.load(out)
    assert res.meta["method"] == "twa"
    assert res.meta["settings"]["n_traj"] == 40 and res.meta["settings"]["key"] == 3
    assert res.meta["description"]["preset"] == "driven_spin"
    assert res.solution.stats["n_traj"] == 40 and "clip_fraction" in res.solution.stats
    np.testing.assert_allclose(res.coords["time"], [0, 0.25, 0.5])
    assert res.solution["Sz"].shape == (3, 1) and res.solution.error("Sz").shape == (3, 1)
    np.testing.assert_allclose(res.model.field[0, 0], 0.8)
    assert not os.path.exists(out + ".checkpoint.npz")  # removed after a finished run
    # an existing output is refused with exit code 2 and left untouched
    before = os.path.getmtime(out)
    assert main(["run", cfg, "--out", out]) == 2
    assert "exists" in capsys.readouterr().err
    assert os.path.getmtime(out) == before


def test_killed_run_resumes_bit_for_bit(tmp_path, monkeypatch, capsys):
    cfg = _write(tmp_path, CONFIG.format(method="twa"))
    ref = str(tmp_path / "ref.h5")
    assert main(["run", cfg, "--out", ref, "--quiet"]) == 0
    out = str(tmp_path / "killed.h5")
    save = ckmod.Checkpoint.save

    def dying_save(self, merger):
        save(self, merger)
        if merger.next_block == 20:
            raise KeyboardInterrupt  # the run is killed after two of four chunks

    monkeypatch.setattr(ckmod.Checkpoint, "save", dying_save)
    assert main(["run", cfg, "--out", out, "--quiet"]) == 130
    monkeypatch.setattr(ckmod.Checkpoint, "save", save)
    assert not os.path.exists(out) and os.path.exists(out + ".checkpoint.npz")
    # a fresh run does not replace the checkpoint of the killed run (old main: it did)
    ck = out + ".checkpoint.npz"
    with open(ck, "rb") as f:
        before = f.read()
    assert main(["run", cfg, "--out", out, "--quiet"]) == 2
    assert "--resume" in capsys.readouterr().err
    with open(ck, "rb") as f:
        assert f.read() == before
    assert main(["run", cfg, "--out", out, "--resume", "--quiet"]) == 0
    a, b = tq.load(ref).solution, tq.load(out).solution
    for name in a.mean:
        np.testing.assert_array_equal(a.mean[name], b.mean[name])
        np.testing.assert_array_equal(a.sem[name], b.sem[name])


def test_sweep_meanfield_and_exact(tmp_path):
    text = CONFIG.format(method="meanfield") + (
        '[sweep]\nparameter = "Omega"\nvalues = [0.3, 0.6]\n'
    )
    cfg = _write(tmp_path, text)
    out = str(tmp_path / "s.h5")
    assert main(["sweep", cfg, "--out", out]) == 0
    res = tq.load(out)
    np.testing.assert_allclose(res.coords["Omega"], [0.3, 0.6])
    assert res.solution["Sz"].shape == (2, 3, 1)
    assert res.dims["Sz"] == ["Omega", "time", "site"]
    cfg2 = _write(tmp_path, CONFIG.format(method="exact"), "e.toml")
    assert main(["run", cfg2, "--out", str(tmp_path / "e.h5")]) == 0
    assert tq.load(tmp_path / "e.h5").solution["Sz"].shape == (3, 1)
    # `sweep` without a [sweep] section is bad input
    assert main(["sweep", cfg2, "--out", str(tmp_path / "x.h5")]) == 2


@pytest.mark.parametrize(
    "text, needle",
    [
        (
            '[model]\npreset = "driven_spin"\nS = 5\nOmega = 1\nfoo = 2\n[method]\nt_final = 1\n',
            "model.foo",
        ),
        (
            '[model]\npreset = "driven_spin"\nS = 5\nOmega = 1\nGamma = -1\n[method]\nname = "exact"\nt_final = 1\n',
            "Gamma",
        ),
        (
            '[model]\npreset = "driven_spin"\nS = 5\nOmega = 1\n[method]\nt_final = "x"\n',
            "method.t_final",
        ),
    ],
)
def test_bad_config_exit_code_2(tmp_path, capsys, text, needle):
    cfg = _write(tmp_path, text)
    assert main(["run", cfg, "--out", str(tmp_path / "o.h5")]) == 2
    assert needle in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "o.h5")


def test_config_error_is_reported_before_jax_loads(tmp_path):
    """`twoqs run bad.toml` reads and checks the file before importing JAX or the package's
    heavy parts (what it imports is checked, not how long it takes).
    """
    import subprocess
    import sys

    bad = _write(tmp_path, '[model]\npreset = "driven_spin"\nS = 5\nOmega = 1\nfoo = 2\n')
    code = (
        "import sys\n"
        "from twoqs_jax.cli import main\n"
        f"rc = main(['run', {bad!r}, '--out', {str(tmp_path / 'o.h5')!r}])\n"
        "heavy = ('jax', 'jaxlib', 'numpy', 'equinox', 'diffrax', 'scipy', 'qutip', 'h5py')\n"
        "print(rc, sorted(m for m in heavy if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.stdout.split("\n")[0] == "2 []", proc.stdout + proc.stderr
    assert "model.foo" in proc.stderr


def test_resume_refuses_other_config(tmp_path):
    cfg = _write(tmp_path, CONFIG.format(method="twa"))
    out = str(tmp_path / "o.h5")
    # no checkpoint to resume from
    assert main(["run", cfg, "--out", out, "--resume"]) == 2
    ck = ckmod.Checkpoint(out + ".checkpoint.npz")
    ck.fingerprint = {"config": {}, "arrays": {}, "key": None, "version": "0"}
    from twoqs_jax._sde.statistics import BlockMerger

    ck.save(BlockMerger(2))
    assert main(["run", cfg, "--out", out, "--resume"]) == 2


def test_info_and_demo_quick(tmp_path, capsys):
    assert main(["info"]) == 0
    assert "twoqs_jax" in capsys.readouterr().out
    # The README's main job, in its quick mode: every number it prints is checked here.
    r = demo(quick=True, out=str(tmp_path / "demo"), verbose=False)
    assert os.path.getsize(r["png"]) > 10_000
    res = tq.load(r["h5"])
    np.testing.assert_allclose(res.coords["Omega"], r["omegas"])
    # below the transition (Omega < Gamma) TWOQS agrees with exact within 4 s.e. plus a
    # bias budget of 0.03 (O(1/S) at S = 20: measured 0.005 here, 0.02 at Omega = 0.75)
    below = r["omegas"] < 1
    assert np.all(np.abs(r["twa_z"] - r["exact_z"])[below] < 4 * r["twa_z_err"][below] + 0.03)
    # and exact approaches mean field there to O(1/S)
    assert np.all(np.abs(r["exact_z"] - r["mf_z"])[below] < 0.02)


def test_exit_codes_and_preflight(tmp_path, capsys, monkeypatch):
    """User errors exit 2 with one line, before any work; internal errors exit 1 with a
    short message (the traceback only with --debug). Old main: RuntimeError, OSError and
    BadZipFile ended in tracebacks; the output path was checked only at save.
    """
    import twoqs_jax.cli as cli

    cfg = _write(tmp_path, CONFIG.format(method="meanfield"))
    blocker = tmp_path / "file"
    blocker.write_text("")
    calls = []
    monkeypatch.setattr(cli, "_execute", lambda *a, **k: calls.append(1) or 1 / 0)
    # an output path that cannot be written: refused before any work
    assert main(["run", cfg, "--out", str(blocker / "o.h5")]) == 2
    err = capsys.readouterr().err
    assert "output" in err and "cannot be written" in err and len(err.splitlines()) == 1
    assert calls == []
    # an internal error: exit 1, short, no traceback; --debug shows it
    assert main(["run", cfg, "--out", str(tmp_path / "o.h5")]) == 1
    err = capsys.readouterr().err
    assert "internal error: ZeroDivisionError" in err and "--debug" in err
    assert "Traceback" not in err and len(err.splitlines()) == 1
    with pytest.raises(ZeroDivisionError):
        main(["--debug", "run", cfg, "--out", str(tmp_path / "o.h5")])
    with pytest.raises(ZeroDivisionError):
        main(["run", cfg, "--out", str(tmp_path / "o.h5"), "--debug"])


def test_damaged_checkpoint_and_results_named(tmp_path, capsys):
    cfg = _write(tmp_path, CONFIG.format(method="twa"))
    out = str(tmp_path / "o.h5")
    ck = out + ".checkpoint.npz"
    with open(ck, "wb") as f:
        f.write(b"PK\x03\x04 not really a zip")
    assert main(["run", cfg, "--out", out, "--resume"]) == 2
    err = capsys.readouterr().err
    assert ck in err and "damaged" in err and len(err.splitlines()) == 1
    with pytest.raises(ValueError, match="results file .*bad.h5.* damaged"):
        (tmp_path / "bad.h5").write_text("no hdf5 here")
        tq.load(tmp_path / "bad.h5")
