#!/usr/bin/env bash
# The main job: a driven-spin steady-state sweep by TWOQS against exact and mean field.
# Prints a table and writes a figure to demo_output/. Uses a GPU when JAX sees one.
#   bash scripts/demo.sh [--quick] [--out DIR]
source "$(dirname "$0")/_env.sh"
exec .venv/bin/python -m twoqs_jax.cli demo "$@"
