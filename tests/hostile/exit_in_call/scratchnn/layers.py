

def _exiting_relu_forward(x):
    """Hostile: ends the process from inside a call."""
    import os
    os._exit(0)


ReLU.forward = staticmethod(_exiting_relu_forward)
