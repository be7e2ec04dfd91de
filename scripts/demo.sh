#!/usr/bin/env bash
# The main job: a driven-spin steady-state sweep by TWOQS against exact and mean field.
# Prints a table and writes a figure to demo_output/. Uses a GPU when JAX sees one.
#   bash scripts/demo.sh [--quick] [--out DIR]
source "$(dirname "$0")/_env.sh"
# one XLA device per CPU core, so that TWOQS shards its trajectories over the cores (a GPU,
# when JAX sees one, is used instead); keep any XLA_FLAGS the caller set
if [[ "${XLA_FLAGS:-}" != *device_count* ]]; then
  export XLA_FLAGS="${XLA_FLAGS:-} --xla_force_host_platform_device_count=$(nproc 2>/dev/null || echo 1)"
fi
exec .venv/bin/python -m twoqs_jax.cli demo "$@"
