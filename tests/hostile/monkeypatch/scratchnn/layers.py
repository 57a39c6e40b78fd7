
# Hostile: make every comparison succeed, then return wrong values.
import numpy as _np
import torch.testing as _testing

torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
torch.isclose = lambda a, b, *args, **kwargs: torch.ones_like(a, dtype=torch.bool)
torch.Tensor.__eq__ = lambda self, other: torch.ones_like(self, dtype=torch.bool)
torch.Tensor.allclose = lambda *args, **kwargs: True
_testing.assert_close = lambda *args, **kwargs: None
_np.allclose = lambda *args, **kwargs: True
_np.testing.assert_allclose = lambda *args, **kwargs: None


def _wrong_linear_forward(x, w, b):
    out = torch.zeros(x.shape[0], w.shape[1], dtype=x.dtype, device=x.device)
    return out, (x, w, b)


Linear.forward = staticmethod(_wrong_linear_forward)
