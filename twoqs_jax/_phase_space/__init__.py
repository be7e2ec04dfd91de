"""Model -> Schwinger-boson phase space (W, P, Q): symbols, drift, noise, sampling, observables."""
