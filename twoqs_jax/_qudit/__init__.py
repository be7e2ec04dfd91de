"""Qudit dissipative LMG model (paper 001): mean field for any d, fixed points, exact small N.

The public names live in :mod:`twoqs_jax.qudit`; :func:`twoqs_jax.solve` runs the mean field
and the exact steady state (:mod:`.solve`).
"""
