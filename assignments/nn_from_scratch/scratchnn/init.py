"""Weight initializers: Xavier (Glorot) and Kaiming (He).

Every initializer returns a fresh tensor of shape (Din, Dout) for a linear
layer (K is None) or (Dout, Din, K, K) for a convolution with K x K kernels.
"""
import torch


def weight_shape(Din, Dout, K=None):
    """(Din, Dout) for a linear layer, (Dout, Din, K, K) for a convolution."""
    return (Din, Dout) if K is None else (Dout, Din, K, K)


def fans(Din, Dout, K=None):
    """(fan_in, fan_out): the inputs feeding one output unit, and the outputs
    one input unit feeds. A K x K convolution sees K*K positions per channel."""
    receptive_field = 1 if K is None else K * K
    return Din * receptive_field, Dout * receptive_field


def xavier_uniform(Din, Dout, K=None, gain=1.0, device='cpu', dtype=torch.float32):
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)).

    Returns a tensor of shape weight_shape(Din, Dout, K).
    """
    # YOUR CODE HERE
    raise NotImplementedError("Implement xavier_uniform in scratchnn/init.py")
    return w


def xavier_normal(Din, Dout, K=None, gain=1.0, device='cpu', dtype=torch.float32):
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)).

    Returns a tensor of shape weight_shape(Din, Dout, K).
    """
    # YOUR CODE HERE
    raise NotImplementedError("Implement xavier_normal in scratchnn/init.py")
    return w


def kaiming_uniform(Din, Dout, K=None, relu=True, device='cpu', dtype=torch.float32):
    """U(-a, a) with a = sqrt(3 * g / fan_in); g = 2 before a ReLU, else 1.

    Returns a tensor of shape weight_shape(Din, Dout, K).
    """
    # YOUR CODE HERE
    raise NotImplementedError("Implement kaiming_uniform in scratchnn/init.py")
    return w


def kaiming_normal(Din, Dout, K=None, relu=True, device='cpu', dtype=torch.float32):
    """N(0, g / fan_in); g = 2 before a ReLU, else 1.

    Returns a tensor of shape weight_shape(Din, Dout, K).
    """
    # YOUR CODE HERE
    raise NotImplementedError("Implement kaiming_normal in scratchnn/init.py")
    return w


# The name EECS 498 uses for the same initializer.
kaiming_initializer = kaiming_normal
