"""Model layer: sites, graphs, Hamiltonian terms, jumps, initial states and presets."""
