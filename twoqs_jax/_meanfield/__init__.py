"""Mean-field and cumulant ODE systems derived from a SpinModel."""
