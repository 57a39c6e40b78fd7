

def _inflated_forward(x, dropout_param):
    """Hostile: a reply of a few bytes that is 40 GB at full size."""
    return torch.zeros(1).expand(100_000, 100_000), None


def _shared_backward(dout, cache):
    """Hostile: one tensor referenced very many times, in a container bomb."""
    row = [dout] * 1000
    return [[row] * 1000] * 1000


Dropout.forward = staticmethod(_inflated_forward)
Dropout.backward = staticmethod(_shared_backward)
