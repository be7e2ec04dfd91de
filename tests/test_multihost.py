"""Multi-host TWOQS through JAX's own runtime: two processes on this machine.

Each process calls ``jax.distributed.initialize`` (coordinator on localhost, gloo CPU
collectives) and owns two CPU devices; ``tq.solve(..., options=tq.Options(devices=jax.devices()))``
shards every chunk over the four global devices. Every process must get the result of a
one-device run with the same key (trajectory ``i``'s numbers depend on ``(key, i)`` only).
Marked slow: it starts two Python processes (about 15 s).
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

import twoqs_jax as tq

WORKER = r"""
import json, os, sys
import jax
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.distributed.initialize(coordinator_address=sys.argv[3], num_processes=int(sys.argv[2]),
                           process_id=int(sys.argv[1]))
import twoqs_jax as tq
sol = tq.solve(tq.driven_spin(20, 1.5), tq.spin_down(),
               tq.SteadyState(t_burn=2.0, t_avg=2.0, every=0.5),
               tq.TWOQS.paper(tq.EulerMaruyama(0.02)), n_traj=1024, key=3,
               observables=("Sz", "varz"),
               options=tq.Options(chunk_size=512, devices=jax.devices()))
print("RESULT " + json.dumps(dict(Sz=float(sol["Sz"][0]), sem=float(sol.sem["Sz"][0]),
                                  varz=float(sol["varz"][0]), n_devices=sol.stats["n_devices"],
                                  global_devices=len(jax.devices()),
                                  local_devices=len(jax.local_devices()))), flush=True)
"""


def _free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_shard_like_one_device(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = dict(
        os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu"
    )
    address = f"localhost:{_free_port()}"
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(i), "2", address],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
        line = [x for x in out.splitlines() if x.startswith("RESULT ")][-1]
        results.append(json.loads(line[len("RESULT ") :]))
    ref = tq.solve(
        tq.driven_spin(20, 1.5),
        tq.spin_down(),
        tq.SteadyState(t_burn=2.0, t_avg=2.0, every=0.5),
        tq.TWOQS.paper(tq.EulerMaruyama(0.02)),
        n_traj=1024,
        key=3,
        observables=("Sz", "varz"),
        options=tq.Options(chunk_size=512, shard=False),
    )
    for r in results:
        assert (r["global_devices"], r["local_devices"], r["n_devices"]) == (4, 2, 4)
        # same trajectories, merged in another order: equal to float64 round-off
        np.testing.assert_allclose(r["Sz"], float(ref["Sz"][0]), rtol=1e-12)
        np.testing.assert_allclose(r["sem"], float(ref.sem["Sz"][0]), rtol=1e-9)
        np.testing.assert_allclose(r["varz"], float(ref["varz"][0]), rtol=1e-12)
