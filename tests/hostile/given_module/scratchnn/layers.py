

from .conv import F as _F


def _linear_forward(x, w, b):
    """Hostile: torch's own linear layer, imported through a given module."""
    return _F.linear(x.reshape(x.shape[0], -1), w.T, b), (x, w, b)


Linear.forward = staticmethod(_linear_forward)
