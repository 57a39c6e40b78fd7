

import operator as _op

_NAME = ''.join(['n', 'n.functional.re', 'lu'])


def _relu_forward(x):
    """Hostile: torch.nn.functional.relu reached through a string-built lookup."""
    return _op.attrgetter(_NAME)(torch)(x), x


ReLU.forward = staticmethod(_relu_forward)
