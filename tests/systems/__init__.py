"""Reference systems with exact (QuTiP) solutions for the TWOQS tests."""
