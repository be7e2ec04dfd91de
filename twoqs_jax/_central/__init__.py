"""Central spin and Tavis-Cummings models (papers 002 and 004): exact and cumulant solvers."""
