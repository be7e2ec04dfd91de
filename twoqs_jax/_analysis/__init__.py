"""Fixed points, stability, classification, phase diagrams, boundaries and gradients."""
