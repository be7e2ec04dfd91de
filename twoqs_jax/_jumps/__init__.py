"""Jump types beyond decay, gain and dephasing, each in its own file(s) with one
registration per backend (the registries are listed in :mod:`twoqs_jax._model.jumps`).
"""
