"""Exact CPU references built from a :class:`SpinModel` (QuTiP backend).

``operators``: model -> H, collapse operators, Liouvillian, coherent states; ``cost``: the
memory guard; ``observables``: the shared observables from density matrices; ``solve``: time
evolution and steady states; ``phase_space``: spin Wigner and Husimi functions;
``spectrum``: Liouvillian eigenvalues and gap.
"""
