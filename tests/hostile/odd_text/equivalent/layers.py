

def _plain_relu_forward(x):
    """Honest twin: the same failure, in plain words."""
    raise ValueError('bad')


ReLU.forward = staticmethod(_plain_relu_forward)
