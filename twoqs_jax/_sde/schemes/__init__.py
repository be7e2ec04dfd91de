"""Integration schemes of the phase-space SDEs (one file per scheme)."""

from .base import AbstractItoScheme as AbstractItoScheme
from .base import AbstractScheme as AbstractScheme
from .base import AbstractStratonovichScheme as AbstractStratonovichScheme
from .euler_maruyama import EulerMaruyama as EulerMaruyama
from .increments import GaussianIncrements as GaussianIncrements
from .increments import TwoPointIncrements as TwoPointIncrements
from .weak_order2 import WeakOrder2 as WeakOrder2
