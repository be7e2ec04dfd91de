"""Spin lattices: linearised (Holstein-Primakoff) theory, correlation functions, chain edges."""
