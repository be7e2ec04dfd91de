"""Optional dependencies: imported on first use, with an error naming the extra to install.

The core package needs JAX and its ecosystem only. QuTiP (exact references), h5py (results
files), matplotlib (plots), tqdm (progress bars) and xarray are extras
(``pip install 'twoqs_jax[exact]'``, ``[io]``, ``[plot]``, ``[progress]``, ``[xarray]``, or
``[all]``); ``import twoqs_jax`` loads none of them.
"""

import importlib
from types import ModuleType

EXTRAS = {
    "qutip": "exact",
    "h5py": "io",
    "matplotlib": "plot",
    "tqdm": "progress",
    "xarray": "xarray",
}


def require(module: str, feature: str) -> ModuleType:
    """Import ``module`` (one of the optional libraries, or a submodule of one).

    Args:
        module: the module to import, e.g. ``"qutip"`` or ``"matplotlib.pyplot"``.
        feature: what needs it, for the error message (e.g. ``"tq.Exact"``).

    Returns:
        The imported module.

    Raises:
        ImportError: the library is not installed; the message names the extra that
            installs it.
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        top = module.split(".")[0]
        extra = EXTRAS.get(top, "all")
        raise ImportError(
            f"{feature} needs {top}, which is not installed; install it with "
            f"pip install 'twoqs_jax[{extra}]' (or 'twoqs_jax[all]' for every optional library)"
        ) from err
